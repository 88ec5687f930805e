//! Tribune: a Consul-compatible service discovery and configuration system, thread-per-core.
//!
//! See `ARCHITECTURE.md` for the code map and who owns what.
#![deny(unsafe_code)]

pub mod agent;
pub mod catalog;
pub mod cli;
pub mod codec;
pub mod config;
pub mod dns;
pub mod error;
pub mod gossip;
pub mod http;
pub mod io;
pub mod kv;
pub mod mesh;
pub mod node;
pub mod raft;
pub mod rpc;
pub mod shard;
pub mod snapshot;
pub mod state;
pub mod version;
