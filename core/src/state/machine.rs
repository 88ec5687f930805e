//! `ShardMachine`: everything one shard owns, changed only by committed entries in index
//! order, and a multi-shard transaction's participant side.
//!
//! The shell (`node::ctx`) owns one per shard and feeds it what the Raft core dispatches;
//! the simulator (`raft::sim`) owns several per simulated server and feeds them the same.
//! Sessions, ACLs, config entries and prepared queries become fields here, applied from new
//! `Command` variants, with follow-up writes (a session's invalidation releasing its locks)
//! returned in `Effects::proposals`.

use bytes::Bytes;

use super::command::Command;
use super::read::{CatalogAnswer, CatalogQuery, KvAnswer, KvQuery};
use super::txn::{txn_outcome, TxnVote};
use super::WriteOutcome;
use std::collections::BTreeMap;

use crate::acl::AclTable;
use crate::catalog::{CatalogCommand, CatalogShard};
use crate::config::LOCK_DELAY_MAX_MS;
use crate::error::ApiError;
use crate::kv::{shard_of, KvPartition, TxnKvOp, TxnUndo};
use crate::prepared_query::QueryOp;
use crate::session::{Behavior, SessionTable};
use crate::snapshot::StateSnapshot;

/// What one shard is handed for one committed entry (see `placement::place`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardWork {
    /// Apply the whole command (single-key, or one every shard applies).
    Command(Command),
    /// This shard's ops of a transaction, with their positions. `alone`: the only
    /// participant, which decides and answers by itself; otherwise it freezes and votes.
    TxnPart {
        ops: Vec<(usize, TxnKvOp)>,
        alone: bool,
    },
}

/// What applying something asks the shell to do.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Effects {
    /// The proposer's answer, when this shard is the one that answers.
    pub outcome: Option<WriteOutcome>,
    /// A vote for the transaction coordinator (this shard is now frozen).
    pub vote: Option<TxnVote>,
    /// A frozen transaction was decided: reads waiting on this shard may go on, and held
    /// messages are handled again.
    pub thawed: bool,
    /// Writes to propose as a consequence (e.g. a session's invalidation). None yet.
    pub proposals: Vec<Command>,
    /// Something an operator should read in the log (a restore body that does not decode).
    pub warning: Option<String>,
}

/// A multi-shard transaction applied here tentatively, awaiting the coordinator's decision.
#[derive(Debug)]
struct Frozen {
    index: u64,
    undo: TxnUndo,
}

/// The state one shard owns. Owned by that shard's thread (or the simulator), nothing shared.
#[derive(Debug)]
pub struct ShardMachine {
    id: usize,
    shards: usize,
    /// The KV keys with `shard_of(key) == id`.
    pub kv: KvPartition,
    /// The replicated nodes and node checks, and the services whose name this shard owns.
    pub catalog: CatalogShard,
    /// Every session (replicated on every shard; see `session`).
    pub sessions: SessionTable,
    /// Policies, tokens, roles, auth methods, binding rules (replicated on every shard).
    pub acl: AclTable,
    /// Autopilot's configuration, once the leader or an operator set it (replicated).
    pub autopilot: Option<crate::operator::AutopilotConfig>,
    /// Config entries (replicated).
    pub config_entries: crate::config_entry::ConfigEntryTable,
    /// Prepared queries (replicated).
    pub queries: crate::prepared_query::QueryTable,
    /// Keys this shard owns that may not be acquired before a time (ms on this server's
    /// clock): armed when a holder dies, as Consul's lock-delay. Not replicated and not in
    /// snapshots, as in Consul; read by the leader before it proposes an acquire.
    lock_delays: BTreeMap<String, u64>,
    /// Highest index the Raft core has finished dispatching (blocking queries wake on it).
    committed: u64,
    /// Highest index of an entry handed to this shard (`apply`); strictly increasing.
    applied: u64,
    frozen: Option<Frozen>,
}

impl ShardMachine {
    /// Shard `id` of `shards`, empty.
    pub fn new(id: usize, shards: usize) -> ShardMachine {
        assert!(id < shards, "shard {id} of {shards}");
        ShardMachine {
            id,
            shards,
            kv: KvPartition::default(),
            catalog: CatalogShard::new(id, shards),
            sessions: SessionTable::default(),
            acl: AclTable::default(),
            autopilot: None,
            config_entries: Default::default(),
            queries: Default::default(),
            lock_delays: BTreeMap::new(),
            committed: 0,
            applied: 0,
            frozen: None,
        }
    }

    /// True while a multi-shard transaction waits for its decision: the shell must hold
    /// every later entry and every read until `decide`.
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Applies the committed entry at `index`. Entries arrive in index order and never while
    /// frozen (the shell holds them). `now_ms` is this server's clock, read only to arm
    /// lock-delays (soft state, never part of the replicated state).
    pub fn apply(&mut self, index: u64, work: ShardWork, now_ms: u64) -> Effects {
        assert!(self.frozen.is_none(), "entry {index} applied while frozen");
        assert!(
            index > self.applied,
            "shard {}: entry {index} after {} (apply order is index order)",
            self.id,
            self.applied
        );
        self.applied = index;
        let mut effects = Effects::default();
        match work {
            ShardWork::Command(cmd) => {
                let outcome = self.apply_command(index, cmd, now_ms, &mut effects);
                effects.outcome = Some(outcome);
            }
            ShardWork::TxnPart { ops, alone } => {
                let sessions = &self.sessions;
                let part = self
                    .kv
                    .apply_txn(index, &ops, &|id| sessions.get(id).is_some());
                if alone {
                    if !part.errors.is_empty() {
                        self.kv.undo_txn(part.undo);
                    }
                    effects.outcome = Some(txn_outcome(part.results, part.errors));
                } else {
                    self.frozen = Some(Frozen {
                        index,
                        undo: part.undo,
                    });
                    effects.vote = Some(TxnVote {
                        index,
                        results: part.results,
                        errors: part.errors,
                    });
                }
            }
        }
        effects
    }

    fn apply_command(
        &mut self,
        index: u64,
        cmd: Command,
        now_ms: u64,
        effects: &mut Effects,
    ) -> WriteOutcome {
        let kv = &mut self.kv;
        let ok = match cmd {
            Command::KvSet {
                key,
                value,
                flags,
                cas,
            } => {
                debug_assert_eq!(shard_of(&key, self.shards), self.id, "a key's owner");
                kv.apply_set(index, &key, value.map(Bytes::from), flags, cas)
            }
            Command::KvDelete { key, cas } => {
                debug_assert_eq!(shard_of(&key, self.shards), self.id, "a key's owner");
                kv.apply_delete(index, &key, cas)
            }
            Command::KvDeleteTree { prefix } => {
                kv.apply_delete_tree(index, &prefix);
                true
            }
            Command::Catalog(cmd) => {
                self.catalog.apply(index, &cmd);
                // Sessions die with their node or a bound node check (same entry; every
                // shard holds what decides it, so every shard kills the same ones).
                if matches!(
                    cmd,
                    CatalogCommand::Register(_) | CatalogCommand::Deregister { .. }
                ) {
                    for id in self.sessions.invalidated_by(&self.catalog) {
                        self.kill_session(index, &id, now_ms);
                    }
                }
                true
            }
            Command::SessionCreate(session) => {
                return match self.sessions.create(index, &session, &self.catalog) {
                    Ok(()) => WriteOutcome::Bool(true),
                    Err(text) => WriteOutcome::Failed(ApiError::Internal(text)),
                };
            }
            Command::SessionDestroy { id } => {
                self.kill_session(index, &id, now_ms);
                true
            }
            Command::KvLock(lock) => {
                debug_assert_eq!(shard_of(&lock.key, self.shards), self.id, "a key's owner");
                if lock.acquire && self.sessions.get(&lock.session).is_none() {
                    let text = format!("invalid session {:?}", lock.session);
                    return WriteOutcome::Failed(ApiError::Internal(text));
                }
                let value = lock.value.map(Bytes::from);
                let (key, flags, session) = (&lock.key, lock.flags, &lock.session);
                self.kv
                    .apply_lock(index, key, value, flags, session, lock.acquire)
            }
            Command::Acl(cmd) => {
                return match self.acl.apply(index, &cmd) {
                    Ok(()) => WriteOutcome::Bool(true),
                    Err(e) => WriteOutcome::Failed(e),
                };
            }
            Command::Autopilot(set) => {
                crate::operator::apply_autopilot(&mut self.autopilot, index, &set)
            }
            Command::ConfigEntry(op) => self.config_entries.apply(index, &op),
            Command::PreparedQuery(op) => {
                // A query bound to a session needs the session to exist (Consul's state
                // store); it dies with it (`kill_session`).
                if let QueryOp::Create(q) | QueryOp::Update(q) = &*op {
                    let session = q.session();
                    if !session.is_empty() && self.sessions.get(&session).is_none() {
                        let text = format!("invalid session {session:?}");
                        return WriteOutcome::Failed(ApiError::Internal(text));
                    }
                }
                return match self.queries.apply(index, &op) {
                    Ok(()) => WriteOutcome::Bool(true),
                    Err(text) => WriteOutcome::Failed(ApiError::Internal(text)),
                };
            }
            Command::Restore { snapshot } => {
                // Validated before it was proposed; a body that still fails to decode is
                // skipped (and reported) rather than taking the shard down.
                match StateSnapshot::decode_body(&snapshot) {
                    Ok(snap) => self.restore(index, &snap),
                    Err(e) => effects.warning = Some(format!("restore at {index} skipped: {e}")),
                }
                true
            }
            Command::Noop | Command::Txn { .. } => {
                unreachable!("placement never hands a shard a no-op or a whole transaction")
            }
        };
        WriteOutcome::Bool(ok)
    }

    /// A session dies at `index`: out of the table, its keys here released or deleted per
    /// its behavior, and their lock-delay armed from `now_ms` (capped at 60 s, as Consul).
    fn kill_session(&mut self, index: u64, id: &str, now_ms: u64) {
        let Some(session) = self.sessions.destroy(index, id) else {
            return;
        };
        let delete = session.behavior == Behavior::Delete;
        let held = self.kv.release_session(index, id, delete);
        self.queries.delete_bound_to(index, id);
        let delay_ms = (session.lock_delay_ns / 1_000_000).min(LOCK_DELAY_MAX_MS);
        // Expired delays go here, so the map holds only keys still delayed.
        self.lock_delays.retain(|_, until| *until > now_ms);
        if delay_ms > 0 {
            for key in held {
                self.lock_delays.insert(key, now_ms + delay_ms);
            }
        }
    }

    /// Until when (ms, this server's clock) `key` may not be acquired; 0 when it may.
    pub fn lock_delay(&self, key: &str, now_ms: u64) -> u64 {
        match self.lock_delays.get(key) {
            Some(&until) if until > now_ms => until,
            _ => 0,
        }
    }

    /// Replaces this shard's state with what it owns of `snap`, as of `index`.
    pub fn restore(&mut self, index: u64, snap: &StateSnapshot) {
        let (id, n) = (self.id, self.shards);
        self.kv.restore(index, snap, |k| shard_of(k, n) == id);
        self.catalog.restore(index, snap);
        self.sessions.restore(index, &snap.sessions);
        self.acl.restore(index, &snap.acl);
        self.autopilot = snap.autopilot.clone();
        self.config_entries.restore(index, &snap.config_entries);
        self.queries.restore(index, &snap.prepared_queries);
        self.applied = self.applied.max(index);
    }

    /// The coordinator's decision for the transaction this shard is frozen on.
    pub fn decide(&mut self, index: u64, commit: bool) -> Effects {
        let frozen = self
            .frozen
            .take()
            .unwrap_or_else(|| panic!("shard {}: decision for {index} while not frozen", self.id));
        assert_eq!(frozen.index, index, "decision for another transaction");
        if !commit {
            self.kv.undo_txn(frozen.undo);
        }
        Effects {
            thawed: true,
            ..Effects::default()
        }
    }

    /// Every entry up to `index` has been handed to its shards. True when that is news
    /// (blocking queries re-check).
    pub fn advance(&mut self, index: u64) -> bool {
        if index <= self.committed {
            return false;
        }
        self.committed = index;
        self.kv.advance(index);
        true
    }

    /// This shard's part of a snapshot. Shard 0 also exports the replicated catalog part.
    pub fn export(&self) -> StateSnapshot {
        assert!(
            self.frozen.is_none(),
            "a snapshot never sees a tentative write"
        );
        let mut part = StateSnapshot::default();
        self.kv.export(&mut part);
        self.catalog.export(&mut part, self.id == 0);
        if self.id == 0 {
            part.sessions = self.sessions.export();
            part.acl = self.acl.export();
            part.autopilot = self.autopilot.clone();
            part.config_entries = self.config_entries.export();
            part.prepared_queries = self.queries.export();
        }
        part
    }

    /// Answers a KV read of keys this shard owns (the caller made sure it is thawed).
    pub fn answer_kv(&self, query: &KvQuery) -> KvAnswer {
        let kv = &self.kv;
        let mut answer = KvAnswer {
            partition_index: kv.index_max(),
            ..Default::default()
        };
        match query {
            KvQuery::Get { key } => {
                if let Some(e) = kv.get(key) {
                    answer.index = e.modify_index;
                    answer.entries.push(e.clone());
                }
            }
            KvQuery::List { prefix } => (answer.entries, answer.index) = kv.list(prefix),
            KvQuery::Keys { prefix, separator } => {
                (answer.keys, answer.index) = kv.keys(prefix, separator)
            }
            KvQuery::IndexMax => answer.index = kv.index_max(),
            KvQuery::LockDelay { key, now_ms } => {
                answer.lock_delay_until = self.lock_delay(key, *now_ms)
            }
        }
        answer
    }

    /// Answers a catalog read against this shard. Transactions hold only KV ops today, so a
    /// catalog read need not wait for a frozen transaction.
    pub fn answer_catalog(&self, query: &CatalogQuery) -> CatalogAnswer {
        let c = &self.catalog;
        let mut a = CatalogAnswer::default();
        match query {
            CatalogQuery::Instances { name, tags } => {
                a.instances = c.instances(name, tags);
                a.index = c.service_index(name);
            }
            CatalogQuery::Pick {
                name,
                tags,
                k,
                exclude_warning,
                seed,
            } => {
                a.picked = c.pick_instances(name, tags, *k, *exclude_warning, *seed);
                a.index = c.service_index(name);
            }
            CatalogQuery::ServiceTags => {
                a.tags = c.service_tags();
                a.index = c.index_max();
            }
            CatalogQuery::NodeServices { node } => {
                a.services = c.node_services(node);
                a.index = c.index_max();
            }
            CatalogQuery::NodeServiceChecks { node } => {
                a.checks = c.node_service_checks(node);
                a.index = c.index_max();
            }
            CatalogQuery::ChecksOfService { name } => {
                a.checks = c.checks_of_service(name);
                a.index = c.service_index(name);
            }
            CatalogQuery::ChecksInState {
                state,
                with_replicated,
            } => {
                a.checks = c.checks_in_state(state, *with_replicated);
                a.index = c.index_max();
            }
        }
        a
    }
}
