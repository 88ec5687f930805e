//! Commands written to the Raft log. Their archived (rkyv) form *is* the log entry payload,
//! so changing a variant's layout is a wire/disk format change: add variants, never reorder.

use rkyv::{Archive, Deserialize, Serialize};

/// One replicated state-machine command.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Appended by a new leader; changes nothing.
    Noop,
    /// `PUT /v1/kv/<key>`; `cas: Some(i)` is check-and-set (0 = create only).
    KvSet {
        key: String,
        value: Option<Vec<u8>>,
        flags: u64,
        cas: Option<u64>,
    },
    /// `DELETE /v1/kv/<key>`.
    KvDelete { key: String, cas: Option<u64> },
    /// `DELETE /v1/kv/<prefix>?recurse`.
    KvDeleteTree { prefix: String },
    /// `PUT /v1/txn` with at least one write; all or nothing.
    Txn { ops: Vec<TxnKvOp> },
    /// A catalog write; every shard applies it and keeps what it owns.
    Catalog(crate::catalog::CatalogCommand),
    /// `PUT /v1/snapshot`: replace the whole state with a validated snapshot body
    /// (`snapshot::StateSnapshot`); every shard keeps what it owns.
    Restore { snapshot: Vec<u8> },
}

impl Command {
    /// Encodes into the log payload.
    pub fn encode(&self) -> Vec<u8> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .expect("serialising a command into memory cannot fail")
            .into_vec()
    }

    /// Decodes a log payload, validating it first (a corrupt payload is an error, not UB).
    pub fn decode(bytes: &[u8]) -> Result<Command, String> {
        // rkyv needs the root aligned; payloads come from arbitrary buffer offsets.
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        rkyv::from_bytes::<Command, rkyv::rancor::Error>(&aligned).map_err(|e| e.to_string())
    }

    /// True when the command touches keys on more than one shard (or may).
    pub fn is_multi_shard(&self) -> bool {
        matches!(
            self,
            Command::KvDeleteTree { .. }
                | Command::Txn { .. }
                | Command::Catalog(_)
                | Command::Restore { .. }
        )
    }
}

/// KV verbs of `/v1/txn` (Consul `api.KVOp`).
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvVerb {
    Set,
    Cas,
    Get,
    GetOrEmpty,
    GetTree,
    CheckIndex,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
    Lock,
    Unlock,
    CheckSession,
}

impl KvVerb {
    /// Parses Consul's verb spelling.
    pub fn parse(verb: &str) -> Option<KvVerb> {
        Some(match verb {
            "set" => KvVerb::Set,
            "cas" => KvVerb::Cas,
            "get" => KvVerb::Get,
            "get-or-empty" => KvVerb::GetOrEmpty,
            "get-tree" => KvVerb::GetTree,
            "check-index" => KvVerb::CheckIndex,
            "check-not-exists" => KvVerb::CheckNotExists,
            "delete" => KvVerb::Delete,
            "delete-tree" => KvVerb::DeleteTree,
            "delete-cas" => KvVerb::DeleteCas,
            "lock" => KvVerb::Lock,
            "unlock" => KvVerb::Unlock,
            "check-session" => KvVerb::CheckSession,
            _ => return None,
        })
    }

    /// True for verbs that only read.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            KvVerb::Get
                | KvVerb::GetOrEmpty
                | KvVerb::GetTree
                | KvVerb::CheckIndex
                | KvVerb::CheckNotExists
                | KvVerb::CheckSession
        )
    }

    /// True for verbs whose key is a prefix spanning every shard.
    pub fn is_tree(self) -> bool {
        matches!(self, KvVerb::GetTree | KvVerb::DeleteTree)
    }
}

/// One KV operation of a transaction.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TxnKvOp {
    pub verb: KvVerb,
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub index: u64,
    pub session: String,
}
