//! The Raft core: one thread that owns the raft-rs node, the log files and the proposal queue.
//!
//! Each loop turn drains every proposal that arrived meanwhile (up to
//! `PROPOSALS_PER_BATCH_MAX`), proposes them, persists the resulting `Ready` with one write
//! and one fdatasync (group commit: the batch grows while the previous fsync runs), then
//! streams committed entries, in index order, to the shards that own what they touch.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;
use raft::eraftpb::{ConfState, Entry, EntryType};
use raft::{RawNode, StateRole};

use crate::config::{PROPOSALS_PER_BATCH_MAX, RAFT_TICK_MS};
use crate::io::log_files::LogFiles;
use crate::kv::{shard_of, Command, TxnKvOp, TxnOpResult};
use crate::mesh::{Inbox, RaftInput, RaftStatus, ShardMsg, WriteOutcome, WriteReply};
use crate::raft::log_store::LogStore;
use crate::raft::record::{self, LogRecord};

/// This server's Raft id. Single-voter until the cluster issue adds peers.
const SELF_ID: u64 = 1;

/// A multi-shard transaction waiting for its participants' votes.
struct TxnVotes {
    participants: Vec<usize>,
    votes_missing: usize,
    results: Vec<TxnOpResult>,
    errors: Vec<(usize, String)>,
    reply: Option<WriteReply>,
}

/// The Raft core's state. Lives on its own thread; nothing here is shared.
pub struct RaftCore {
    node: RawNode<LogStore>,
    files: Option<LogFiles>,
    inbox: Receiver<RaftInput>,
    votes: Receiver<RaftInput>,
    shards: Arc<Vec<Inbox>>,
    status: Arc<RaftStatus>,
    /// Proposals awaiting their entry's application, by proposal id.
    pending: HashMap<u64, WriteReply>,
    /// Distinguishes this process's proposal ids from ones replayed from the log.
    epoch: u64,
    next_proposal: u64,
    txns: HashMap<u64, TxnVotes>,
    /// Records (commit index updates) that ride along with the next batch's write.
    deferred: Vec<LogRecord>,
    frames: Vec<u8>,
}

impl RaftCore {
    /// Opens the log (or none in dev mode), replays it and builds the node.
    pub fn open(
        data_dir: Option<&std::path::Path>,
        inbox: Receiver<RaftInput>,
        votes: Receiver<RaftInput>,
        shards: Arc<Vec<Inbox>>,
        status: Arc<RaftStatus>,
    ) -> std::io::Result<RaftCore> {
        let (mut store, files) = match data_dir {
            Some(dir) => {
                let recovered = LogFiles::open(&dir.join("raft"))?;
                for note in &recovered.notes {
                    eprintln!("    [WARN]  raft: {note}");
                }
                if !recovered.files.uses_io_uring() {
                    eprintln!("    [WARN]  raft: log writes use pwrite + fdatasync");
                }
                (LogStore::replay(recovered.records), Some(recovered.files))
            }
            None => (LogStore::default(), None),
        };
        let mut frames = Vec::new();
        if store.conf_state().voters.is_empty() {
            let mut bootstrap = Vec::new();
            store.set_conf_state(
                &ConfState {
                    voters: vec![SELF_ID],
                    ..Default::default()
                },
                &mut bootstrap,
            );
            for r in &bootstrap {
                record::encode_into(r, &mut frames);
            }
        }
        let config = raft::Config {
            id: SELF_ID,
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0, // the state machine is rebuilt by replaying committed entries
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        config.validate().map_err(std::io::Error::other)?;
        // raft-rs logs through slog; our own log lines report what operators need.
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let mut node = RawNode::new(&config, store, &logger).map_err(std::io::Error::other)?;
        let mut files = files;
        if let Some(f) = files.as_mut() {
            f.append(&frames)?;
        }
        frames.clear();
        // A single voter need not wait out an election timeout.
        if node.raft.prs().conf().voters().ids().len() == 1 {
            node.campaign().map_err(std::io::Error::other)?;
        }
        let epoch = rand::random::<u64>() | 1;
        Ok(RaftCore {
            node,
            files,
            inbox,
            votes,
            shards,
            status,
            pending: HashMap::new(),
            epoch,
            next_proposal: 1,
            txns: HashMap::new(),
            deferred: Vec::new(),
            frames,
        })
    }

    /// `Some(true)` when the log writes through io_uring, `None` in dev mode (no log file).
    pub fn uses_io_uring(&self) -> Option<bool> {
        self.files.as_ref().map(LogFiles::uses_io_uring)
    }

    /// Runs until `Shutdown` or until every sender is gone.
    pub fn run(mut self) {
        let tick = Duration::from_millis(RAFT_TICK_MS);
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = crossbeam::channel::select! {
                recv(self.votes) -> vote => match vote {
                    Ok(vote) => Some(vote),
                    Err(_) => return, // every shard is gone: the agent is shutting down
                },
                recv(self.inbox) -> input => match input {
                    Ok(input) => Some(input),
                    Err(_) => return,
                },
                default(wait) => None,
            };
            if let Some(input) = first {
                if !self.handle(input) {
                    return;
                }
                while let Ok(vote) = self.votes.try_recv() {
                    self.handle(vote);
                }
                for _ in 1..PROPOSALS_PER_BATCH_MAX {
                    let Ok(input) = self.inbox.try_recv() else {
                        break;
                    };
                    if !self.handle(input) {
                        return;
                    }
                }
            }
            if Instant::now() >= next_tick {
                self.node.tick();
                next_tick += tick;
            }
            if let Err(e) = self.on_ready() {
                // A log we cannot write is fatal: continuing would ack writes we may lose.
                eprintln!("    [ERROR] raft: log write failed: {e}; stopping");
                std::process::exit(1);
            }
        }
    }

    fn handle(&mut self, input: RaftInput) -> bool {
        match input {
            RaftInput::Propose { cmd, reply } => self.propose(cmd, reply),
            RaftInput::TxnVote {
                index,
                results,
                errors,
            } => self.on_vote(index, results, errors),
            RaftInput::Shutdown => return false,
        }
        true
    }

    fn propose(&mut self, cmd: Command, reply: WriteReply) {
        if self.node.raft.state != StateRole::Leader {
            let _ = reply.send(WriteOutcome::Failed("No cluster leader".into()));
            return;
        }
        let id = self.next_proposal;
        self.next_proposal += 1;
        let mut context = Vec::with_capacity(16);
        context.extend_from_slice(&self.epoch.to_le_bytes());
        context.extend_from_slice(&id.to_le_bytes());
        match self.node.propose(context, cmd.encode()) {
            Ok(()) => {
                self.pending.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(WriteOutcome::Failed(format!("raft propose failed: {e}")));
            }
        }
    }

    fn on_ready(&mut self) -> std::io::Result<()> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut ready = self.node.ready();
        // Single voter: there are no peers to message yet (cluster issue).
        debug_assert!(ready.messages().is_empty());
        let mut records = std::mem::take(&mut self.deferred);
        self.node.mut_store().append(ready.entries(), &mut records);
        if let Some(hs) = ready.hs() {
            self.node.mut_store().set_hard_state(hs, &mut records);
        }
        self.persist(&records)?;
        if let Some(ss) = ready.ss() {
            self.status.leader_id.store(ss.leader_id, Ordering::Relaxed);
            self.status
                .is_leader
                .store(ss.raft_state == StateRole::Leader, Ordering::Relaxed);
            if ss.raft_state != StateRole::Leader {
                self.fail_pending("leadership lost");
            }
        }
        let committed = ready.take_committed_entries();
        self.apply(committed);
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let mut out = Vec::new();
            self.node.mut_store().set_commit(commit, &mut out);
            self.deferred.extend(out); // durable with the next batch; raft recomputes it anyway
        }
        let committed = light.take_committed_entries();
        self.apply(committed);
        self.node.advance_apply();
        let store = self.node.store();
        self.status
            .term
            .store(store.hard_state().term, Ordering::Relaxed);
        self.status
            .commit_index
            .store(self.node.raft.raft_log.committed, Ordering::Relaxed);
        self.status
            .last_log_index
            .store(self.node.raft.raft_log.last_index(), Ordering::Relaxed);
        Ok(())
    }

    fn persist(&mut self, records: &[LogRecord]) -> std::io::Result<()> {
        let Some(files) = self.files.as_mut() else {
            return Ok(());
        };
        self.frames.clear();
        for r in records {
            record::encode_into(r, &mut self.frames);
        }
        files.append(&self.frames)
    }

    fn fail_pending(&mut self, why: &str) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(WriteOutcome::Failed(format!("No cluster leader ({why})")));
        }
    }

    fn take_reply(&mut self, entry: &Entry) -> Option<WriteReply> {
        let ctx = &entry.context;
        if ctx.len() != 16 || u64::from_le_bytes(ctx[..8].try_into().unwrap()) != self.epoch {
            return None;
        }
        self.pending
            .remove(&u64::from_le_bytes(ctx[8..].try_into().unwrap()))
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        let Some(last) = entries.last().map(|e| e.index) else {
            return;
        };
        for entry in entries {
            let reply = self.take_reply(&entry);
            if entry.get_entry_type() != EntryType::EntryNormal || entry.data.is_empty() {
                // Leader no-ops, and configuration changes once the cluster issue adds them.
                continue;
            }
            match Command::decode(&entry.data) {
                Ok(cmd) => self.dispatch(entry.index, cmd, reply),
                Err(e) => panic!("committed entry {} does not decode: {e}", entry.index),
            }
        }
        self.status.applied_index.store(last, Ordering::Relaxed);
        for inbox in self.shards.iter() {
            inbox.send_blocking(ShardMsg::Committed { index: last });
        }
    }

    fn dispatch(&mut self, index: u64, cmd: Command, reply: Option<WriteReply>) {
        let n = self.shards.len();
        match cmd {
            Command::Noop => {
                if let Some(r) = reply {
                    let _ = r.send(WriteOutcome::Bool(true));
                }
            }
            Command::KvSet { ref key, .. } | Command::KvDelete { ref key, .. } => {
                let owner = shard_of(key, n);
                self.shards[owner].send_blocking(ShardMsg::Apply { index, cmd, reply });
            }
            // Delete-tree touches every partition; a catalog command is applied by every shard
            // (each keeps the replicated nodes and the services it owns).
            Command::KvDeleteTree { .. } | Command::Catalog(_) => {
                for inbox in self.shards.iter() {
                    inbox.send_blocking(ShardMsg::Apply {
                        index,
                        cmd: cmd.clone(),
                        reply: None,
                    });
                }
                // Every shard has the command queued ahead of any read sent after this reply.
                if let Some(r) = reply {
                    let _ = r.send(WriteOutcome::Bool(true));
                }
            }
            Command::Txn { ops } => self.dispatch_txn(index, ops, reply),
        }
    }

    fn dispatch_txn(&mut self, index: u64, ops: Vec<TxnKvOp>, reply: Option<WriteReply>) {
        let n = self.shards.len();
        let mut parts: Vec<Vec<(usize, TxnKvOp)>> = vec![Vec::new(); n];
        for (i, op) in ops.into_iter().enumerate() {
            if op.verb.is_tree() {
                for part in parts.iter_mut() {
                    part.push((i, op.clone()));
                }
            } else {
                parts[shard_of(&op.key, n)].push((i, op));
            }
        }
        let participants: Vec<usize> = (0..n).filter(|&s| !parts[s].is_empty()).collect();
        if participants.len() == 1 {
            let s = participants[0];
            let ops = std::mem::take(&mut parts[s]);
            self.shards[s].send_blocking(ShardMsg::Txn { index, ops, reply });
            return;
        }
        for &s in &participants {
            let ops = std::mem::take(&mut parts[s]);
            self.shards[s].send_blocking(ShardMsg::Txn {
                index,
                ops,
                reply: None,
            });
        }
        let votes = TxnVotes {
            votes_missing: participants.len(),
            participants,
            results: Vec::new(),
            errors: Vec::new(),
            reply,
        };
        self.txns.insert(index, votes);
    }

    fn on_vote(&mut self, index: u64, results: Vec<TxnOpResult>, errors: Vec<(usize, String)>) {
        let votes = self
            .txns
            .get_mut(&index)
            .expect("vote for an unknown transaction");
        votes.results.extend(results);
        votes.errors.extend(errors);
        votes.votes_missing -= 1;
        if votes.votes_missing > 0 {
            return;
        }
        let mut votes = self.txns.remove(&index).unwrap();
        let commit = votes.errors.is_empty();
        for &s in &votes.participants {
            self.shards[s].send_blocking(ShardMsg::TxnDecide { index, commit });
        }
        if let Some(reply) = votes.reply.take() {
            let _ = reply.send(txn_outcome(votes.results, votes.errors));
        }
    }
}

/// Orders a transaction's results and errors as Consul does (by op position; entries of one
/// `get-tree` op in key order).
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
