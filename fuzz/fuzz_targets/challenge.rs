//! Fuzz `WWW-Authenticate` parsing: no input may panic, in either mode; what parses
//! must give the same Bearer view and, once rendered, parse back to the same
//! challenge; several lines (split at `\n`) must read like their join by ", ".
#![no_main]

use bearerflow::challenge::{
    parse, parse_authorization_bearer, parse_bytes, parse_lines, render,
    render_authorization_bearer, render_token68, BearerChallenge, Challenge, Mode, RenderErrorKind,
};

type Owned = (String, Option<String>, Vec<(String, String)>);

fn owned(c: &Challenge<'_>) -> Owned {
    let params = c
        .params()
        .map(|p| (p.name().to_string(), p.to_string_value()))
        .collect();
    (
        c.scheme().to_string(),
        c.token68().map(String::from),
        params,
    )
}

fn collect(it: bearerflow::challenge::Challenges<'_>) -> Result<Vec<Owned>, (usize, String)> {
    it.map(|c| {
        c.map(|c| owned(&c))
            .map_err(|e| (e.offset, e.kind.code().to_string()))
    })
    .collect()
}

fn round_trip(c: &Challenge<'_>) {
    let (scheme, token68, params) = owned(c);
    let rendered = match token68 {
        Some(t) => render_token68(&scheme, &t),
        None => {
            let borrowed: Vec<(&str, &str)> = params
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            render(&scheme, &borrowed)
        }
    };
    match rendered {
        Ok(text) => {
            let back = collect(parse(&text, Mode::Strict));
            assert_eq!(back, Ok(vec![owned(c)]), "{text}");
        }
        // Lenient parses may hold a repeated name; quoted-strings may hold obs-text.
        Err(e) => assert!(
            matches!(
                e.kind,
                RenderErrorKind::DuplicateParam | RenderErrorKind::NonAscii
            ),
            "{e}"
        ),
    }
    if c.is_scheme("bearer") {
        if let Ok(b) = BearerChallenge::from_challenge(c) {
            if let Ok(text) = b.render() {
                let again = parse(&text, Mode::Strict).next().and_then(Result::ok);
                let view = again.map(|c| BearerChallenge::from_challenge(&c));
                assert_eq!(view, Some(Ok(b)), "{text}");
            }
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for mode in [Mode::Strict, Mode::Lenient] {
        let Ok(it) = parse_bytes(data, mode) else {
            continue;
        };
        for c in it {
            let Ok(c) = c else { break };
            let mut buf = [0u8; 64];
            for p in c.params() {
                let _ = p.unescape_into(&mut buf);
                let _ = p.value_into::<32>();
                assert_eq!(p.unescaped_len(), p.to_string_value().len());
            }
            round_trip(&c);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let lines: Vec<&str> = text.split('\n').collect();
        for mode in [Mode::Strict, Mode::Lenient] {
            let by_lines = collect(parse_lines(&lines, mode));
            if by_lines.is_ok() {
                let joined = lines.join(", ");
                assert_eq!(by_lines, collect(parse(&joined, mode)), "{joined:?}");
            }
        }
        let _ = bearerflow::challenge::find_bearer(&lines);
        if let Ok(token) = parse_authorization_bearer(text) {
            let rendered = render_authorization_bearer(token);
            assert_eq!(
                rendered.as_deref().map(parse_authorization_bearer),
                Ok(Ok(token))
            );
        }
    }
});
