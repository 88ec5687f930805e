//! Tribune's pure cores, as quinn-proto is to quinn: every state machine and protocol core,
//! with no runtime, socket or io_uring crate among the dependencies, so the compiler (not a
//! grep) keeps them free of IO. The `tribune` crate re-exports each module under the same
//! name (`tribune::kv`, `tribune::state`, ...) and adds the shell around them.
#![deny(unsafe_code)]

pub mod acl;
pub mod agent;
pub mod catalog;
pub mod civil;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod config_entry;
pub mod dns;
pub mod error;
pub mod gossip;
pub mod http;
pub mod kv;
pub mod metrics;
pub mod operator;
pub mod prepared_query;
pub mod raft;
pub mod rpc;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod version;
