//! The replicated state, pure: what a committed log entry does, and to which shard.
//!
//! - `command`: every log payload as one `Command` type (rkyv; its bytes are the log's).
//! - `placement`: which shards an entry touches (`place`), the one routing rule the Raft
//!   core and the simulator share.
//! - `machine`: `ShardMachine`, what one shard owns (its KV partition, its part of the
//!   catalog; sessions, ACLs, config entries and prepared queries land here next) and
//!   `apply(index, work) -> Effects`; a multi-shard transaction's participant side (freeze,
//!   vote, decide) lives here too.
//! - `txn`: the coordinator side of multi-shard transactions (`TxnCoordinator`: votes in,
//!   one decision out) and how a transaction's outcome is ordered.
//! - `read`: the reads one shard answers for another (`KvQuery`, `CatalogQuery`).
//!
//! No IO, no clock, no channels: the shell (`node::ctx`, `shard::raft_core`) moves messages
//! and performs the effects; `raft::sim` drives the very same machines from a seed.

pub mod command;
pub mod machine;
pub mod placement;
pub mod read;
pub mod txn;

#[cfg(test)]
mod tests;

pub use command::{Command, KvLock};
pub use machine::{Effects, ShardMachine, ShardWork};
pub use placement::{place, Placement};
pub use read::{CatalogAnswer, CatalogQuery, KvAnswer, KvQuery};
pub use txn::{txn_outcome, TxnCoordinator, TxnDecision, TxnVote};

use crate::error::ApiError;
use crate::kv::TxnOpResult;

/// How a write ended, as the proposer (HTTP, RPC, the agent) hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// KV PUT/DELETE answer (`false` = CAS failed); `true` for catalog and restore writes.
    Bool(bool),
    /// `/v1/txn`: results when `errors` is empty, else nothing was applied.
    Txn {
        results: Vec<TxnOpResult>,
        errors: Vec<(usize, String)>,
    },
    /// Could not be committed (no leader, a full queue, a timeout).
    Failed(ApiError),
}
