//! The agent's local state (services and checks registered on this agent) and anti-entropy.
//!
//! Pure code: time comes in as `now_ms`, probes run elsewhere (`shard::checks`), and the sync
//! with the catalog is a diff (`sync::reconcile`) whose operations the caller performs.
//! Owned by shard 0.

pub mod local;
pub mod sync;

pub use local::{CheckKind, CheckSpec, Dirty, LocalCheck, LocalService, LocalState};
pub use sync::{incremental, reconcile, SyncOp};

#[cfg(test)]
mod tests;
