//! The typed messages cores exchange, and the bounded inboxes that carry them.
//!
//! Every cross-core interaction is one of these closed enums: no boxed closures, no shared
//! mutable state. Replies travel on one-shot channels carried inside the message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use tokio::sync::{oneshot, Notify};

use crate::cluster::{sort_by_rtt, RaftPeer, ServerInfo};
use crate::config::INBOX_DEPTH;
use crate::state::{
    CatalogAnswer, CatalogQuery, Command, KvAnswer, KvQuery, ShardWork, TxnVote, WriteOutcome,
};

/// Where a write's outcome goes.
pub type WriteReply = oneshot::Sender<WriteOutcome>;

/// Input of the Raft core.
pub enum RaftInput {
    /// Append `cmd` to the log; answer on `reply` once it is durable and applied.
    Propose { cmd: Command, reply: WriteReply },
    /// A participant's vote on a multi-shard transaction (see `state::txn`).
    TxnVote(TxnVote),
    /// A message from a Raft peer (via the RPC listener).
    Message(Box<raft::eraftpb::Message>),
    /// Bootstrap a new cluster with these voters (`bootstrap_expect` reached, `-bootstrap`, or
    /// dev mode). Ignored when the log already has a configuration: never bootstrap twice.
    Bootstrap(Vec<ServerInfo>),
    /// Export the state for `GET /v1/snapshot`: one part per shard, and (index, term).
    Snapshot {
        parts: Vec<oneshot::Sender<crate::snapshot::StateSnapshot>>,
        meta: oneshot::Sender<Result<(u64, u64), String>>,
    },
    /// `?consistent`: confirm leadership with a quorum (raft-rs ReadIndex) and answer once the
    /// read index is dispatched to the shards, so a read queued after the answer sees it.
    ReadIndex {
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Remove a voter (answered once proposed; `Err` when not leader or not a voter).
    RemovePeer {
        raft_id: u64,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Leader only: hand leadership to `to` (a voter's Raft id), or to the most caught-up
    /// other voter (`/v1/operator/raft/transfer-leader`). Answered once the transfer started.
    TransferLeader {
        to: Option<u64>,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Leader only: add a server gossip found (same datacenter, not yet a voter) as a voter.
    AddPeer {
        server: ServerInfo,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Stop the thread after the current batch.
    Shutdown,
}

/// Cluster facts shared by every core, each written by one owner and read by the rest:
/// `servers` by the gossip runtime (shard 0), `peers` by the Raft core. Reads are lock-free
/// (`ArcSwap`), so forwarding never takes a lock on the request path.
#[derive(Default)]
pub struct ClusterView {
    pub servers: arc_swap::ArcSwap<Vec<ServerInfo>>,
    pub peers: arc_swap::ArcSwap<Vec<RaftPeer>>,
    /// Servers of every datacenter, from the WAN pool (servers only).
    pub wan: arc_swap::ArcSwap<Vec<ServerInfo>>,
    /// A LAN join given at start (`-join`, `-retry-join`) has succeeded (what systemd's
    /// `READY=1` waits for, as Consul notifies after its join).
    pub lan_joined: std::sync::atomic::AtomicBool,
}

impl ClusterView {
    /// A live server of datacenter `dc` from the WAN pool (random, to spread the load).
    pub fn server_in(&self, dc: &str) -> Option<std::net::SocketAddr> {
        let wan = self.wan.load();
        let live: Vec<&ServerInfo> = wan
            .iter()
            .filter(|s| s.alive && s.datacenter == dc)
            .collect();
        (!live.is_empty()).then(|| live[rand::random::<usize>() % live.len()].rpc_addr)
    }

    /// Every datacenter the WAN pool knows, ours first, then the others by round-trip time
    /// (see `sort_by_rtt`).
    pub fn datacenters(&self, ours: &str) -> Vec<String> {
        sort_by_rtt(&self.wan.load(), ours)
    }

    /// The RPC address of the server with this Raft id, from the Raft configuration first and
    /// gossip second.
    pub fn rpc_addr_of(&self, raft_id: u64) -> Option<std::net::SocketAddr> {
        if let Some(p) = self.peers.load().iter().find(|p| p.raft_id == raft_id) {
            return Some(p.rpc_addr);
        }
        self.servers
            .load()
            .iter()
            .find(|s| s.raft_id == raft_id)
            .map(|s| s.rpc_addr)
    }
}

/// Input of a shard core.
pub enum ShardMsg {
    /// This shard's work for the committed entry at `index`, in index order (see
    /// `state::place`). With `reply`, this shard answers the proposer.
    Apply {
        index: u64,
        work: ShardWork,
        reply: Option<WriteReply>,
    },
    /// Every entry up to `index` has been handed to its shards (wakes blocking queries).
    Committed { index: u64 },
    /// A read of keys this shard owns.
    Query {
        query: KvQuery,
        reply: oneshot::Sender<KvAnswer>,
    },
    /// A read of this shard's catalog.
    Catalog {
        query: CatalogQuery,
        reply: oneshot::Sender<CatalogAnswer>,
    },
    /// A local-agent API request forwarded to shard 0, which owns the agent's state.
    AgentApi(Box<ForwardedRequest>),
    /// A session renew for the leader's TTL timers, which live on shard 0.
    RenewSession { id: String },
    /// This shard's part of a snapshot (sent by the Raft core in its dispatch order).
    SnapshotPart {
        reply: oneshot::Sender<crate::snapshot::StateSnapshot>,
    },
    /// A reload's service and check definitions from the config files, for shard 0's agent.
    ReloadDefinitions {
        definitions: Box<crate::node::agent_runtime::FileDefinitions>,
        reply: oneshot::Sender<()>,
    },
}

/// `PUT /v1/agent/reload`: asks the agent's main thread (which owns the command line and the
/// config sources) to reload; answered with the reload's error, if any.
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// An HTTP request another shard hands to shard 0 (boxed: it is much larger than the rest).
pub struct ForwardedRequest {
    pub route: crate::http::route::Route,
    pub request: crate::http::request::ApiRequest,
    pub reply: oneshot::Sender<crate::http::response::Reply>,
}

/// One core's inbox: a bounded lock-free ring plus a doorbell that wakes its runtime, and
/// a slot for the coordinator's decision on the transaction this shard is frozen on.
///
/// The decision has its own slot because a frozen shard stops draining the ring (what comes
/// after the transaction waits there, bounded): the decision must not queue behind it. One
/// slot is enough: a shard votes on one transaction at a time and stays frozen until it has
/// taken that transaction's decision, so no second decision for it can exist meanwhile.
pub struct Inbox {
    queue: ArrayQueue<ShardMsg>,
    decision: ArrayQueue<(u64, bool)>,
    doorbell: Notify,
    /// Index of the last entry every shard applies (a catalog write, a restore, sessions,
    /// ACLs, ...) sent through this inbox, and of the last entry the shard applied: while the
    /// first is ahead, this shard's replicated state lags what a writer may already have been
    /// told, and another shard must not trust what it published (the DNS cache).
    every_sent: AtomicU64,
    applied: AtomicU64,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            queue: ArrayQueue::new(INBOX_DEPTH),
            decision: ArrayQueue::new(1),
            doorbell: Notify::new(),
            every_sent: AtomicU64::new(0),
            applied: AtomicU64::new(0),
        }
    }
}

impl Inbox {
    /// The Raft core, before it sends entry `index` that every shard applies.
    pub fn mark_every_sent(&self, index: u64) {
        self.every_sent.store(index, Ordering::Release);
    }

    /// The shard, once it has applied entry `index`.
    pub fn mark_applied(&self, index: u64) {
        self.applied.store(index, Ordering::Release);
    }

    /// True when the shard has applied every entry-for-all-shards sent to it so far.
    pub fn caught_up_on_every(&self) -> bool {
        self.applied.load(Ordering::Acquire) >= self.every_sent.load(Ordering::Acquire)
    }

    /// Enqueues `msg`; gives it back when the ring is full (the caller answers 503 or waits).
    pub fn try_send(&self, msg: ShardMsg) -> Result<(), ShardMsg> {
        self.queue.push(msg)?;
        self.doorbell.notify_one();
        Ok(())
    }

    /// Posts the coordinator's decision on transaction `index` (never waits; see above).
    pub fn decide(&self, index: u64, commit: bool) {
        let posted = self.decision.push((index, commit));
        assert!(posted.is_ok(), "a second decision while one waits");
        self.doorbell.notify_one();
    }

    /// The decision waiting in the slot, if any.
    pub fn take_decision(&self) -> Option<(u64, bool)> {
        self.decision.pop()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes one message, if any.
    pub fn try_recv(&self) -> Option<ShardMsg> {
        self.queue.pop()
    }

    /// Resolves when a message may have arrived. `notify_one` stores a permit when nobody
    /// waits, so a message sent between `try_recv` returning `None` and this call is not lost.
    pub async fn ring(&self) {
        self.doorbell.notified().await
    }
}

/// One peer's replication, as the leader sees it.
#[derive(Clone, Debug, Default)]
pub struct PeerProgress {
    pub raft_id: u64,
    /// Highest index known to be in its log.
    pub matched: u64,
    /// It answered within the last election timeout.
    pub recent_active: bool,
    /// Milliseconds since it last answered the leader (`None`: not since this leadership).
    pub last_contact_ms: Option<u64>,
}

/// Raft facts published by the Raft core for everyone to read (status endpoints, headers).
/// Written only by the Raft core thread.
#[derive(Default)]
pub struct RaftStatus {
    pub is_leader: AtomicBool,
    pub leader_id: AtomicU64,
    pub term: AtomicU64,
    pub commit_index: AtomicU64,
    pub applied_index: AtomicU64,
    pub last_log_index: AtomicU64,
    /// Index of the latest snapshot the log starts from (compaction or install).
    pub last_snapshot_index: AtomicU64,
    /// On the leader, each voter's replication as raft-rs tracks it (published every tick);
    /// what autopilot's health reads. Empty elsewhere.
    pub progress: arc_swap::ArcSwap<Vec<PeerProgress>>,
    /// The log has a configuration (bootstrapped, or restarted with one).
    pub configured: AtomicBool,
    /// When a follower last heard from the leader (ms since the Raft core started).
    pub last_contact_ms: AtomicU64,
    /// This server leads and has reconciled membership into the catalog once (itself and its
    /// serfHealth registered): Consul's leader establishes leadership so before it answers
    /// `status/leader`. Written by the leader loop on shard 0.
    pub leadership_established: AtomicBool,
}

impl RaftStatus {
    /// True when some node is known to lead.
    pub fn known_leader(&self) -> bool {
        self.leader_id.load(Ordering::Relaxed) != 0
    }
}

/// Handles every core gets at start: all inboxes and the Raft core's proposal queue.
#[derive(Clone)]
pub struct Mesh {
    pub shards: Arc<Vec<Inbox>>,
    pub raft: crossbeam::channel::Sender<RaftInput>,
    /// Transaction votes to the Raft core, bounded by the shard count: a frozen shard has at
    /// most one vote outstanding, so a vote never waits. (On the proposal queue it could wait
    /// on a full queue while the Raft core waits on that shard's full inbox: a deadlock.)
    pub votes: crossbeam::channel::Sender<RaftInput>,
    pub status: Arc<RaftStatus>,
    pub cluster: Arc<ClusterView>,
    /// The agent's own ACL tokens (`acl.tokens.*`, changed by `/v1/agent/token/<kind>`).
    pub agent_tokens: crate::node::acl::SharedAgentTokens,
    /// Reload requests to the main thread (`cli::agent`), which re-reads the config.
    pub reload: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Each shard's catalog index, written only by that shard after it changes its state
    /// (`ShardCtx::perform`). Another shard's DNS cache reads it to tell whether an answer
    /// built from that shard's catalog still holds.
    pub catalog_indexes: Arc<Vec<AtomicU64>>,
}
