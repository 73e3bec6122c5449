//! The one error a send through bearerflow can end in.

use crate::limits::LimitExceeded;
use bearerflow::session::RequestError;
use bearerflow::text::Sanitized;
use std::fmt;

/// The longest `detail` an [`Error::Auth`] shows, in bytes (it quotes the session's
/// error text, which quotes servers).
const MAX_DETAIL: usize = 4 * bearerflow::text::MAX_QUOTED;

/// A redirect the resource client refused to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectRefused {
    /// The redirect leads to another origin (RFC 6454): the request carries the
    /// session's credential, which must not go anywhere but the resource it was
    /// issued for (RFC 6750 §5.3, RFC 8707), so it is not followed. This also refuses
    /// a switch from `https` to plain `http` on the same host.
    CrossOrigin {
        /// The origin the request went to.
        from: String,
        /// The origin the `Location` named.
        to: String,
    },
    /// More redirects in a row than the resource client follows.
    TooMany {
        /// How many it follows.
        max: usize,
    },
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectRefused::CrossOrigin { from, to } => write!(
                f,
                "refused a redirect from {} to another origin, {}: the request carries credentials",
                Sanitized::quoted(from),
                Sanitized::quoted(to)
            ),
            RedirectRefused::TooMany { max } => {
                write!(f, "refused to follow more than {max} redirects in a row")
            }
        }
    }
}

impl std::error::Error for RedirectRefused {}

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
    /// The request to the resource failed below HTTP (connect, I/O, a response head
    /// too large to read). The message names the cause from the whole error chain.
    Http(reqwest::Error),
    /// The response exceeded a [`Policy`](bearerflow::policy::Policy) limit: which one,
    /// its value, and where.
    Limit(LimitExceeded),
    /// The resource answered with a redirect the client does not follow.
    Redirect(RedirectRefused),
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
    /// The error for a failed `reqwest` call on a resource request, or a failed read of
    /// its body: [`Error::Limit`] or [`Error::Redirect`] when one of bearerflow's
    /// checks is in the chain, else [`Error::Http`].
    pub fn from_reqwest(error: reqwest::Error) -> Error {
        if let Some(limit) = LimitExceeded::find(&error) {
            return Error::Limit(limit.clone());
        }
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(e) = next {
            if let Some(r) = e.downcast_ref::<RedirectRefused>() {
                return Error::Redirect(r.clone());
            }
            next = e.source();
        }
        Error::Http(error)
    }

    /// A stable snake_case code for this error: the session's
    /// [`RequestError::code`] for [`Error::Auth`], the limit's name for
    /// [`Error::Limit`], otherwise the variant's.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Auth { error, .. } => error.code(),
            Error::Http(_) => "http",
            Error::Limit(l) => l.limit.code(),
            Error::Redirect(_) => "redirect_refused",
            Error::BodyNotReplayable => "body_not_replayable",
            Error::InvalidHeader { .. } => "invalid_header",
            Error::DriverGone => "driver_gone",
        }
    }

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
            } => write!(
                f,
                "{error} ({}): {}",
                error.code(),
                Sanitized::new(d, MAX_DETAIL)
            ),
            Error::Auth {
                error,
                detail: None,
            } => write!(f, "{error} ({})", error.code()),
            Error::Http(e) => {
                // reqwest's own message ("error sending request for url") hides the
                // cause; the chain below it names it ("message head is too large").
                write!(f, "request to the resource failed: {e}")?;
                let mut next = std::error::Error::source(e);
                while let Some(cause) = next {
                    write!(f, ": {}", Sanitized::quoted(&cause.to_string()))?;
                    next = cause.source();
                }
                Ok(())
            }
            Error::Limit(l) => write!(f, "{l}"),
            Error::Redirect(r) => write!(f, "{r}"),
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
            Error::Limit(l) => Some(l),
            Error::Redirect(r) => Some(r),
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

    #[test]
    fn auth_detail_is_sanitized_and_capped() {
        let e = Error::Auth {
            error: RequestError::AuthorizationFailed,
            detail: Some(format!(
                "authorization denied: x\u{1b}]0;owned\u{7}{}",
                "y".repeat(5000)
            )),
        };
        let text = e.to_string();
        assert!(bearerflow::text::is_safe(&text), "{text:?}");
        assert!(text.contains("\\u{1b}]0;owned"), "{text}");
        assert!(text.len() < MAX_DETAIL + 200, "{}", text.len());
        assert_eq!(e.code(), RequestError::AuthorizationFailed.code());
    }
}
