//! Tribune: a Consul-compatible service discovery and configuration system, thread-per-core.
//!
//! See `ARCHITECTURE.md` for the code map and who owns what.
#![deny(unsafe_code)]

// The pure cores live in their own crate (`core/`); they keep their names here.
pub use tribune_core::{
    acl, agent, catalog, civil, cluster, codec, config, config_entry, dns, error, gossip, kv,
    metrics, operator, prepared_query, raft, rpc, session, snapshot, state, version,
};

pub mod cli;
pub mod http;
pub mod io;
pub mod mesh;
pub mod node;
pub mod shard;
