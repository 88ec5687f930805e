//! Keyring rotation over gossip, sans IO: what a member does with a keyring query, its
//! answer, and how the origin tallies the answers of a pool into Consul's `KeyringResponse`.
//!
//! As in serf, an operation is a query flooded to every member of a pool (`_serf_list-keys`,
//! `_serf_install-key`, `_serf_use-key`, `_serf_remove-key`, the key as payload). Each member
//! applies it to its own keyring and answers the origin, which counts answers against the
//! members it believes alive. The queries are gossip packets, so only members holding an
//! installed key can send or read them.

use std::collections::BTreeMap;

use super::crypto::{Key, Keyring};
use crate::codec::{put_str, Reader, WireError};
use crate::config::KEYRING_KEYS_MAX;

/// A keyring operation (`consul keyring -list|-install|-use|-remove`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    List,
    Install,
    Use,
    Remove,
}

impl KeyOp {
    /// Serf's internal query name for the operation.
    pub fn query_name(self) -> &'static str {
        match self {
            KeyOp::List => "_serf_list-keys",
            KeyOp::Install => "_serf_install-key",
            KeyOp::Use => "_serf_use-key",
            KeyOp::Remove => "_serf_remove-key",
        }
    }

    pub fn from_query_name(name: &str) -> Option<KeyOp> {
        [KeyOp::List, KeyOp::Install, KeyOp::Use, KeyOp::Remove]
            .into_iter()
            .find(|op| op.query_name() == name)
    }
}

/// One member's answer (serf's `nodeKeyResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeAnswer {
    pub result: bool,
    pub message: String,
    /// List only: the member's keys, primary first.
    pub keys: Vec<String>,
    pub primary: String,
}

/// Longest error message a member sends back.
const MESSAGE_BYTES_MAX: usize = 200;
/// A base64 key of up to 32 bytes is 44 characters.
const KEY_TEXT_BYTES_MAX: usize = 64;

impl NodeAnswer {
    fn failed(message: &str) -> NodeAnswer {
        NodeAnswer {
            message: message.to_string(),
            ..NodeAnswer::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.result as u8];
        let mut message = self.message.clone();
        if message.len() > MESSAGE_BYTES_MAX {
            let mut cut = MESSAGE_BYTES_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        put_str(&mut out, &message);
        let keys = &self.keys[..self.keys.len().min(KEYRING_KEYS_MAX)];
        out.push(keys.len() as u8);
        for k in keys {
            put_str(&mut out, k);
        }
        put_str(&mut out, &self.primary);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<NodeAnswer, WireError> {
        let mut r = Reader::new(bytes);
        let result = r.u8()? != 0;
        let message = r.str(MESSAGE_BYTES_MAX)?;
        let n = r.u8()? as usize;
        if n > KEYRING_KEYS_MAX {
            return Err(WireError("too many keys"));
        }
        let keys = (0..n)
            .map(|_| r.str(KEY_TEXT_BYTES_MAX))
            .collect::<Result<_, _>>()?;
        let primary = r.str(KEY_TEXT_BYTES_MAX)?;
        r.end()?;
        Ok(NodeAnswer {
            result,
            message,
            keys,
            primary,
        })
    }
}

/// Applies an operation to this member's keyring (serf's `handleInstallKey`...). Returns the
/// answer and whether the ring changed (then the shell persists it).
pub fn apply(ring: &mut Keyring, op: KeyOp, payload: &[u8]) -> (NodeAnswer, bool) {
    if !ring.enabled() {
        let message = match op {
            KeyOp::List => "Keyring is empty (encryption not enabled)",
            _ => "No keyring to modify (encryption not enabled)",
        };
        return (NodeAnswer::failed(message), false);
    }
    let key_text = String::from_utf8_lossy(payload);
    let outcome = match op {
        KeyOp::List => Ok(false),
        KeyOp::Install => Key::parse(&key_text).and_then(|k| ring.install(k)),
        KeyOp::Use => ring.use_key(&key_text),
        KeyOp::Remove => ring.remove(&key_text),
    };
    match outcome {
        Err(e) => (NodeAnswer::failed(&e), false),
        Ok(changed) => {
            let mut answer = NodeAnswer {
                result: true,
                ..NodeAnswer::default()
            };
            if op == KeyOp::List {
                answer.keys = ring.keys_base64();
                answer.primary = answer.keys[0].clone();
            }
            (answer, changed)
        }
    }
}

/// A pool's answers to one operation, as the origin counts them (serf's `KeyResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolTally {
    /// Members the origin believed alive when it asked.
    pub num_nodes: usize,
    pub num_resp: usize,
    pub num_err: usize,
    /// Failing members' messages, by member name.
    pub messages: BTreeMap<String, String>,
    /// Key → members holding it; primary key → members using it.
    pub keys: BTreeMap<String, usize>,
    pub primary_keys: BTreeMap<String, usize>,
}

impl PoolTally {
    pub fn new(num_nodes: usize) -> PoolTally {
        PoolTally {
            num_nodes,
            ..PoolTally::default()
        }
    }

    /// Counts one member's answer (each member once: the shell drops repeats).
    pub fn add(&mut self, from: &str, payload: &[u8]) {
        self.num_resp += 1;
        match NodeAnswer::decode(payload) {
            Err(e) => {
                self.num_err += 1;
                self.messages.insert(
                    from.to_string(),
                    format!("Failed to decode key query response: {e}"),
                );
            }
            Ok(a) => {
                if !a.result {
                    self.num_err += 1;
                    self.messages.insert(from.to_string(), a.message);
                }
                for k in a.keys {
                    *self.keys.entry(k).or_default() += 1;
                }
                if !a.primary.is_empty() {
                    *self.primary_keys.entry(a.primary).or_default() += 1;
                }
            }
        }
    }

    /// Every member the origin expected has answered.
    pub fn complete(&self) -> bool {
        self.num_resp >= self.num_nodes
    }

    /// Serf's verdict: an error when a member failed or did not answer.
    pub fn error(&self) -> Option<String> {
        if self.num_err != 0 {
            return Some(format!(
                "{}/{} nodes reported failure",
                self.num_err, self.num_nodes
            ));
        }
        if self.num_resp != self.num_nodes {
            return Some(format!(
                "{}/{} nodes reported success",
                self.num_resp, self.num_nodes
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(keys: &[&str]) -> Keyring {
        Keyring {
            keys: keys.iter().map(|k| Key::parse(k).unwrap()).collect(),
        }
    }

    #[test]
    fn a_rotation_across_three_members_tallies_as_serf_does() {
        let (a, b) = (Key::generate(), Key::generate());
        let mut rings = [ring(&[&a]), ring(&[&a]), ring(&[&a])];
        let run = |rings: &mut [Keyring; 3], op: KeyOp, key: &str| {
            let mut tally = PoolTally::new(3);
            for (i, r) in rings.iter_mut().enumerate() {
                let (answer, _) = apply(r, op, key.as_bytes());
                tally.add(&format!("node-{i}"), &answer.encode());
            }
            tally
        };
        assert_eq!(run(&mut rings, KeyOp::Install, &b).error(), None);
        let listed = run(&mut rings, KeyOp::List, "");
        assert_eq!(
            listed.keys,
            BTreeMap::from([(a.clone(), 3), (b.clone(), 3)])
        );
        assert_eq!(listed.primary_keys, BTreeMap::from([(a.clone(), 3)]));
        assert_eq!(run(&mut rings, KeyOp::Use, &b).error(), None);
        let refused = run(&mut rings, KeyOp::Remove, &b);
        assert_eq!(refused.error().unwrap(), "3/3 nodes reported failure");
        assert_eq!(
            refused.messages["node-1"],
            "Removing the primary key is not allowed"
        );
        assert_eq!(run(&mut rings, KeyOp::Remove, &a).error(), None);
        let listed = run(&mut rings, KeyOp::List, "");
        assert_eq!(listed.keys, BTreeMap::from([(b.clone(), 3)]));
        assert_eq!(listed.primary_keys, BTreeMap::from([(b, 3)]));
    }

    #[test]
    fn silence_and_disabled_encryption_are_errors() {
        let mut tally = PoolTally::new(3);
        let (answer, changed) = apply(&mut Keyring::default(), KeyOp::Install, b"x");
        assert!(!changed);
        tally.add("n1", &answer.encode());
        assert_eq!(
            tally.messages["n1"],
            "No keyring to modify (encryption not enabled)"
        );
        assert_eq!(tally.error().unwrap(), "1/3 nodes reported failure");
        let mut quiet = PoolTally::new(3);
        let (ok, _) = apply(&mut ring(&[&Key::generate()]), KeyOp::List, b"");
        quiet.add("n1", &ok.encode());
        assert!(!quiet.complete());
        assert_eq!(quiet.error().unwrap(), "1/3 nodes reported success");
        quiet.add("n2", b"\x07garbage");
        assert_eq!(quiet.num_err, 1);
        assert!(quiet.messages["n2"].starts_with("Failed to decode key query response"));
    }

    proptest! {
        #[test]
        fn answers_round_trip_and_garbage_never_panics(
            result in any::<bool>(),
            message in "[ -~]{0,80}",
            keys in prop::collection::vec("[A-Za-z0-9+/=]{44}", 0..KEYRING_KEYS_MAX),
            junk in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            let answer = NodeAnswer {
                result,
                message,
                primary: keys.first().cloned().unwrap_or_default(),
                keys,
            };
            prop_assert_eq!(NodeAnswer::decode(&answer.encode()).unwrap(), answer);
            let _ = NodeAnswer::decode(&junk);
        }
    }
}
