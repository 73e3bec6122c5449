//! Nothing here: the crate exists for its test (`tests/plain_client.rs`), a program that
//! depends on bearerflow-async and builds its own reqwest client without any setup.
