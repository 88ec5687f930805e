//! One shard core's state and its inbox loop.
//!
//! A `ShardState` is owned by its shard thread (`Rc<RefCell<_>>`, `!Send` by construction).
//! It holds this shard's KV partition and the watermark of committed entries used to wake
//! blocking queries. Changes arrive only as `ShardMsg`s from the Raft core, in index order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::catalog::CatalogShard;
use crate::kv::{Command, KvPartition, TxnUndo};
use crate::mesh::{
    CatalogAnswer, CatalogQuery, ForwardedRequest, KvAnswer, KvQuery, Mesh, RaftInput, ShardMsg,
    WriteOutcome,
};
use crate::shard::agent_runtime::AgentRuntime;
use crate::shard::raft_core::txn_outcome;

/// Messages handled per inbox turn before yielding to HTTP tasks.
const INBOX_BATCH_MAX: usize = 256;

/// A multi-shard transaction applied here tentatively, awaiting the coordinator's decision.
struct Frozen {
    index: u64,
    undo: TxnUndo,
}

/// State owned by one shard core.
pub struct ShardState {
    pub id: usize,
    pub partition: KvPartition,
    pub catalog: CatalogShard,
    /// Highest index the Raft core has finished dispatching (every shard hears of it).
    pub committed: u64,
    frozen: Option<Frozen>,
    /// Messages that arrived while frozen, in arrival order.
    held: VecDeque<ShardMsg>,
}

/// Everything a task on a shard needs: its state, the mesh, and local wake-ups.
#[derive(Clone)]
pub struct ShardCtx {
    pub id: usize,
    pub state: Rc<RefCell<ShardState>>,
    pub mesh: Mesh,
    /// Notified whenever `committed` grows (blocking queries re-check).
    pub changed: Rc<Notify>,
    /// Notified when a frozen transaction is decided (reads on this shard resume).
    pub thawed: Rc<Notify>,
    /// The agent's local state and loops: only on shard 0 (other shards forward to it).
    pub agent: Option<Rc<AgentRuntime>>,
}

impl ShardCtx {
    /// A context for shard `id`.
    pub fn new(id: usize, mesh: Mesh) -> ShardCtx {
        let state = ShardState {
            id,
            partition: KvPartition::default(),
            catalog: CatalogShard::new(id, mesh.shards.len()),
            committed: 0,
            frozen: None,
            held: VecDeque::new(),
        };
        ShardCtx {
            id,
            state: Rc::new(RefCell::new(state)),
            mesh,
            changed: Rc::new(Notify::new()),
            thawed: Rc::new(Notify::new()),
            agent: None,
        }
    }

    /// Shard 0's agent runtime. Only called on shard 0 (`http` forwards agent requests there).
    pub fn agent(&self) -> &AgentRuntime {
        self.agent
            .as_deref()
            .expect("the agent runtime lives on shard 0")
    }

    /// Sends a local-agent request to shard 0 and waits for its answer.
    pub async fn forward_to_agent(
        &self,
        route: crate::http::route::Route,
        request: crate::http::ApiRequest,
    ) -> crate::http::response::Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = ShardMsg::AgentApi(Box::new(ForwardedRequest {
            route,
            request,
            reply: tx,
        }));
        if self.mesh.shards[0].try_send(msg).is_err() {
            let text = "rate limit exceeded, try again later or against a different server";
            return crate::http::kv_api::error_reply(text.into());
        }
        let lost = || crate::http::response::Reply::text(500, "agent shard did not answer");
        rx.await.unwrap_or_else(|_| lost())
    }

    /// Applies what already waits in this shard's inbox, before a read answered from this
    /// shard's own state: a write is acknowledged once its apply is *queued* at every shard
    /// it touches (catalog commands, delete-tree, multi-shard txns), so a local read that
    /// skipped the queue could miss it under load. Same thread, same FIFO order as
    /// `run_inbox`; bounded to what was there when the read started.
    pub fn catch_up(&self) {
        let inbox = &self.mesh.shards[self.id];
        for _ in 0..inbox.len() {
            match inbox.try_recv() {
                Some(msg) => self.handle(msg),
                None => break,
            }
        }
    }

    /// Drains this shard's inbox forever.
    pub async fn run_inbox(self) {
        let inbox = &self.mesh.shards[self.id];
        loop {
            let mut handled = 0;
            while let Some(msg) = inbox.try_recv() {
                self.handle(msg);
                handled += 1;
                if handled == INBOX_BATCH_MAX {
                    handled = 0;
                    tokio::task::yield_now().await;
                }
            }
            inbox.ring().await;
        }
    }

    /// Waits until no transaction is pending here, so reads never see a tentative write.
    pub async fn until_thawed(&self) {
        loop {
            let thawed = self.thawed.notified();
            tokio::pin!(thawed);
            thawed.as_mut().enable();
            if self.state.borrow().frozen.is_none() {
                return;
            }
            thawed.await;
        }
    }

    /// Answers a read against this shard's partition (caller made sure it is thawed).
    pub fn answer(&self, query: &KvQuery) -> KvAnswer {
        let state = self.state.borrow();
        let part = &state.partition;
        let mut answer = KvAnswer {
            partition_index: part.index_max(),
            ..Default::default()
        };
        match query {
            KvQuery::Get { key } => {
                if let Some(e) = part.get(key) {
                    answer.index = e.modify_index;
                    answer.entries.push(e.clone());
                }
            }
            KvQuery::List { prefix } => (answer.entries, answer.index) = part.list(prefix),
            KvQuery::Keys { prefix, separator } => {
                (answer.keys, answer.index) = part.keys(prefix, separator)
            }
            KvQuery::IndexMax => answer.index = part.index_max(),
        }
        answer
    }

    /// Answers a catalog read against this shard. Transactions hold only KV ops today, so a
    /// local catalog read need not wait for a frozen transaction; a remote one
    /// (`ShardMsg::Catalog`) waits with the rest of the inbox while this shard is frozen.
    pub fn catalog_answer(&self, query: &CatalogQuery) -> CatalogAnswer {
        let state = self.state.borrow();
        let c = &state.catalog;
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

    fn handle(&self, msg: ShardMsg) {
        let mut state = self.state.borrow_mut();
        if state.frozen.is_some() && !matches!(msg, ShardMsg::TxnDecide { .. }) {
            state.held.push_back(msg);
            return;
        }
        drop(state);
        self.handle_now(msg);
    }

    fn handle_now(&self, msg: ShardMsg) {
        match msg {
            ShardMsg::Apply { index, cmd, reply } => {
                let outcome = self.apply(index, cmd);
                if let Some(reply) = reply {
                    let _ = reply.send(WriteOutcome::Bool(outcome));
                }
            }
            ShardMsg::Txn { index, ops, reply } => {
                let mut state = self.state.borrow_mut();
                let outcome = state.partition.apply_txn(index, &ops);
                match reply {
                    Some(reply) => {
                        if !outcome.errors.is_empty() {
                            state.partition.undo_txn(outcome.undo);
                        }
                        let _ = reply.send(txn_outcome(outcome.results, outcome.errors));
                    }
                    None => {
                        state.frozen = Some(Frozen {
                            index,
                            undo: outcome.undo,
                        });
                        let vote = RaftInput::TxnVote {
                            index,
                            results: outcome.results,
                            errors: outcome.errors,
                        };
                        // Never waits: the vote queue has a slot per shard (see `Mesh::votes`).
                        let _ = self.mesh.votes.send(vote);
                    }
                }
            }
            ShardMsg::TxnDecide { index, commit } => self.decide(index, commit),
            ShardMsg::Committed { index } => {
                let mut state = self.state.borrow_mut();
                if index > state.committed {
                    state.committed = index;
                    state.partition.advance(index);
                    drop(state);
                    self.changed.notify_waiters();
                }
            }
            ShardMsg::Query { query, reply } => {
                let _ = reply.send(self.answer(&query));
            }
            ShardMsg::Catalog { query, reply } => {
                let _ = reply.send(self.catalog_answer(&query));
            }
            ShardMsg::SnapshotPart { reply } => {
                let state = self.state.borrow();
                let mut part = crate::snapshot::StateSnapshot::default();
                state.partition.export(&mut part);
                state.catalog.export(&mut part, self.id == 0);
                let _ = reply.send(part);
            }
            ShardMsg::AgentApi(forwarded) => {
                let ctx = self.clone();
                tokio::task::spawn_local(async move {
                    let ForwardedRequest {
                        route,
                        request,
                        reply,
                    } = *forwarded;
                    let answer =
                        crate::http::agent_local_api::dispatch(&ctx, &route, &request).await;
                    let _ = reply.send(answer);
                });
            }
        }
    }

    fn apply(&self, index: u64, cmd: Command) -> bool {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let part = &mut state.partition;
        match cmd {
            Command::KvSet {
                key,
                value,
                flags,
                cas,
            } => part.apply_set(index, &key, value.map(Bytes::from), flags, cas),
            Command::KvDelete { key, cas } => part.apply_delete(index, &key, cas),
            Command::KvDeleteTree { prefix } => {
                part.apply_delete_tree(index, &prefix);
                true
            }
            Command::Catalog(cmd) => {
                state.catalog.apply(index, &cmd);
                true
            }
            Command::Restore { snapshot } => {
                // Validated before it was proposed; a body that still fails to decode is
                // skipped (logged) rather than taking the shard down.
                match crate::snapshot::StateSnapshot::decode_body(&snapshot) {
                    Ok(snap) => {
                        let (id, n) = (self.id, self.mesh.shards.len());
                        part.restore(index, &snap, |k| crate::kv::shard_of(k, n) == id);
                        state.catalog.restore(index, &snap);
                    }
                    Err(e) => eprintln!("    [ERROR] restore at {index} skipped: {e}"),
                }
                true
            }
            Command::Noop | Command::Txn { .. } => unreachable!("not routed as Apply"),
        }
    }

    fn decide(&self, index: u64, commit: bool) {
        let mut state = self.state.borrow_mut();
        let frozen = state
            .frozen
            .take()
            .expect("decision without a pending transaction");
        assert_eq!(frozen.index, index, "decision for another transaction");
        if !commit {
            state.partition.undo_txn(frozen.undo);
        }
        // Replay what was held; a held transaction may freeze us again.
        while state.frozen.is_none() {
            let Some(msg) = state.held.pop_front() else {
                break;
            };
            drop(state);
            self.handle_now(msg);
            state = self.state.borrow_mut();
        }
        let thawed = state.frozen.is_none();
        drop(state);
        if thawed {
            self.thawed.notify_waiters();
        }
    }
}
