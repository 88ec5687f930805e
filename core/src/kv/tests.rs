//! Model-based tests: the partition against a plain `BTreeMap` model, and the shard map.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::state::Command;

/// The model: key → (value, flags, create index, modify index). Deliberately naive.
#[derive(Default)]
struct Model {
    kv: BTreeMap<String, (Vec<u8>, u64, u64, u64)>,
}

#[derive(Debug, Clone)]
enum Op {
    Set(String, Vec<u8>, u64),
    Cas(String, Vec<u8>, u64 /* how far from the true index */),
    Delete(String),
    DeleteCas(String, u64),
    DeleteTree(String),
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "a/b", "a/c", "ab", "b", "b/x/y", ""]).prop_map(String::from)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), prop::collection::vec(any::<u8>(), 0..3), 0u64..3)
            .prop_map(|(k, v, f)| Op::Set(k, v, f)),
        (key(), prop::collection::vec(any::<u8>(), 0..3), 0u64..2)
            .prop_map(|(k, v, d)| Op::Cas(k, v, d)),
        key().prop_map(Op::Delete),
        (key(), 0u64..2).prop_map(|(k, d)| Op::DeleteCas(k, d)),
        prop::sample::select(vec!["a", "b/", ""]).prop_map(|p| Op::DeleteTree(p.into())),
    ]
}

proptest! {
    #[test]
    fn partition_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut part = KvPartition::default();
        let mut model = Model::default();
        for (i, op) in ops.into_iter().enumerate() {
            let index = i as u64 + 1;
            match op {
                Op::Set(k, v, f) => {
                    prop_assert!(part.apply_set(index, &k, Some(Bytes::from(v.clone())), f, None));
                    match model.kv.get_mut(&k) {
                        Some(e) if e.0 == v && e.1 == f => {}
                        Some(e) => { e.0 = v; e.1 = f; e.3 = index; }
                        None => { model.kv.insert(k, (v, f, index, index)); }
                    }
                }
                Op::Cas(k, v, d) => {
                    let cas = model.kv.get(&k).map(|e| e.3 + d).unwrap_or(d);
                    let expect = match model.kv.get(&k) {
                        Some(e) => cas != 0 && e.3 == cas,
                        None => cas == 0,
                    };
                    let got = part.apply_set(index, &k, Some(Bytes::from(v.clone())), 0, Some(cas));
                    prop_assert_eq!(got, expect);
                    if expect {
                        match model.kv.get_mut(&k) {
                            Some(e) if e.0 == v && e.1 == 0 => {}
                            Some(e) => { e.0 = v; e.1 = 0; e.3 = index; }
                            None => { model.kv.insert(k, (v, 0, index, index)); }
                        }
                    } else {
                        part.advance(index);
                    }
                }
                Op::Delete(k) => {
                    prop_assert!(part.apply_delete(index, &k, None));
                    model.kv.remove(&k);
                }
                Op::DeleteCas(k, d) => {
                    let cas = model.kv.get(&k).map(|e| e.3 + d).unwrap_or(d);
                    let expect = model.kv.get(&k).map(|e| e.3 == cas).unwrap_or(true);
                    prop_assert_eq!(part.apply_delete(index, &k, Some(cas)), expect);
                    if expect { model.kv.remove(&k); }
                }
                Op::DeleteTree(p) => {
                    part.apply_delete_tree(index, &p);
                    model.kv.retain(|k, _| !k.starts_with(&p));
                }
            }
            // Whole-table comparison after every step.
            let (all, _) = part.list("");
            prop_assert_eq!(all.len(), model.kv.len());
            for (e, (k, m)) in all.iter().zip(model.kv.iter()) {
                prop_assert_eq!(&e.key, k);
                prop_assert_eq!(e.value.as_deref().unwrap_or(&[]), &m.0[..]);
                prop_assert_eq!((e.flags, e.create_index, e.modify_index), (m.1, m.2, m.3));
            }
            prop_assert!(part.index_max() <= index);
        }
    }

    #[test]
    fn aborted_txn_leaves_no_trace(ops in prop::collection::vec(op(), 1..20)) {
        let mut part = KvPartition::default();
        part.apply_set(1, "a", Some(Bytes::from_static(b"1")), 0, None);
        part.apply_set(2, "b/x/y", None, 7, None);
        let before = (part.list(""), part.index_max());
        let txn: Vec<(usize, TxnKvOp)> = ops.into_iter().enumerate().map(|(i, op)| {
            let (verb, key) = match op {
                Op::Set(k, ..) => (KvVerb::Set, k),
                Op::Cas(k, ..) => (KvVerb::Cas, k),
                Op::Delete(k) => (KvVerb::Delete, k),
                Op::DeleteCas(k, _) => (KvVerb::DeleteCas, k),
                Op::DeleteTree(k) => (KvVerb::DeleteTree, k),
            };
            (i, TxnKvOp { verb, key, value: Some(vec![9]), flags: 3, index: 1, session: String::new() })
        }).collect();
        let outcome = part.apply_txn(3, &txn, &|_| false);
        part.undo_txn(outcome.undo);
        prop_assert_eq!((part.list(""), part.index_max()), before);
    }

    #[test]
    fn command_encoding_round_trips(k in ".{0,40}", v in prop::collection::vec(any::<u8>(), 0..64), f: u64) {
        let cmd = Command::KvSet { key: k, value: Some(v), flags: f, cas: Some(f / 2) };
        prop_assert_eq!(Command::decode(&cmd.encode()).unwrap(), cmd);
    }

    #[test]
    fn command_decode_rejects_garbage(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        // Must never panic; most random inputs are invalid.
        let _ = Command::decode(&bytes);
    }
}

#[test]
fn identical_write_keeps_modify_index() {
    let mut part = KvPartition::default();
    assert!(part.apply_set(5, "k", Some(Bytes::from_static(b"v")), 0, None));
    assert!(part.apply_set(6, "k", Some(Bytes::from_static(b"v")), 0, None));
    assert_eq!(part.get("k").unwrap().modify_index, 5);
    // A plain write without flags resets flags to 0.
    assert!(part.apply_set(7, "k", Some(Bytes::from_static(b"v")), 3, None));
    assert!(part.apply_set(8, "k", Some(Bytes::from_static(b"v")), 0, None));
    assert_eq!(part.get("k").unwrap().flags, 0);
    assert_eq!(part.get("k").unwrap().create_index, 5);
}

#[test]
fn list_index_counts_tombstones_under_prefix() {
    let mut part = KvPartition::default();
    part.apply_set(1, "app/a", None, 0, None);
    part.apply_set(2, "app/b", None, 0, None);
    part.apply_set(3, "other", None, 0, None);
    part.apply_delete(4, "app/b", None);
    let (entries, index) = part.list("app/");
    assert_eq!(entries.len(), 1);
    assert_eq!(index, 4);
    assert_eq!(part.list("other").1, 3);
    assert_eq!(part.list("nothing").1, 0);
}

#[test]
fn keys_roll_up_at_separator() {
    let mut part = KvPartition::default();
    for (i, k) in ["web/a", "web/b/c", "web/b/d", "webz", "x"]
        .iter()
        .enumerate()
    {
        part.apply_set(i as u64 + 1, k, None, 0, None);
    }
    assert_eq!(part.keys("web", "/").0, vec!["web/", "webz"]);
    assert_eq!(part.keys("web/", "/").0, vec!["web/a", "web/b/"]);
    assert_eq!(part.keys("", "").0.len(), 5);
}

#[test]
fn txn_errors_use_consul_texts() {
    let mut part = KvPartition::default();
    part.apply_set(1, "k", None, 0, None);
    let op = |verb, key: &str, index| TxnKvOp {
        verb,
        key: key.into(),
        value: None,
        flags: 0,
        index,
        session: String::new(),
    };
    let out = part.apply_txn(
        2,
        &[
            (0, op(KvVerb::Cas, "k", 9)),
            (1, op(KvVerb::Get, "missing", 0)),
            (2, op(KvVerb::CheckIndex, "k", 3)),
            (3, op(KvVerb::CheckNotExists, "k", 0)),
            (4, op(KvVerb::Lock, "k", 0)),
        ],
        &|_| false,
    );
    let texts: Vec<&str> = out.errors.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "failed to set key \"k\", index is stale",
            "key \"missing\" doesn't exist",
            "failed index check for key \"k\", current modify index 1 != 3",
            "key \"k\" exists",
            "missing session",
        ]
    );
}

#[test]
fn shard_map_is_stable_and_spreads() {
    assert_eq!(shard_of("foo", 1), 0);
    let mut counts = [0usize; 4];
    for i in 0..4000 {
        counts[shard_of(&format!("key/{i}"), 4)] += 1;
    }
    assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    assert_eq!(shard_of("foo", 4), shard_of("foo", 4));
}

/// `tests/txn_atomicity.rs` relies on its keys spanning shards at `-shards 3`.
#[test]
fn atomicity_test_keys_span_shards() {
    let shards: std::collections::BTreeSet<usize> =
        ["bank/alice", "bank/bob", "bank/carol", "bank/dave"]
            .iter()
            .map(|k| shard_of(k, 3))
            .collect();
    assert!(shards.len() >= 2, "{shards:?}");
}
