//! Sessions in the shell: reads of the local replica of the session table, and the leader's
//! TTL timers (`session::timers::SessionTimers`) driven on shard 0 of a server.
//!
//! The timers are the leader's alone: every second shard 0 of each server looks whether its
//! server leads. On becoming leader it re-arms every TTL session at full length from the
//! replicated table (as Consul's leader does after an election), so a session never dies
//! because of another machine's clock; while leading it arms new sessions, drops destroyed
//! ones and proposes a destroy for each that expires. A renew reaching any shard of the
//! leader is passed to shard 0 (`ShardMsg::RenewSession`).

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Indexed;
use crate::session::timers::SessionTimers;
use crate::session::Session;
use crate::state::{Command, WriteOutcome};

/// How often shard 0 looks at leadership and deadlines.
const TTL_TICK_MS: u64 = 500;

impl ShardCtx {
    /// `/v1/session/info/<id>`: zero or one session, from the local replica.
    pub fn session_info(&self, id: &str) -> Indexed<Vec<Session>> {
        self.catch_up();
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.get(id).cloned().into_iter().collect(),
            index: state.sessions.index(),
        }
    }

    /// `/v1/session/node/<node>`.
    pub fn sessions_of_node(&self, node: &str) -> Indexed<Vec<Session>> {
        self.catch_up();
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.of_node(node),
            index: state.sessions.index(),
        }
    }

    /// `/v1/session/list`.
    pub fn session_list(&self) -> Indexed<Vec<Session>> {
        self.catch_up();
        let state = self.state.borrow();
        Indexed {
            value: state.sessions.list(),
            index: state.sessions.index(),
        }
    }
}

/// Shard 0's TTL timers.
#[derive(Default)]
pub struct SessionTtl {
    timers: RefCell<SessionTimers>,
    leading: Cell<bool>,
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
            let expired = {
                let mut timers = ttl.timers.borrow_mut();
                if !ttl.leading.replace(true) {
                    timers.rearm(&sessions, now);
                } else {
                    timers.sync(&sessions, now);
                }
                timers.expired(now)
            };
            for id in expired {
                let ctx = ctx.clone();
                tokio::task::spawn_local(async move {
                    let cmd = Command::SessionDestroy { id: id.clone() };
                    if let WriteOutcome::Failed(e) = ctx.write(cmd).await {
                        eprintln!("    [WARN]  session: TTL expiry of {id} not written: {e}");
                    }
                });
            }
        }
    }
}
