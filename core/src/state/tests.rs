//! The sharded machines against one unsharded machine: the same commands placed over
//! 2–4 shards (multi-shard transactions through the coordinator) give the same answers and
//! the same state as on one shard, including after a snapshot and restore.

use proptest::prelude::*;

use super::*;
use crate::catalog::CatalogCommand;
use crate::kv::{KvVerb, TxnKvOp};
use crate::raft::sim::{sim_node_health, sim_session};
use crate::session::{Behavior, Session};
use crate::snapshot::StateSnapshot;

/// Applies committed commands to a node's machines the way the Raft core dispatches them,
/// one at a time, with the coordinator in the loop.
struct Node {
    machines: Vec<ShardMachine>,
    coordinator: TxnCoordinator<()>,
}

impl Node {
    fn new(shards: usize) -> Node {
        Node {
            machines: (0..shards).map(|i| ShardMachine::new(i, shards)).collect(),
            coordinator: TxnCoordinator::default(),
        }
    }

    fn apply(&mut self, index: u64, cmd: Command) -> WriteOutcome {
        let outcome = match place(cmd, self.machines.len()) {
            Placement::Nowhere(outcome) => outcome,
            Placement::One { shard, work } => {
                let effects = self.machines[shard].apply(index, work, index);
                assert!(effects.vote.is_none());
                effects.outcome.expect("the owner answers")
            }
            Placement::Every(cmd) => {
                let mut first = None;
                for m in &mut self.machines {
                    let effects = m.apply(index, ShardWork::Command(cmd.clone()), index);
                    first.get_or_insert(effects.outcome.expect("each shard reports"));
                }
                first.expect("at least one shard")
            }
            Placement::Txn { parts } => {
                let participants = parts.iter().map(|(s, _)| *s).collect();
                self.coordinator.begin(index, participants, Some(()));
                let mut decision = None;
                for (shard, ops) in parts {
                    let work = ShardWork::TxnPart { ops, alone: false };
                    let effects = self.machines[shard].apply(index, work, index);
                    assert!(self.machines[shard].is_frozen());
                    let vote = effects.vote.expect("a participant votes");
                    if let Some(d) = self.coordinator.vote(vote) {
                        decision = Some(d);
                    }
                }
                let decision = decision.expect("every vote is in");
                for &s in &decision.participants {
                    assert!(self.machines[s].decide(index, decision.commit).thawed);
                }
                decision.outcome
            }
        };
        for m in &mut self.machines {
            let _ = m.advance(index);
        }
        assert!(self.coordinator.is_empty());
        outcome
    }

    fn export(&self) -> StateSnapshot {
        let mut all = StateSnapshot::default();
        for m in &self.machines {
            all.merge(m.export());
        }
        all.normalize();
        all
    }
}

fn key() -> impl Strategy<Value = String> {
    // A few prefixes so trees and shards overlap.
    (prop::sample::select(vec!["a/", "a/b/", "b/", ""]), 0u8..6)
        .prop_map(|(p, k)| format!("{p}k{k}"))
}

fn op() -> impl Strategy<Value = TxnKvOp> {
    let verb = prop::sample::select(vec![
        KvVerb::Set,
        KvVerb::Cas,
        KvVerb::Get,
        KvVerb::GetTree,
        KvVerb::CheckIndex,
        KvVerb::CheckNotExists,
        KvVerb::Delete,
        KvVerb::DeleteTree,
        KvVerb::DeleteCas,
        KvVerb::Lock,
        KvVerb::Unlock,
        KvVerb::CheckSession,
    ]);
    (verb, key(), 0u64..40, any::<u8>()).prop_map(|(verb, key, index, v)| TxnKvOp {
        verb,
        key,
        value: Some(vec![v]),
        flags: v as u64,
        index,
        session: format!("s{}", v % 5), // s4 never exists
    })
}

fn session(id: u8, node: u8, delete: bool, bound: bool) -> Session {
    let mut s = sim_session(&format!("s{id}"), node);
    if delete {
        s.behavior = Behavior::Delete;
    }
    if !bound {
        s.node_checks.clear();
    }
    s
}

/// Sessions, locks and the catalog changes that kill sessions.
fn session_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (0u8..2, any::<bool>()).prop_map(|(n, up)| sim_node_health(n, up)),
        (0u8..2).prop_map(|n| Command::Catalog(CatalogCommand::Deregister {
            node: format!("n{n}"),
            service_id: None,
            check_id: None,
        })),
        (0u8..4, 0u8..2, any::<bool>(), any::<bool>()).prop_map(|(id, n, delete, bound)| {
            Command::SessionCreate(Box::new(session(id, n, delete, bound)))
        }),
        (0u8..4).prop_map(|id| Command::SessionDestroy {
            id: format!("s{id}")
        }),
        (key(), 0u8..4, any::<bool>(), any::<u8>()).prop_map(|(key, id, acquire, v)| {
            Command::KvLock(Box::new(KvLock {
                key,
                value: Some(vec![v]),
                flags: 0,
                session: format!("s{id}"),
                acquire,
            }))
        }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => session_command(),
        1 => (key(), any::<u8>(), prop::option::of(0u64..40)).prop_map(|(key, v, cas)| {
            Command::KvSet {
                key,
                value: Some(vec![v]),
                flags: 0,
                cas,
            }
        }),
        1 => (key(), prop::option::of(0u64..40)).prop_map(|(key, cas)| Command::KvDelete { key, cas }),
        1 => key().prop_map(|k| Command::KvDeleteTree {
            prefix: k[..k.len() - 2].to_string()
        }),
        1 => prop::collection::vec(op(), 1..6).prop_map(|ops| Command::Txn { ops }),
        1 => Just(Command::Noop),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sharded_machines_match_one_machine(
        shards in 2usize..5,
        cmds in prop::collection::vec(command(), 1..60),
    ) {
        let mut one = Node::new(1);
        let mut many = Node::new(shards);
        for (i, cmd) in cmds.into_iter().enumerate() {
            let index = i as u64 + 2;
            let expected = one.apply(index, cmd.clone());
            let got = many.apply(index, cmd);
            prop_assert_eq!(&got, &expected, "answer at index {}", index);
        }
        let state = one.export();
        prop_assert_eq!(&many.export(), &state);
        // A snapshot restores to the same state on any shard count.
        let body = state.encode_body();
        let mut restored = Node::new(shards);
        let _ = restored.apply(1_000, Command::Restore { snapshot: body });
        prop_assert_eq!(&restored.export(), &state);
    }
}

#[test]
fn an_aborted_multi_shard_transaction_changes_nothing() {
    let mut node = Node::new(4);
    let set = |key: &str| TxnKvOp {
        verb: KvVerb::Set,
        key: key.into(),
        value: Some(b"v".to_vec()),
        flags: 0,
        index: 0,
        session: String::new(),
    };
    let keys = ["a", "b", "c", "d", "e", "f"];
    let before = node.export();
    let mut ops: Vec<TxnKvOp> = keys.iter().map(|k| set(k)).collect();
    ops.push(TxnKvOp {
        verb: KvVerb::CheckIndex,
        index: 99,
        ..set("a")
    });
    let outcome = node.apply(2, Command::Txn { ops });
    let WriteOutcome::Txn { results, errors } = outcome else {
        panic!("a transaction answers as one");
    };
    assert!(results.is_empty());
    assert_eq!(errors.len(), 1, "the failed check-index is reported");
    assert_eq!(node.export(), before, "every participant undid its part");
    assert!(node.machines.iter().all(|m| !m.is_frozen()));
}

#[test]
#[should_panic(expected = "apply order is index order")]
fn an_entry_applied_twice_is_refused() {
    let mut m = ShardMachine::new(0, 1);
    let cmd = Command::KvDelete {
        key: "k".into(),
        cas: None,
    };
    let _ = m.apply(5, ShardWork::Command(cmd.clone()), 0);
    let _ = m.apply(5, ShardWork::Command(cmd), 0);
}

/// One step of the lock model test.
#[derive(Debug, Clone)]
enum LockOp {
    Health(u8, bool),
    Deregister(u8),
    Create(u8, u8, bool, bool),
    Destroy(u8),
    Lock(String, u8, bool),
    Set(String),
    Delete(String),
}

fn lock_op() -> impl Strategy<Value = LockOp> {
    prop_oneof![
        1 => (0u8..2, any::<bool>()).prop_map(|(n, up)| LockOp::Health(n, up)),
        1 => (0u8..2).prop_map(LockOp::Deregister),
        1 => (0u8..4, 0u8..2, any::<bool>(), any::<bool>())
            .prop_map(|(id, n, d, b)| LockOp::Create(id, n, d, b)),
        1 => (0u8..4).prop_map(LockOp::Destroy),
        3 => (key(), 0u8..4, any::<bool>()).prop_map(|(k, id, a)| LockOp::Lock(k, id, a)),
        1 => key().prop_map(LockOp::Set),
        1 => key().prop_map(LockOp::Delete),
    ]
}

/// What the model keeps of a session: its node, whether it deletes, whether serfHealth binds it.
type ModelSession = (u8, bool, bool);

#[derive(Default)]
struct LockModel {
    /// Registered nodes and whether their serfHealth passes.
    nodes: std::collections::BTreeMap<u8, bool>,
    sessions: std::collections::BTreeMap<u8, ModelSession>,
    /// key → (value byte, lock index, holder).
    keys: std::collections::BTreeMap<String, (Option<u8>, u64, Option<u8>)>,
    delays: std::collections::BTreeMap<String, u64>,
}

impl LockModel {
    fn kill(&mut self, id: u8, now: u64) {
        let Some((_, delete, _)) = self.sessions.remove(&id) else {
            return;
        };
        let held: Vec<String> = self
            .keys
            .iter()
            .filter(|(_, (_, _, holder))| *holder == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        for k in held {
            match delete {
                true => drop(self.keys.remove(&k)),
                false => self.keys.get_mut(&k).unwrap().2 = None,
            }
            self.delays.insert(k, now + 15_000);
        }
    }

    fn reap(&mut self, now: u64) {
        let dead: Vec<u8> = self
            .sessions
            .iter()
            .filter(|(_, (n, _, bound))| match self.nodes.get(n) {
                None => true,
                Some(up) => *bound && !up,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.kill(id, now);
        }
    }

    /// The outcome Consul gives, applying the op to the model.
    fn apply(&mut self, op: &LockOp, now: u64) -> WriteOutcome {
        let ok = match op {
            LockOp::Health(n, up) => {
                self.nodes.insert(*n, *up);
                self.reap(now);
                true
            }
            LockOp::Deregister(n) => {
                self.nodes.remove(n);
                self.reap(now);
                true
            }
            LockOp::Create(id, n, delete, bound) => {
                let refused = match self.nodes.get(n) {
                    None => Some("Missing node registration".to_string()),
                    Some(false) if *bound => Some("Check 'serfHealth' is in critical state".into()),
                    _ if self.sessions.contains_key(id) => {
                        Some(format!("Session 's{id}' already exists"))
                    }
                    _ => None,
                };
                if let Some(text) = refused {
                    return WriteOutcome::Failed(crate::error::ApiError::Internal(text));
                }
                self.sessions.insert(*id, (*n, *delete, *bound));
                true
            }
            LockOp::Destroy(id) => {
                self.kill(*id, now);
                true
            }
            LockOp::Lock(k, id, true) => {
                if !self.sessions.contains_key(id) {
                    let text = format!("invalid session \"s{id}\"");
                    return WriteOutcome::Failed(crate::error::ApiError::Internal(text));
                }
                match self.keys.get(k).copied() {
                    Some((_, li, Some(h))) if h == *id => {
                        self.keys.insert(k.clone(), (Some(*id), li, Some(*id)))
                    }
                    Some((_, _, Some(_))) => return WriteOutcome::Bool(false),
                    Some((_, li, None)) => {
                        self.keys.insert(k.clone(), (Some(*id), li + 1, Some(*id)))
                    }
                    None => self.keys.insert(k.clone(), (Some(*id), 1, Some(*id))),
                };
                true
            }
            LockOp::Lock(k, id, false) => match self.keys.get(k).copied() {
                Some((_, li, Some(h))) if h == *id => {
                    self.keys.insert(k.clone(), (Some(*id), li, None));
                    true
                }
                _ => false,
            },
            LockOp::Set(k) => {
                let (li, holder) = self.keys.get(k).map_or((0, None), |e| (e.1, e.2));
                self.keys.insert(k.clone(), (Some(200), li, holder));
                true
            }
            LockOp::Delete(k) => {
                self.keys.remove(k);
                true
            }
        };
        WriteOutcome::Bool(ok)
    }
}

fn lock_command(op: &LockOp) -> Command {
    match op {
        LockOp::Health(n, up) => sim_node_health(*n, *up),
        LockOp::Deregister(n) => Command::Catalog(CatalogCommand::Deregister {
            node: format!("n{n}"),
            service_id: None,
            check_id: None,
        }),
        LockOp::Create(id, n, d, b) => Command::SessionCreate(Box::new(session(*id, *n, *d, *b))),
        LockOp::Destroy(id) => Command::SessionDestroy {
            id: format!("s{id}"),
        },
        LockOp::Lock(key, id, acquire) => Command::KvLock(Box::new(KvLock {
            key: key.clone(),
            value: Some(vec![*id]),
            flags: 0,
            session: format!("s{id}"),
            acquire: *acquire,
        })),
        LockOp::Set(key) => Command::KvSet {
            key: key.clone(),
            value: Some(vec![200]),
            flags: 0,
            cas: None,
        },
        LockOp::Delete(key) => Command::KvDelete {
            key: key.clone(),
            cas: None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Acquire, release, invalidation (destroy, a critical or missing serfHealth, a removed
    /// node), both behaviors and the lock-delay, against a small model; then a snapshot
    /// restores the same locks and sessions.
    #[test]
    fn locks_follow_the_model(ops in prop::collection::vec(lock_op(), 1..80)) {
        let mut node = Node::new(1);
        let mut model = LockModel::default();
        for (i, op) in ops.iter().enumerate() {
            let index = i as u64 + 2;
            let expected = model.apply(op, index);
            let got = node.apply(index, lock_command(op));
            prop_assert_eq!(&got, &expected, "{:?} at {}", op, index);
            let m = &node.machines[0];
            let (entries, _) = m.kv.list("");
            let seen: std::collections::BTreeMap<String, (Option<u8>, u64, Option<u8>)> = entries
                .iter()
                .map(|e| {
                    let holder = e.session.strip_prefix('s').map(|h| h.parse().unwrap());
                    let value = e.value.as_ref().map(|v| v[0]);
                    (e.key.clone(), (value, e.lock_index, holder))
                })
                .collect();
            prop_assert_eq!(&seen, &model.keys);
            for k in model.delays.keys().chain(model.keys.keys()) {
                let want = model.delays.get(k).copied().filter(|&u| u > index).unwrap_or(0);
                prop_assert_eq!(m.lock_delay(k, index), want, "lock-delay of {}", k);
            }
            let live: Vec<String> = m.sessions.list().into_iter().map(|s| s.id).collect();
            let want: Vec<String> = model.sessions.keys().map(|id| format!("s{id}")).collect();
            prop_assert_eq!(live, want);
        }
        let state = node.export();
        let mut restored = Node::new(3);
        let _ = restored.apply(1_000, Command::Restore { snapshot: state.encode_body() });
        prop_assert_eq!(restored.export(), state);
    }
}
