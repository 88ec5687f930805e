//! The sharded machines against one unsharded machine: the same commands placed over
//! 2–4 shards (multi-shard transactions through the coordinator) give the same answers and
//! the same state as on one shard, including after a snapshot and restore.

use proptest::prelude::*;

use super::*;
use crate::kv::{KvVerb, TxnKvOp};
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
                let effects = self.machines[shard].apply(index, work);
                assert!(effects.vote.is_none());
                effects.outcome.expect("the owner answers")
            }
            Placement::Every(cmd) => {
                let mut first = None;
                for m in &mut self.machines {
                    let effects = m.apply(index, ShardWork::Command(cmd.clone()));
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
                    let effects = self.machines[shard].apply(index, work);
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
    ]);
    (verb, key(), 0u64..40, any::<u8>()).prop_map(|(verb, key, index, v)| TxnKvOp {
        verb,
        key,
        value: Some(vec![v]),
        flags: v as u64,
        index,
        session: String::new(),
    })
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (key(), any::<u8>(), prop::option::of(0u64..40)).prop_map(|(key, v, cas)| {
            Command::KvSet {
                key,
                value: Some(vec![v]),
                flags: 0,
                cas,
            }
        }),
        (key(), prop::option::of(0u64..40)).prop_map(|(key, cas)| Command::KvDelete { key, cas }),
        key().prop_map(|k| Command::KvDeleteTree {
            prefix: k[..k.len() - 2].to_string()
        }),
        prop::collection::vec(op(), 1..6).prop_map(|ops| Command::Txn { ops }),
        Just(Command::Noop),
    ]
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
    let _ = m.apply(5, ShardWork::Command(cmd.clone()));
    let _ = m.apply(5, ShardWork::Command(cmd));
}
