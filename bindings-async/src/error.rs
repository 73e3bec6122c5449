//! The one error a send through bearerflow can end in.

use bearerflow::session::RequestError;
use std::fmt;

/// Why [`Client::send`](crate::Client::send) returned no response.
///
/// No variant holds a token: `detail` is the session's
/// [`last_error`](bearerflow::session::Session::last_error) text, which never contains a
/// secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The session ended the request (`Action::Fail`): no usable credential could be
    /// had. `error` is the machine's typed reason; `detail` says what went wrong
    /// underneath (which endpoint, which OAuth error), when known.
    Auth {
        /// The machine's reason.
        error: RequestError,
        /// The detailed cause, from `Session::last_error` (or the header helper's
        /// failure as the host saw it).
        detail: Option<String>,
    },
    /// The request to the resource failed below HTTP (connect, I/O, timeout).
    Http(reqwest::Error),
    /// The request body is a stream: it cannot be buffered, so it could not be sent
    /// again after a refresh. Send a body of bytes instead.
    BodyNotReplayable,
    /// A credential header could not be put on the request (its name or value is not
    /// valid in HTTP). The value is not shown.
    InvalidHeader {
        /// The header name.
        name: String,
    },
    /// The driver task is gone (its runtime shut down).
    DriverGone,
}

impl Error {
    /// The machine's reason, when the session failed the request.
    pub fn request_error(&self) -> Option<RequestError> {
        match self {
            Error::Auth { error, .. } => Some(*error),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Auth {
                error,
                detail: Some(d),
            } => write!(f, "{error} ({}): {d}", error.code()),
            Error::Auth {
                error,
                detail: None,
            } => write!(f, "{error} ({})", error.code()),
            Error::Http(e) => write!(f, "request to the resource failed: {e}"),
            Error::BodyNotReplayable => {
                f.write_str("the request body is a stream and cannot be sent again after a refresh")
            }
            Error::InvalidHeader { name } => {
                write!(f, "credential header {name:?} is not a valid HTTP header")
            }
            Error::DriverGone => f.write_str("the bearerflow driver task has stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Auth { error, .. } => Some(error),
            Error::Http(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_errors_name_code_and_detail() {
        let e = Error::Auth {
            error: RequestError::ReauthorizationRequired,
            detail: Some("token endpoint error: invalid_grant".into()),
        };
        let text = e.to_string();
        assert!(text.contains("reauthorization_required"), "{text}");
        assert!(text.contains("invalid_grant"), "{text}");
        assert_eq!(
            e.request_error(),
            Some(RequestError::ReauthorizationRequired)
        );
        assert_eq!(Error::DriverGone.request_error(), None);
    }
}
