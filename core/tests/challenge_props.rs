//! Properties of rendering and parsing challenges, through the public API only.

use bearerflow::challenge::{
    parse, parse_authorization_bearer, render, render_authorization_bearer, render_token68,
    BearerChallenge, BearerError, Mode, RenderErrorKind,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

/// Distinct (case-insensitively) names with arbitrary values.
fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![any::<String>(), "[ -~\t]{0,40}", r#"[a-z"\\, =]{0,20}"#,];
    proptest::collection::vec((name(), value), 0..8).prop_map(|mut v| {
        let mut seen: Vec<String> = Vec::new();
        v.retain(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            let fresh = !seen.contains(&lower);
            seen.push(lower);
            fresh
        });
        v
    })
}

fn representable(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

proptest! {
    #[test]
    fn render_then_parse_gives_back_the_params(scheme in name(), params in params()) {
        let borrowed: Vec<(&str, &str)> =
            params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let rendered = render(&scheme, &borrowed);
        if !params.iter().all(|(_, v)| representable(v)) {
            let kind = rendered.map_err(|e| e.kind);
            prop_assert!(
                matches!(kind, Err(RenderErrorKind::ControlCharacter | RenderErrorKind::NonAscii)),
                "{kind:?}"
            );
            return Ok(());
        }
        let rendered = rendered.map_err(|e| TestCaseError::fail(e.to_string()))?;
        for mode in [Mode::Strict, Mode::Lenient] {
            let mut it = parse(&rendered, mode);
            let c = it.next();
            prop_assert!(it.next().is_none(), "{rendered}");
            let c = match c {
                Some(Ok(c)) => c,
                other => return Err(TestCaseError::fail(format!("{rendered}: {other:?}"))),
            };
            prop_assert_eq!(c.scheme(), scheme.as_str());
            prop_assert!(c.token68().is_none());
            prop_assert!(c.tolerated().is_empty());
            let back: Vec<(String, String)> =
                c.params().map(|p| (p.name().to_string(), p.to_string_value())).collect();
            prop_assert_eq!(&back, &params);
        }
    }

    #[test]
    fn token68_round_trips(scheme in name(), token in "[A-Za-z0-9._~+/-]{1,30}={0,3}") {
        let rendered = render_token68(&scheme, &token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = parse(&rendered, Mode::Strict).next();
        prop_assert_eq!(c.and_then(Result::ok).and_then(|c| c.token68()), Some(token.as_str()));
    }

    #[test]
    fn bearer_view_round_trips(
        realm in proptest::option::of("[ -~]{0,20}"),
        error in proptest::option::of(prop_oneof![
            Just(BearerError::InvalidRequest),
            Just(BearerError::InvalidToken),
            Just(BearerError::InsufficientScope),
            "[a-z_]{1,12}".prop_map(|s| BearerError::from_code(&s)),
        ]),
        error_description in proptest::option::of("[ -~]{0,30}"),
        error_uri in proptest::option::of("https://[a-z.]{1,10}/[a-z/]{0,10}"),
        scope in proptest::option::of("[a-z:]{1,8}( [a-z:]{1,8}){0,3}"),
        resource_metadata in proptest::option::of("https://[a-z.]{1,10}/[a-z/.-]{0,20}"),
    ) {
        let b = BearerChallenge { realm, error, error_description, error_uri, scope, resource_metadata };
        let rendered = b.render().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c = parse(&rendered, Mode::Strict).next().and_then(Result::ok);
        let back = c.map(|c| BearerChallenge::from_challenge(&c));
        prop_assert_eq!(back, Some(Ok(b)));
    }

    #[test]
    fn authorization_round_trips(token in "[A-Za-z0-9._~+/-]{1,40}={0,2}", spaces in 1usize..4) {
        let rendered = render_authorization_bearer(&token).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parse_authorization_bearer(&rendered), Ok(token.as_str()));
        let wide = format!("bEaReR{}{token}", " ".repeat(spaces));
        prop_assert_eq!(parse_authorization_bearer(&wide), Ok(token.as_str()));
    }

    #[test]
    fn authorization_never_panics(value in any::<String>()) {
        let _ = parse_authorization_bearer(&value);
        let _ = render_authorization_bearer(&value);
    }
}
