//! The reads one shard answers for another: a KV partition's keys, or its part of the
//! catalog. Pure data; `ShardMachine::answer_kv` / `answer_catalog` compute the answers.

use crate::kv::DirEntry;

/// A read one shard asks of the shard that owns the keys.
#[derive(Debug, Clone)]
pub enum KvQuery {
    /// One key.
    Get { key: String },
    /// Every entry under a prefix.
    List { prefix: String },
    /// Keys under a prefix, rolled up at `separator`.
    Keys { prefix: String, separator: String },
    /// Only the partition's highest index (for a missing key's `X-Consul-Index`).
    IndexMax,
    /// Until when a key's lock-delay holds (`KvAnswer::lock_delay_until`, ms on this
    /// server's clock; 0 when it may be acquired at `now_ms`).
    LockDelay { key: String, now_ms: u64 },
}

/// Answer to a `KvQuery`; `index` is the partition's index for the query, and
/// `partition_index` its highest index overall.
#[derive(Debug, Default)]
pub struct KvAnswer {
    pub entries: Vec<DirEntry>,
    pub keys: Vec<String>,
    pub index: u64,
    pub partition_index: u64,
    pub lock_delay_until: u64,
}

/// A catalog read one shard asks of another (or of every other).
#[derive(Debug, Clone)]
pub enum CatalogQuery {
    /// Instances of a service (asked of the shard that owns the name).
    Instances { name: String, tags: Vec<String> },
    /// Up to `k` random healthy instances (DNS), asked of the owner.
    Pick {
        name: String,
        tags: Vec<String>,
        k: usize,
        exclude_warning: bool,
        seed: u64,
    },
    /// Service name → tags, for the names this shard owns.
    ServiceTags,
    /// This shard's services on a node.
    NodeServices { node: String },
    /// This shard's service checks on a node.
    NodeServiceChecks { node: String },
    /// Service checks of a service (asked of the owner).
    ChecksOfService { name: String },
    /// Checks in a state; node-level ones only from the shard asked `with_replicated`.
    ChecksInState {
        state: String,
        with_replicated: bool,
    },
}

/// Answer to a `CatalogQuery`, with the index that answer carries on that shard.
#[derive(Debug, Default)]
pub struct CatalogAnswer {
    pub instances: Vec<crate::catalog::ServiceInstance>,
    /// DNS picks (`CatalogQuery::Pick`).
    pub picked: Vec<crate::catalog::Pickable>,
    pub services: Vec<crate::catalog::Service>,
    pub checks: Vec<crate::catalog::Check>,
    pub tags: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    pub index: u64,
}
