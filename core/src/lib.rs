//! bearerflow: keep an OAuth 2.1 bearer-token client authorized for the whole life of a
//! session.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod challenge;
pub mod http;
pub mod oauth;
pub mod secret;
pub mod time;
