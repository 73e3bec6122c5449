//! Behaviour tests of the loopback testbed, one module per behaviour, linked into one
//! test binary to keep build time down on small machines.

mod common;

mod authorization_flow;
mod background;
mod bearer_layer;
mod challenges;
mod cli;
mod expiry;
mod faults;
mod introspection;
mod mcp_transport;
mod metadata;
mod modern_wire;
mod refresh_rotation;
mod robustness;
