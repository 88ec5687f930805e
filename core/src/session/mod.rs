//! Sessions, pure: the replicated table, the rules that create and invalidate them, and the
//! leader's TTL timers as plain data.
//!
//! Ownership: every shard keeps the whole table (`state::ShardMachine::sessions`), as every
//! shard keeps the nodes and their node-level checks. A KV owner shard then decides an
//! `acquire` from its own state, and when a session dies every shard releases (or deletes)
//! the keys *it* owns that the session held, in the same log entry, without asking anyone.
//! Every input to those decisions (sessions, nodes, node checks) is replicated on every
//! shard, so the shards agree (property-tested in `state/tests.rs`).
//!
//! What is not replicated, as in Consul: the lock-delay (when a key may be acquired again
//! after its holder died, on the clock of the server that applied the death; checked by the
//! leader before it proposes an acquire) and the TTL timers (the leader's, re-armed at full
//! length from the table when a server becomes leader).

pub mod timers;

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};

use crate::catalog::{CatalogShard, CRITICAL};

/// What happens to the keys a session holds when it dies (Consul's `Behavior`).
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    /// Keys stay; their `Session` is cleared (`LockIndex` kept).
    Release,
    /// Keys are deleted.
    Delete,
}

impl Behavior {
    /// Consul's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Release => "release",
            Behavior::Delete => "delete",
        }
    }
}

/// One session, as `/v1/session/info` shows it.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub name: String,
    pub node: String,
    /// Nanoseconds, as Consul's JSON has it.
    pub lock_delay_ns: u64,
    pub behavior: Behavior,
    /// As given (`"30s"`); empty for none.
    pub ttl: String,
    pub node_checks: Vec<String>,
    /// Service check IDs on the session's node.
    pub service_checks: Vec<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The session table a shard keeps (the same on every shard).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionTable {
    sessions: BTreeMap<String, Session>,
    /// The table's index (`X-Consul-Index` of session reads): the last create or destroy.
    index: u64,
}

impl SessionTable {
    /// Creates `session` at `index` if Consul would: its node is registered and every bound
    /// node check exists there and is not critical. `Err` carries Consul's text; nothing
    /// changes then. (Bound service checks are checked by the handler that proposes: a
    /// service check lives only on the shard that owns its service, and every shard must
    /// decide alike.)
    pub fn create(
        &mut self,
        index: u64,
        session: &Session,
        catalog: &CatalogShard,
    ) -> Result<(), String> {
        if catalog.node(&session.node).is_none() {
            return Err("Missing node registration".into());
        }
        let checks = catalog.node_level_checks(&session.node);
        for id in &session.node_checks {
            match checks.iter().find(|c| c.def.id == *id) {
                None => return Err(format!("Missing check '{id}' registration")),
                Some(c) if c.def.status == CRITICAL => {
                    return Err(format!("Check '{id}' is in critical state"))
                }
                Some(_) => {}
            }
        }
        if self.sessions.contains_key(&session.id) {
            // IDs are fresh UUIDs drawn by the proposer; a repeat is refused, not trusted.
            return Err(format!("Session '{}' already exists", session.id));
        }
        let mut session = session.clone();
        session.create_index = index;
        session.modify_index = index;
        self.sessions.insert(session.id.clone(), session);
        self.index = self.index.max(index);
        Ok(())
    }

    /// Removes a session; `None` when there is none by that ID (destroying it is still
    /// fine, as in Consul).
    pub fn destroy(&mut self, index: u64, id: &str) -> Option<Session> {
        let gone = self.sessions.remove(id)?;
        self.index = self.index.max(index);
        Some(gone)
    }

    /// The live session with this ID.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every session, by ID.
    pub fn list(&self) -> Vec<Session> {
        self.sessions.values().cloned().collect()
    }

    /// The sessions of one node.
    pub fn of_node(&self, node: &str) -> Vec<Session> {
        let on = |s: &&Session| s.node.eq_ignore_ascii_case(node);
        self.sessions.values().filter(on).cloned().collect()
    }

    /// The table's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Sessions the catalog now invalidates: their node is gone, or one of their node checks
    /// is gone or critical. In ID order (every shard computes the same list).
    pub fn invalidated_by(&self, catalog: &CatalogShard) -> Vec<String> {
        let mut dead = Vec::new();
        for s in self.sessions.values() {
            let alive = catalog.node(&s.node).is_some() && {
                let checks = catalog.node_level_checks(&s.node);
                s.node_checks.iter().all(|id| {
                    checks
                        .iter()
                        .any(|c| c.def.id == *id && c.def.status != CRITICAL)
                })
            };
            if !alive {
                dead.push(s.id.clone());
            }
        }
        dead
    }

    /// The table as a snapshot holds it.
    pub fn export(&self) -> Vec<Session> {
        self.list()
    }

    /// Replaces the table with a snapshot's, as of `index`.
    pub fn restore(&mut self, index: u64, sessions: &[Session]) {
        self.sessions = sessions.iter().map(|s| (s.id.clone(), s.clone())).collect();
        let newest = sessions.iter().map(|s| s.modify_index).max().unwrap_or(0);
        self.index = index.max(newest);
    }
}

#[cfg(test)]
mod tests;
