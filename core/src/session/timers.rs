//! The leader's session TTL timers, as data: deadlines in, expired sessions out. The shell
//! (`node::session_ttl`) keeps one on shard 0 of a server, feeds it the time, and proposes a
//! destroy for what expires. Not replicated: a new leader re-arms every TTL session at full
//! length from the replicated table (`rearm`), as Consul's leader does, so no session dies
//! because of a clock on another machine.

use std::collections::BTreeMap;

use super::Session;
use crate::http::query::parse_go_duration;

/// Consul waits twice the TTL before it invalidates a session (`SessionTTLMultiplier`).
pub const TTL_MULTIPLIER: u64 = 2;
/// After proposing a destroy, wait this long before proposing it again (the first may have
/// been lost with a leadership change).
pub const EXPIRY_RETRY_MS: u64 = 5_000;

/// Deadlines of the sessions that have a TTL, in ms on the shell's clock.
#[derive(Debug, Default)]
pub struct SessionTimers {
    deadlines: BTreeMap<String, u64>,
}

/// A session's TTL in ms (`None` for no TTL, or one that does not parse).
pub fn ttl_ms(session: &Session) -> Option<u64> {
    let ttl = parse_go_duration(&session.ttl)?;
    let ms = ttl.as_millis() as u64;
    (ms > 0).then_some(ms)
}

impl SessionTimers {
    /// Forgets every timer and arms one per TTL session at full length from `now_ms` (a new
    /// leader, or one that lost and regained leadership).
    pub fn rearm(&mut self, sessions: &[Session], now_ms: u64) {
        self.deadlines.clear();
        for s in sessions {
            self.arm(s, now_ms);
        }
    }

    /// Arms (or re-arms) the timer of one session: `TTL_MULTIPLIER × TTL` from now.
    pub fn arm(&mut self, session: &Session, now_ms: u64) {
        if let Some(ttl) = ttl_ms(session) {
            let deadline = now_ms.saturating_add(ttl.saturating_mul(TTL_MULTIPLIER));
            self.deadlines.insert(session.id.clone(), deadline);
        }
    }

    /// Brings the timers in line with the table: new TTL sessions armed at full length,
    /// destroyed ones dropped; running timers are left as they are.
    pub fn sync(&mut self, sessions: &[Session], now_ms: u64) {
        let live: std::collections::BTreeSet<&str> =
            sessions.iter().map(|s| s.id.as_str()).collect();
        self.deadlines.retain(|id, _| live.contains(id.as_str()));
        for s in sessions {
            if !self.deadlines.contains_key(&s.id) {
                self.arm(s, now_ms);
            }
        }
    }

    /// Drops a session's timer (it was destroyed).
    pub fn remove(&mut self, id: &str) {
        self.deadlines.remove(id);
    }

    /// Sessions whose deadline has passed. Each is given `EXPIRY_RETRY_MS` more, so it is
    /// reported again only if its destroy did not commit meanwhile.
    pub fn expired(&mut self, now_ms: u64) -> Vec<String> {
        let due: Vec<String> = self
            .deadlines
            .iter()
            .filter(|(_, &deadline)| deadline <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &due {
            self.deadlines.insert(id.clone(), now_ms + EXPIRY_RETRY_MS);
        }
        due
    }

    /// The earliest deadline, for the shell's sleep.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.values().copied().min()
    }

    /// Timers armed.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// True when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}
