//! Client identity, and how the client authenticates at the token endpoint.
//!
//! RFC 6749 §2.3.1 defines two ways for a client with a secret to authenticate:
//! HTTP Basic (`client_secret_basic`, which servers MUST support) and credentials in the
//! form body (`client_secret_post`, NOT RECOMMENDED). A public client (`none`, RFC 7591
//! §2) has no secret and only names itself with `client_id` (RFC 6749 §3.2.1).

use super::form;
use crate::http::Header;
use crate::secret::Secret;
use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine as _;
use core::fmt;
use core::str::FromStr;
use zeroize::Zeroize;

/// How the client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`, RFC 8414 §2 `token_endpoint_auth_methods_supported`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ClientAuthMethod {
    /// `none`: a public client; `client_id` goes in the body, no secret.
    #[serde(rename = "none")]
    None,
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret
    /// (RFC 6749 §2.3.1).
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The registered name (RFC 7591 §2).
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    /// Pick the method to use with a server.
    ///
    /// - Without a secret the client is public: [`ClientAuthMethod::None`].
    /// - With a secret and no `token_endpoint_auth_methods_supported` list (empty
    ///   slice), RFC 8414 §2 says the default is `client_secret_basic`.
    /// - Otherwise the first of `client_secret_basic` (preferred: RFC 6749 §2.3.1 makes
    ///   it mandatory to implement and discourages the body form), `client_secret_post`,
    ///   `none` that the server lists.
    /// - If the server lists none of the three (say only `private_key_jwt`), this
    ///   falls back to `client_secret_basic`, the method every server must accept.
    ///
    /// ```
    /// use bearerflow::oauth::ClientAuthMethod;
    /// let listed = ["client_secret_post".to_string()];
    /// assert_eq!(ClientAuthMethod::choose(true, &listed), ClientAuthMethod::ClientSecretPost);
    /// assert_eq!(ClientAuthMethod::choose(true, &[]), ClientAuthMethod::ClientSecretBasic);
    /// assert_eq!(ClientAuthMethod::choose(false, &listed), ClientAuthMethod::None);
    /// ```
    pub fn choose(has_secret: bool, server_supported: &[String]) -> ClientAuthMethod {
        if !has_secret {
            return ClientAuthMethod::None;
        }
        let listed = |m: ClientAuthMethod| server_supported.iter().any(|s| s == m.as_str());
        [
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::None,
        ]
        .into_iter()
        .find(|m| listed(*m))
        .unwrap_or(ClientAuthMethod::ClientSecretBasic)
    }
}

impl fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `token_endpoint_auth_method` this crate does not implement (for example
/// `private_key_jwt` or `tls_client_auth`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAuthMethod(pub String);

impl fmt::Display for UnknownAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported token endpoint auth method \"{}\" (supported: none, client_secret_basic, client_secret_post)",
            crate::text::Sanitized::quoted(&self.0)
        )
    }
}

impl core::error::Error for UnknownAuthMethod {}

impl FromStr for ClientAuthMethod {
    type Err = UnknownAuthMethod;

    /// Parse a registered name; names are case-sensitive (RFC 7591 §2).
    fn from_str(s: &str) -> Result<ClientAuthMethod, UnknownAuthMethod> {
        match s {
            "none" => Ok(ClientAuthMethod::None),
            "client_secret_basic" => Ok(ClientAuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(ClientAuthMethod::ClientSecretPost),
            other => Err(UnknownAuthMethod(String::from(other))),
        }
    }
}

/// What the client knows about itself: the outcome of registration (RFC 7591 §3.2.1)
/// or of static configuration. Serializable so a host can persist it; the secret is
/// serialized in clear (storage is the host's job) but never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRegistration {
    /// The client identifier (RFC 6749 §2.2).
    pub client_id: String,
    /// The client secret, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// How to authenticate at the token endpoint.
    pub auth_method: ClientAuthMethod,
    /// When the secret expires, in unix seconds; `None` when it does not (RFC 7591
    /// §3.2.1 uses `0` for "never", which is mapped to `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<u64>,
}

impl ClientRegistration {
    /// A public client (`none`): no secret.
    pub fn public(client_id: impl Into<String>) -> ClientRegistration {
        ClientRegistration {
            client_id: client_id.into(),
            client_secret: None,
            auth_method: ClientAuthMethod::None,
            client_secret_expires_at: None,
        }
    }

    /// A confidential client with a secret and the given method.
    pub fn confidential(
        client_id: impl Into<String>,
        client_secret: Secret,
        auth_method: ClientAuthMethod,
    ) -> ClientRegistration {
        ClientRegistration {
            client_id: client_id.into(),
            client_secret: Some(client_secret),
            auth_method,
            client_secret_expires_at: None,
        }
    }

    /// Whether the secret has expired at `now_unix_secs` (RFC 7591 §3.2.1); a client
    /// with an expired secret must register again.
    pub fn secret_expired(&self, now_unix_secs: u64) -> bool {
        matches!(self.client_secret_expires_at, Some(t) if now_unix_secs >= t)
    }

    /// How this client's credentials go into a token request: extra form pairs and, for
    /// HTTP Basic, an `Authorization` header.
    ///
    /// A `client_secret_basic` or `client_secret_post` registration without a secret
    /// degrades to the public form (`client_id` in the body): there is nothing else to
    /// send, and the server's `invalid_client` answer is clearer than a local error.
    pub(crate) fn authentication(&self) -> ClientAuth<'_> {
        match (self.auth_method, &self.client_secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => ClientAuth {
                pairs: Vec::new(),
                header: Some(basic_authorization(&self.client_id, secret)),
            },
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => ClientAuth {
                pairs: alloc::vec![
                    ("client_id", self.client_id.as_str()),
                    ("client_secret", secret.expose()),
                ],
                header: None,
            },
            _ => ClientAuth {
                pairs: alloc::vec![("client_id", self.client_id.as_str())],
                header: None,
            },
        }
    }
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_method", &self.auth_method)
            .field("client_secret_expires_at", &self.client_secret_expires_at)
            .finish()
    }
}

/// Client credentials ready to attach to a token request.
pub(crate) struct ClientAuth<'a> {
    /// Form pairs to append to the body.
    pub(crate) pairs: Vec<(&'static str, &'a str)>,
    /// An `Authorization: Basic` header.
    pub(crate) header: Option<Header>,
}

/// `Authorization: Basic base64(form(id) ":" form(secret))` (RFC 6749 §2.3.1: the id and
/// secret are form-encoded before Basic encoding, so a `:` in either survives).
///
/// Every intermediate buffer is sized up front and zeroized.
fn basic_authorization(client_id: &str, secret: &Secret) -> Header {
    let mut creds = String::with_capacity(
        form::encoded_len(client_id) + 1 + form::encoded_len(secret.expose()),
    );
    form::encode_into(&mut creds, client_id);
    creds.push(':');
    form::encode_into(&mut creds, secret.expose());
    const PREFIX: &str = "Basic ";
    let b64_len = creds.len().div_ceil(3) * 4;
    let mut value = String::with_capacity(PREFIX.len() + b64_len);
    value.push_str(PREFIX);
    base64::engine::general_purpose::STANDARD.encode_string(creds.as_bytes(), &mut value);
    creds.zeroize();
    Header::new("Authorization", Secret::from(value))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn rfc6749_section_2_3_1_basic_example() {
        // RFC 6749 §2.3.1: client_id s6BhdRkqt3, secret gX1fBat3bV.
        let h = basic_authorization("s6BhdRkqt3", &Secret::new("gX1fBat3bV"));
        assert_eq!(h.name, "Authorization");
        assert_eq!(h.value.expose(), "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    }

    #[test]
    fn basic_form_encodes_before_base64() {
        let h = basic_authorization("id:with space", &Secret::new("p@ss:w/rd"));
        let b64 = h.value.expose().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(raw, b"id%3Awith+space:p%40ss%3Aw%2Frd");
    }

    #[test]
    fn auth_method_names_parse_and_serialize() {
        for m in [
            ClientAuthMethod::None,
            ClientAuthMethod::ClientSecretBasic,
            ClientAuthMethod::ClientSecretPost,
        ] {
            assert_eq!(m.as_str().parse::<ClientAuthMethod>(), Ok(m));
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<ClientAuthMethod>(&json).unwrap(), m);
        }
        let err = "private_key_jwt".parse::<ClientAuthMethod>().unwrap_err();
        assert_eq!(err, UnknownAuthMethod("private_key_jwt".into()));
        assert!(err.to_string().contains("private_key_jwt"));
        assert!("Client_Secret_Basic".parse::<ClientAuthMethod>().is_err());
    }

    #[test]
    fn choose_follows_rfc8414_defaults() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(ClientAuthMethod::choose(false, &[]), ClientAuthMethod::None);
        assert_eq!(
            ClientAuthMethod::choose(false, &s(&["client_secret_basic"])),
            ClientAuthMethod::None
        );
        assert_eq!(
            ClientAuthMethod::choose(true, &[]),
            ClientAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            ClientAuthMethod::choose(true, &s(&["client_secret_post", "client_secret_basic"])),
            ClientAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            ClientAuthMethod::choose(true, &s(&["private_key_jwt", "client_secret_post"])),
            ClientAuthMethod::ClientSecretPost
        );
        assert_eq!(
            ClientAuthMethod::choose(true, &s(&["none"])),
            ClientAuthMethod::None
        );
        assert_eq!(
            ClientAuthMethod::choose(true, &s(&["private_key_jwt"])),
            ClientAuthMethod::ClientSecretBasic
        );
    }

    #[test]
    fn registration_debug_redacts_and_serde_round_trips() {
        let reg = ClientRegistration::confidential(
            "cid",
            Secret::new("super-secret-value"),
            ClientAuthMethod::ClientSecretPost,
        );
        let dbg = format!("{reg:?}");
        assert!(!dbg.contains("super-secret-value"), "{dbg}");
        assert!(dbg.contains("cid"));
        let json = serde_json::to_string(&reg).unwrap();
        assert!(json.contains("\"auth_method\":\"client_secret_post\""));
        let back: ClientRegistration = serde_json::from_str(&json).unwrap();
        assert_eq!(back, reg);
        let public: ClientRegistration =
            serde_json::from_str(r#"{"client_id":"p","auth_method":"none"}"#).unwrap();
        assert_eq!(public, ClientRegistration::public("p"));
    }

    #[test]
    fn secret_expiry() {
        let mut reg = ClientRegistration::public("p");
        assert!(!reg.secret_expired(u64::MAX));
        reg.client_secret_expires_at = Some(100);
        assert!(!reg.secret_expired(99));
        assert!(reg.secret_expired(100));
    }

    #[test]
    fn authentication_forms() {
        let public = ClientRegistration::public("pub");
        let a = public.authentication();
        assert_eq!(a.pairs, alloc::vec![("client_id", "pub")]);
        assert!(a.header.is_none());

        let post = ClientRegistration::confidential(
            "c",
            Secret::new("s"),
            ClientAuthMethod::ClientSecretPost,
        );
        let a = post.authentication();
        assert_eq!(
            a.pairs,
            alloc::vec![("client_id", "c"), ("client_secret", "s")]
        );

        let basic = ClientRegistration::confidential(
            "c",
            Secret::new("s"),
            ClientAuthMethod::ClientSecretBasic,
        );
        let a = basic.authentication();
        assert!(a.pairs.is_empty());
        assert!(a.header.is_some());

        let mut no_secret = basic.clone();
        no_secret.client_secret = None;
        assert_eq!(
            no_secret.authentication().pairs,
            alloc::vec![("client_id", "c")]
        );
    }
}
