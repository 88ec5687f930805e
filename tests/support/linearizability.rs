//! A linearizability checker for registers (one per KV key), after Wing & Gong with the
//! memoization of Lowe's "just-in-time linearizability": search for an order of the operations
//! that respects real time (an operation that returned before another was called comes first)
//! and the register's meaning (a read sees the latest write). Writes whose outcome is unknown
//! (timeout, connection lost) may take effect at any point after their call, or never. Values
//! written must be unique per key (the clients make them so).
//!
//! Written here (about 100 lines) rather than taken from a crate: the crates that exist check
//! Go/Jepsen history formats, not ours. Histories are small (hundreds of operations per key).

#![allow(dead_code)]

use std::collections::HashSet;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write a value.
    Write(String),
    /// A read that saw this value (`None`: the key did not exist).
    Read(Option<String>),
}

#[derive(Clone, Debug)]
pub struct Event {
    pub key: String,
    pub op: Op,
    pub call: Instant,
    /// `None`: no answer (the write may or may not have happened).
    pub ret: Option<Instant>,
}

/// Checks every key's history; returns the first key whose history is not linearizable.
pub fn check(history: &[Event]) -> Result<(), String> {
    let mut keys: Vec<&str> = history.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let of_key: Vec<&Event> = history.iter().filter(|e| e.key == key).collect();
        let observed: HashSet<&str> = of_key
            .iter()
            .filter_map(|e| match &e.op {
                Op::Read(Some(v)) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        let ops: Vec<&Event> = of_key
            .into_iter()
            // A read without an answer says nothing; neither does a write without an answer
            // whose value no read saw (values are unique): leaving it out is always allowed,
            // and keeping it would only multiply the orders to try.
            .filter(|e| match &e.op {
                Op::Read(_) => e.ret.is_some(),
                Op::Write(v) => e.ret.is_some() || observed.contains(v.as_str()),
            })
            .collect();
        if !register_linearizable(&ops) {
            return Err(format!(
                "key {key}: {} operations admit no linearization: {ops:#?}",
                ops.len()
            ));
        }
    }
    Ok(())
}

/// Depth-first search over "which operation takes effect next", memoized on (set of operations
/// done, register value); iterative, since histories have thousands of operations.
fn register_linearizable(ops: &[&Event]) -> bool {
    let n = ops.len();
    let must = ops.iter().filter(|e| e.ret.is_some()).count();
    let mut done = vec![false; n];
    let mut seen: HashSet<(Vec<bool>, Option<String>)> = HashSet::new();
    let mut value: Option<String> = None;
    let mut completed = 0;
    // Operations placed so far, with the register value before each.
    let mut placed: Vec<(usize, Option<String>)> = Vec::new();
    let mut cursor = 0;
    seen.insert((done.clone(), value.clone()));
    loop {
        if completed == must {
            return true; // what remains are writes that may never have happened
        }
        // Whatever goes next must have been called before the earliest return among the
        // operations not yet placed.
        let horizon = (0..n)
            .filter(|&j| !done[j])
            .filter_map(|j| ops[j].ret)
            .min();
        let candidate = (cursor..n).find(|&j| {
            !done[j]
                && horizon.is_none_or(|h| ops[j].call <= h)
                && match &ops[j].op {
                    Op::Write(_) => true,
                    Op::Read(v) => *v == value,
                }
        });
        match candidate {
            Some(j) => {
                let before = value.clone();
                if let Op::Write(v) = &ops[j].op {
                    value = Some(v.clone());
                }
                done[j] = true;
                if seen.insert((done.clone(), value.clone())) {
                    completed += ops[j].ret.is_some() as usize;
                    placed.push((j, before));
                    cursor = 0;
                } else {
                    done[j] = false; // explored from there already
                    value = before;
                    cursor = j + 1;
                }
            }
            None => {
                let Some((j, before)) = placed.pop() else {
                    return false;
                };
                done[j] = false;
                completed -= ops[j].ret.is_some() as usize;
                value = before;
                cursor = j + 1;
            }
        }
    }
}
