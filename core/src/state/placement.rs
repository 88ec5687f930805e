//! Which shards a committed entry touches. One rule, used by the Raft core to dispatch and by
//! the simulator to apply, so the two cannot disagree.

use super::command::Command;
use super::machine::ShardWork;
use super::txn::txn_outcome;
use super::WriteOutcome;
use crate::kv::{shard_of, TxnKvOp};

/// Where a committed command goes, and who answers its proposer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Changes nothing (a no-op, an empty transaction): answered at once with this.
    Nowhere(WriteOutcome),
    /// One shard applies it and answers (a single key, or a transaction on one shard).
    One { shard: usize, work: ShardWork },
    /// Every shard applies it (delete-tree, catalog, restore, sessions). Shard 0 answers, and
    /// is handed it last, so every other shard has it queued before the proposer hears back
    /// and any later read queues behind it.
    Every(Command),
    /// A transaction over several shards: each part is applied tentatively and voted on;
    /// `TxnCoordinator` decides. Parts are in shard order, each with its ops' positions.
    Txn {
        parts: Vec<(usize, Vec<(usize, TxnKvOp)>)>,
    },
}

/// Places `cmd` on a node with `shards` shards.
pub fn place(cmd: Command, shards: usize) -> Placement {
    assert!(shards > 0, "a node has at least one shard");
    match cmd {
        Command::Noop => Placement::Nowhere(WriteOutcome::Bool(true)),
        Command::KvSet { ref key, .. } | Command::KvDelete { ref key, .. } => Placement::One {
            shard: shard_of(key, shards),
            work: ShardWork::Command(cmd),
        },
        // Delete-tree touches every partition; a catalog command is applied by every shard
        // (each keeps the replicated nodes and the services it owns); so is a restore.
        Command::KvDeleteTree { .. } | Command::Catalog(_) | Command::Restore { .. } => {
            Placement::Every(cmd)
        }
        Command::KvLock(ref lock) => Placement::One {
            shard: shard_of(&lock.key, shards),
            work: ShardWork::Command(cmd),
        },
        // Every shard keeps the session table and releases its own keys when one dies.
        Command::SessionCreate(_) | Command::SessionDestroy { .. } => Placement::Every(cmd),
        // Every shard keeps the ACL table (tokens are resolved where a request lands).
        Command::Acl(_) => Placement::Every(cmd),
        Command::Autopilot(_) | Command::ConfigEntry(_) | Command::PreparedQuery(_) => {
            Placement::Every(cmd)
        }
        Command::Txn { ops } => place_txn(ops, shards),
    }
}

fn place_txn(ops: Vec<TxnKvOp>, shards: usize) -> Placement {
    let mut by_shard: Vec<Vec<(usize, TxnKvOp)>> = vec![Vec::new(); shards];
    for (position, op) in ops.into_iter().enumerate() {
        if op.verb.is_tree() {
            for part in by_shard.iter_mut() {
                part.push((position, op.clone()));
            }
        } else {
            by_shard[shard_of(&op.key, shards)].push((position, op));
        }
    }
    let mut parts: Vec<(usize, Vec<(usize, TxnKvOp)>)> = by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, ops)| !ops.is_empty())
        .collect();
    match parts.len() {
        // HTTP refuses an empty transaction before proposing it; answered as one anyway.
        0 => Placement::Nowhere(txn_outcome(Vec::new(), Vec::new())),
        1 => {
            let (shard, ops) = parts.pop().expect("one part");
            Placement::One {
                shard,
                work: ShardWork::TxnPart { ops, alone: true },
            }
        }
        _ => Placement::Txn { parts },
    }
}
