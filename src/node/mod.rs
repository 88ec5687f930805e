//! One agent's shared shell: the context every task on a shard holds (`ShardCtx`, with the
//! shard's inbox loop), the read and write frontends that route to owner shards and the Raft
//! core, the agent's local runtime (services, checks, anti-entropy), the gossip runtime, health
//! probes, and the RPC client that forwards to servers.
//!
//! Layering: `node` uses the pure cores and `io`; the HTTP handlers (`http`) use `node`; the
//! threads, listeners and the Raft core (`shard`) use both. Nothing here names `http`'s
//! handlers or `shard`: the one call back into a handler (a local-agent request another shard
//! forwarded) goes through a function the shell installs (`ShardCtx::new`).

pub mod acl;
pub mod agent_runtime;
pub mod catalog_frontend;
pub mod checks;
pub mod ctx;
pub mod gossip_runtime;
pub mod kv_frontend;
pub mod rpc_client;
pub mod sessions;
pub mod telemetry;
