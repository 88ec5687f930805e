//! The KV state machine: commands, one partition's tables, and the key → shard map.
//!
//! Pure code: no IO, no clock. A partition is owned by exactly one shard core; it is changed
//! only by applying committed Raft entries, in index order (`KvPartition::applied` only grows).

pub mod command;
pub mod partition;

pub use command::{KvVerb, TxnKvOp};
pub use partition::{DirEntry, KvPartition, TxnOpResult, TxnPartOutcome, TxnUndo};

/// Which shard owns `key`. A fixed hash (crc32c), so the map is the same on every run and
/// on every server: the mapping must never depend on a per-process random seed.
pub fn shard_of(key: &str, shard_count: usize) -> usize {
    debug_assert!(shard_count > 0);
    (crc32c::crc32c(key.as_bytes()) as usize) % shard_count
}

#[cfg(test)]
mod tests;
