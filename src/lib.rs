//! Tribune: a Consul-compatible service discovery and configuration system, thread-per-core.
//!
//! See `ARCHITECTURE.md` for the code map and who owns what.

pub mod config;
pub mod kv;
