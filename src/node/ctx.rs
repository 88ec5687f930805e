//! One shard core's inbox loop: the shell around its `state::ShardMachine`.
//!
//! The machine (`Rc<RefCell<_>>`, `!Send` by construction) holds what this shard owns; it is
//! changed only by `ShardMsg::Apply` from the Raft core, in index order, and by the
//! coordinator's decisions (`Inbox::take_decision`). This file moves messages and performs
//! the machine's effects (replies, votes, wake-ups), nothing else.
//!
//! While a multi-shard transaction is undecided the shard is frozen: it stops draining its
//! inbox, so everything after the transaction waits in the bounded ring (senders see it full
//! and answer 429, or the Raft core keeps coordinating while it waits; see
//! `RaftCore::deliver`), and only the decision slot is read.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use crate::mesh::{ForwardedRequest, Mesh, RaftInput, ShardMsg};
use crate::node::agent_runtime::AgentRuntime;
use crate::state::{CatalogAnswer, CatalogQuery, Effects, KvAnswer, KvQuery, ShardMachine};

/// Messages handled per inbox turn before yielding to HTTP tasks.
const INBOX_BATCH_MAX: usize = 256;

/// Everything a task on a shard needs: its state, the mesh, and local wake-ups.
#[derive(Clone)]
pub struct ShardCtx {
    pub id: usize,
    pub state: Rc<RefCell<ShardMachine>>,
    pub mesh: Mesh,
    /// Notified whenever `committed` grows (blocking queries re-check).
    pub changed: Rc<Notify>,
    /// Notified when a frozen transaction is decided (reads on this shard resume).
    pub thawed: Rc<Notify>,
    /// The agent's local state and loops: only on shard 0 (other shards forward to it).
    pub agent: Option<Rc<AgentRuntime>>,
    /// Serves a local-agent request forwarded to shard 0 (the shell's HTTP handler).
    serve_agent_api: ServeAgentApi,
    /// The leader's session TTL timers: only on shard 0 of a server.
    pub session_ttl: Option<Rc<crate::node::sessions::SessionTtl>>,
    /// Tokens this shard resolved (`node::acl`).
    pub acl_cache: Rc<RefCell<crate::node::acl::AclCache>>,
}

/// How shard 0 serves a forwarded local-agent request; installed by the shell so that this
/// layer never names the HTTP handlers.
pub type ServeAgentApi = fn(&ShardCtx, Box<ForwardedRequest>);

impl ShardCtx {
    /// A context for shard `id`.
    pub fn new(id: usize, mesh: Mesh, serve_agent_api: ServeAgentApi) -> ShardCtx {
        let state = ShardMachine::new(id, mesh.shards.len());
        ShardCtx {
            id,
            state: Rc::new(RefCell::new(state)),
            mesh,
            changed: Rc::new(Notify::new()),
            thawed: Rc::new(Notify::new()),
            agent: None,
            serve_agent_api,
            session_ttl: None,
            acl_cache: crate::node::acl::new_cache(),
        }
    }

    /// Shard 0's agent runtime. Only called on shard 0 (`http` forwards agent requests there).
    pub fn agent(&self) -> &AgentRuntime {
        self.agent
            .as_deref()
            .expect("the agent runtime lives on shard 0")
    }

    /// Restarts a session's TTL timer, which lives on shard 0 (`node::sessions`). `false`
    /// when the session does not exist here.
    pub fn renew_session(&self, id: &str) -> bool {
        let Some(session) = self.state.borrow().sessions.get(id).cloned() else {
            return false;
        };
        match (&self.session_ttl, &self.agent) {
            (Some(ttl), Some(agent)) => ttl.renew(&session, agent.now_ms()),
            // Shard 0 of an agent that is no server keeps no timers (renews reach the leader).
            _ if self.id == 0 => {}
            _ => {
                let id = id.to_string();
                // A full inbox drops the renew; the client renews again within its TTL.
                let _ = self.mesh.shards[0].try_send(ShardMsg::RenewSession { id });
            }
        }
        true
    }

    /// Sends a local-agent request to shard 0 and waits for its answer.
    pub async fn forward_to_agent(
        &self,
        route: crate::http::route::Route,
        request: crate::http::request::ApiRequest,
    ) -> crate::http::response::Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = ShardMsg::AgentApi(Box::new(ForwardedRequest {
            route,
            request,
            reply: tx,
        }));
        if self.mesh.shards[0].try_send(msg).is_err() {
            return crate::http::response::Reply::error(&crate::error::ApiError::RateLimited);
        }
        let lost = || crate::http::response::Reply::text(500, "agent shard did not answer");
        rx.await.unwrap_or_else(|_| lost())
    }

    /// Applies what already waits in this shard's inbox, before a read answered from this
    /// shard's own state: a write is acknowledged once its apply is *queued* at every shard
    /// it touches (catalog commands, delete-tree, multi-shard txns), so a local read that
    /// skipped the queue could miss it under load. Same thread, same FIFO order as
    /// `run_inbox`; bounded to what was there when the read started. A frozen shard takes
    /// nothing (the read waits in `until_thawed`).
    pub fn catch_up(&self) {
        let inbox = &self.mesh.shards[self.id];
        self.take_decision();
        for _ in 0..inbox.len() {
            if self.state.borrow().is_frozen() {
                break;
            }
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
            self.take_decision();
            while !self.state.borrow().is_frozen() {
                let Some(msg) = inbox.try_recv() else {
                    break;
                };
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
            if !self.state.borrow().is_frozen() {
                return;
            }
            thawed.await;
        }
    }

    /// Answers a read against this shard's partition (caller made sure it is thawed).
    pub fn answer(&self, query: &KvQuery) -> KvAnswer {
        self.state.borrow().answer_kv(query)
    }

    /// Answers a catalog read against this shard. Transactions hold only KV ops today, so a
    /// local catalog read need not wait for a frozen transaction; a remote one
    /// (`ShardMsg::Catalog`) waits with the rest of the inbox while this shard is frozen.
    pub fn catalog_answer(&self, query: &CatalogQuery) -> CatalogAnswer {
        self.state.borrow().answer_catalog(query)
    }

    /// Applies the coordinator's decision if one waits; the shard is thawed after it.
    fn take_decision(&self) {
        let Some((index, commit)) = self.mesh.shards[self.id].take_decision() else {
            return;
        };
        let effects = self.state.borrow_mut().decide(index, commit);
        self.perform(effects, None);
    }

    /// Does what the machine asked: the proposer's answer, a vote, wake-ups, a warning.
    fn perform(&self, effects: Effects, reply: Option<crate::mesh::WriteReply>) {
        let catalog_index = self.state.borrow().catalog.index_max();
        self.mesh.catalog_indexes[self.id].store(catalog_index, Ordering::Release);
        let Effects {
            outcome,
            vote,
            thawed,
            proposals,
            warning,
        } = effects;
        if let (Some(outcome), Some(reply)) = (outcome, reply) {
            let _ = reply.send(outcome);
        }
        if let Some(vote) = vote {
            // Never waits: the vote queue has a slot per shard (see `Mesh::votes`).
            let _ = self.mesh.votes.send(RaftInput::TxnVote(vote));
        }
        if thawed {
            self.thawed.notify_waiters();
        }
        assert!(
            proposals.is_empty(),
            "no command proposes follow-up writes yet"
        );
        if let Some(warning) = warning {
            tracing::error!(target: "agent", "shard {}: {warning}", self.id);
        }
    }

    fn handle(&self, msg: ShardMsg) {
        debug_assert!(
            !self.state.borrow().is_frozen(),
            "a frozen shard takes nothing"
        );
        match msg {
            ShardMsg::Apply { index, work, reply } => {
                let now_ms = crate::io::host::unix_ms();
                let effects = self.state.borrow_mut().apply(index, work, now_ms);
                self.perform(effects, reply);
                self.mesh.shards[self.id].mark_applied(index);
            }
            ShardMsg::Committed { index } => {
                if self.state.borrow_mut().advance(index) {
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
                // The copy stops this shard's applies while it runs: say so when it is long.
                let started = std::time::Instant::now();
                let sent = reply.send(self.state.borrow().export()).is_ok();
                let ms = started.elapsed().as_millis() as u64;
                match ms >= crate::config::SNAPSHOT_EXPORT_SLOW_MS {
                    true => {
                        tracing::info!(target: "agent", shard = self.id, sent, ms, "snapshot part exported (applies waited)")
                    }
                    false => {
                        tracing::debug!(target: "agent", shard = self.id, sent, ms, "snapshot part exported")
                    }
                }
            }
            ShardMsg::AgentApi(forwarded) => (self.serve_agent_api)(self, forwarded),
            ShardMsg::RenewSession { id } => {
                self.renew_session(&id);
            }
            ShardMsg::ReloadDefinitions { definitions, reply } => {
                if let Some(agent) = &self.agent {
                    agent.load_file_definitions(self, *definitions);
                    // As Consul's reload: a full anti-entropy round, not just the changes.
                    agent.request_full_sync();
                }
                let _ = reply.send(());
            }
        }
    }
}
