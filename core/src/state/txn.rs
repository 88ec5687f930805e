//! The coordinator side of a multi-shard transaction, pure.
//!
//! Protocol (participants in `machine.rs`): every participant applies its part tentatively
//! (keeping an undo record), freezes, and votes with its results or errors; once every vote
//! is in, the coordinator decides: commit when nobody reported an error, else abort (each
//! participant undoes). A frozen participant holds everything after the transaction until
//! the decision, so nobody reads a tentative write.
//!
//! The coordinator is registered with `begin` *before* any part is delivered: a vote can
//! arrive while later parts are still being delivered (the shell keeps coordinating while it
//! waits on a full inbox; see `shard::raft_core`).

use std::collections::BTreeMap;

use super::WriteOutcome;
use crate::kv::TxnOpResult;

/// A participant's vote: its share of the results, or the errors that abort the whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnVote {
    pub index: u64,
    pub results: Vec<TxnOpResult>,
    pub errors: Vec<(usize, String)>,
}

/// The coordinator's decision, once every vote is in.
#[derive(Debug)]
pub struct TxnDecision<R> {
    pub index: u64,
    pub commit: bool,
    /// Each must be told (`ShardMachine::decide`).
    pub participants: Vec<usize>,
    /// What the proposer hears, with its reply token (none on a server that did not propose).
    pub outcome: WriteOutcome,
    pub reply: Option<R>,
}

struct Pending<R> {
    participants: Vec<usize>,
    votes_missing: usize,
    results: Vec<TxnOpResult>,
    errors: Vec<(usize, String)>,
    reply: Option<R>,
}

/// Multi-shard transactions waiting for votes, by log index. `R` is the shell's reply
/// token (a channel in the agent, nothing in the simulator).
pub struct TxnCoordinator<R> {
    pending: BTreeMap<u64, Pending<R>>,
}

impl<R> Default for TxnCoordinator<R> {
    fn default() -> Self {
        TxnCoordinator {
            pending: BTreeMap::new(),
        }
    }
}

impl<R> TxnCoordinator<R> {
    /// Registers the transaction at `index` before its parts are delivered.
    pub fn begin(&mut self, index: u64, participants: Vec<usize>, reply: Option<R>) {
        assert!(
            participants.len() >= 2,
            "a one-shard transaction is decided by its shard"
        );
        assert!(
            participants.windows(2).all(|w| w[0] < w[1]),
            "participants are distinct, in shard order"
        );
        let pending = Pending {
            votes_missing: participants.len(),
            participants,
            results: Vec::new(),
            errors: Vec::new(),
            reply,
        };
        let before = self.pending.insert(index, pending);
        assert!(before.is_none(), "transaction {index} began twice");
    }

    /// Counts a vote; the decision once it was the last one missing.
    pub fn vote(&mut self, vote: TxnVote) -> Option<TxnDecision<R>> {
        let pending = self
            .pending
            .get_mut(&vote.index)
            .unwrap_or_else(|| panic!("vote for unknown transaction {}", vote.index));
        assert!(pending.votes_missing > 0, "more votes than participants");
        pending.results.extend(vote.results);
        pending.errors.extend(vote.errors);
        pending.votes_missing -= 1;
        if pending.votes_missing > 0 {
            return None;
        }
        let done = self.pending.remove(&vote.index).expect("present above");
        let commit = done.errors.is_empty();
        Some(TxnDecision {
            index: vote.index,
            commit,
            participants: done.participants,
            outcome: txn_outcome(done.results, done.errors),
            reply: done.reply,
        })
    }

    /// True when no transaction waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Orders a transaction's results and errors as Consul does (by op position; entries of one
/// `get-tree` op in key order). With any error, no results.
pub fn txn_outcome(
    mut results: Vec<TxnOpResult>,
    mut errors: Vec<(usize, String)>,
) -> WriteOutcome {
    if !errors.is_empty() {
        errors.sort_by_key(|(i, _)| *i);
        return WriteOutcome::Txn {
            results: Vec::new(),
            errors,
        };
    }
    results.sort_by(|a, b| (a.op_index, &a.entry.key).cmp(&(b.op_index, &b.entry.key)));
    WriteOutcome::Txn { results, errors }
}
