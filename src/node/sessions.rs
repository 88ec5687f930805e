//! Sessions in the shell: reads of the local replica of the session table, and the leader's
//! TTL timers (`session::timers::SessionTimers`) driven on shard 0 of a server.
//!
//! The timers are the leader's alone: every second shard 0 of each server looks whether its
//! server leads. On becoming leader it re-arms every TTL session at full length from the
//! replicated table (as Consul's leader does after an election), so a session never dies
//! because of another machine's clock; while leading it arms new sessions, drops destroyed
//! ones and proposes a destroy for each that expires. A renew reaching any shard of the
//! leader is passed to shard 0 (`ShardMsg::RenewSession`). The same loop destroys sessions
//! whose bound service check is gone or critical (`failed_service_checks`).

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::catalog::CRITICAL;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Indexed;
use crate::session::timers::SessionTimers;
use crate::session::Session;
use crate::state::{Command, WriteOutcome};

/// How often shard 0 looks at leadership and deadlines.
const TTL_TICK_MS: u64 = 500;

impl ShardCtx {
    /// `/v1/session/info/<id>`: zero or one session, from the local replica. Like every
    /// local read, it first applies what waits in this shard's inbox, and waits out a frozen
    /// transaction (a session created after it is queued behind it).
    pub async fn session_info(&self, id: &str) -> Indexed<Vec<Session>> {
        self.catch_up();
        self.until_thawed().await;
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.get(id).cloned().into_iter().collect(),
            index: state.sessions.index(),
        }
    }

    /// `/v1/session/node/<node>`.
    pub async fn sessions_of_node(&self, node: &str) -> Indexed<Vec<Session>> {
        self.catch_up();
        self.until_thawed().await;
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.of_node(node),
            index: state.sessions.index(),
        }
    }

    /// `/v1/session/list`.
    pub async fn session_list(&self) -> Indexed<Vec<Session>> {
        self.catch_up();
        self.until_thawed().await;
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.list(),
            index: state.sessions.index(),
        }
    }
}

/// Sessions bound to a service check that is gone or critical. A service check lives only
/// on the shard that owns its service, so the shards cannot decide this alike when the
/// check changes (as they do for node checks); the leader sweeps for it every tick instead.
async fn failed_service_checks(ctx: &ShardCtx, bound: &[Session]) -> Vec<String> {
    let mut dead = Vec::new();
    for s in bound {
        let Ok(checks) = ctx.node_checks(&s.node).await else {
            continue; // busy: the next tick looks again
        };
        let failed = s.service_checks.iter().any(|id| {
            let found = checks.value.iter().find(|c| c.def.id == *id);
            found.is_none_or(|c| c.def.status == CRITICAL)
        });
        if failed {
            dead.push(s.id.clone());
        }
    }
    dead
}

/// Shard 0's TTL timers.
#[derive(Default)]
pub struct SessionTtl {
    timers: RefCell<SessionTimers>,
    leading: Cell<bool>,
    /// The term this server led in at the last tick: a new term means leadership was lost
    /// and regained in between (renews may have gone to another leader), so re-arm.
    term: Cell<u64>,
}

impl SessionTtl {
    /// A renew: the session's timer starts over (only while this server leads).
    pub fn renew(&self, session: &Session, now_ms: u64) {
        if self.leading.get() {
            self.timers.borrow_mut().arm(session, now_ms);
        }
    }

    /// The loop on shard 0 of a server; `now_ms` is the agent's monotonic clock.
    pub async fn run(ctx: ShardCtx, now_ms: impl Fn() -> u64) {
        let ttl = ctx.session_ttl.clone().expect("shard 0 of a server");
        loop {
            tokio::time::sleep(Duration::from_millis(TTL_TICK_MS)).await;
            let leading = ctx.mesh.status.is_leader.load(Ordering::Relaxed);
            let now = now_ms();
            if !leading {
                ttl.leading.set(false);
                continue;
            }
            ctx.catch_up();
            let sessions = ctx.state.borrow().sessions.list();
            let term = ctx.mesh.status.term.load(Ordering::Relaxed);
            let expired = {
                let mut timers = ttl.timers.borrow_mut();
                let new_term = ttl.term.replace(term) != term;
                if !ttl.leading.replace(true) || new_term {
                    timers.rearm(&sessions, now);
                } else {
                    timers.sync(&sessions, now);
                }
                timers.expired(now)
            };
            let bound: Vec<Session> = sessions
                .into_iter()
                .filter(|s| !s.service_checks.is_empty())
                .collect();
            let dead = expired
                .into_iter()
                .chain(failed_service_checks(&ctx, &bound).await);
            for id in dead {
                let ctx = ctx.clone();
                tokio::task::spawn_local(async move {
                    let cmd = Command::SessionDestroy { id: id.clone() };
                    if let WriteOutcome::Failed(e) = ctx.write(cmd).await {
                        tracing::warn!(target: "agent.session", "TTL expiry of {id} not written: {e}");
                    }
                });
            }
        }
    }
}
