//! `WWW-Authenticate` and `Authorization` headers (RFC 9110 §11.6.1, RFC 6750).
