//! Consensus state that is pure: the log record codec and the log as raft-rs sees it.
//! The thread that drives raft-rs and does the file IO is `shard::raft_core`.

pub mod log_store;
pub mod record;
pub mod sim;

#[cfg(test)]
mod tests;
