//! Every log payload as one type. Its archived (rkyv) form *is* the log entry payload, so
//! changing a variant's layout is a wire/disk format change: add variants, never reorder.
//! (Moved here from `kv::command` unchanged; the bytes are the same.)

use rkyv::{Archive, Deserialize, Serialize};

use crate::kv::TxnKvOp;

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
    /// `PUT /v1/session/create`: every shard keeps the table. Boxed, so the archived command
    /// (every log entry) does not grow.
    SessionCreate(Box<crate::session::Session>),
    /// `PUT /v1/session/destroy/<id>`, and the leader's TTL expiry: every shard releases or
    /// deletes the keys it owns that the session held.
    SessionDestroy { id: String },
    /// `PUT /v1/kv/<key>?acquire=` / `?release=`, applied by the key's owner.
    KvLock(Box<KvLock>),
    /// Every ACL write (`/v1/acl/*`, the leader's ACL init and token reaper); every shard
    /// keeps the ACL table, so each resolves tokens from its own replica.
    Acl(Box<crate::acl::AclCommand>),
    /// `PUT /v1/operator/autopilot/configuration` and the leader's initial one; every shard
    /// keeps it (replicated like the ACL table).
    Autopilot(Box<crate::operator::AutopilotSet>),
    /// `PUT`/`DELETE /v1/config`; every shard keeps the config entries.
    ConfigEntry(Box<crate::config_entry::ConfigEntryOp>),
    /// `/v1/query` writes; every shard keeps the prepared queries.
    PreparedQuery(Box<crate::prepared_query::QueryOp>),
}

/// A lock operation on one key (`Command::KvLock`).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KvLock {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub session: String,
    /// `true` for `?acquire=`, `false` for `?release=`.
    pub acquire: bool,
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
}
