//! OAuth 2.1 messages as pure functions.
