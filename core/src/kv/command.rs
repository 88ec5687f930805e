//! The KV operations of a transaction (`/v1/txn`), as they travel inside
//! `state::Command::Txn`. Their archived (rkyv) form is part of the log entry payload, so
//! changing a layout is a wire/disk format change: add variants, never reorder.

use rkyv::{Archive, Deserialize, Serialize};

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
