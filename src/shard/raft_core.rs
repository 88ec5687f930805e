//! The Raft core: one thread that owns the raft-rs node, the log files and the proposal queue.
//!
//! Each loop turn drains every proposal that arrived meanwhile (up to
//! `PROPOSALS_PER_BATCH_MAX`), proposes them, persists the resulting `Ready` with one write
//! and one fdatasync (group commit: the batch grows while the previous fsync runs), then
//! streams committed entries, in index order, to the shards that own what they touch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;
use raft::eraftpb::{ConfState, Entry, EntryType};
use raft::{RawNode, StateRole};

use crate::cluster::{RaftPeer, ServerInfo};
use crate::config::{
    PROPOSALS_PER_BATCH_MAX, PROPOSAL_TIMEOUT_MS, RAFT_LOG_BYTES_BEFORE_SNAPSHOT, RAFT_TICK_MS,
    SNAPSHOT_STALL_WARNING_MS,
};
use crate::error::ApiError;
use crate::io::log_files::{LogFiles, PreparedSegment};
use crate::mesh::{ClusterView, Inbox, RaftInput, RaftStatus, ShardMsg, WriteReply};
use crate::metrics::Key;
use crate::node::telemetry;
use crate::raft::log_store::{LogStore, RaftSnapshot};
use crate::raft::record::{self, LogRecord, PeerRecord};
use crate::snapshot::StateSnapshot;
use crate::state::{place, Command, Placement, ShardWork, TxnCoordinator, TxnVote, WriteOutcome};

/// How this server identifies itself to the cluster.
#[derive(Clone, Debug)]
pub struct SelfIdentity {
    pub raft_id: u64,
    pub name: String,
    pub node_id: String,
    pub rpc_addr: SocketAddr,
}

/// The Raft core's state. Lives on its own thread; nothing here is shared.
pub struct RaftCore {
    me: SelfIdentity,
    config: raft::Config,
    /// `None` until the cluster is bootstrapped (then `unbooted` holds the empty store).
    node: Option<RawNode<LogStore>>,
    unbooted: Option<LogStore>,
    files: Option<LogFiles>,
    inbox: Receiver<RaftInput>,
    votes: Receiver<RaftInput>,
    shards: Arc<Vec<Inbox>>,
    status: Arc<RaftStatus>,
    cluster: Arc<ClusterView>,
    /// Messages for peers, to the transport thread (dropped when full: Raft retries).
    outbox: Option<crate::shard::raft_transport::RaftOutbox>,
    /// Proposals awaiting their entry's application here, by proposal id, with their deadline.
    pending: HashMap<u64, (WriteReply, Instant)>,
    /// Distinguishes this process's proposal ids from ones replayed from the log or made by
    /// other servers.
    epoch: u64,
    next_proposal: u64,
    /// Multi-shard transactions waiting for their participants' votes.
    txns: TxnCoordinator<WriteReply>,
    /// Records (commit index updates) that ride along with the next batch's write.
    deferred: Vec<LogRecord>,
    frames: Vec<u8>,
    started: Instant,
    /// `?consistent` reads waiting for their ReadIndex (by id), then for the index to be
    /// dispatched (`confirmed_reads`, with the read index).
    reads: HashMap<u64, (ReadReply, Instant)>,
    confirmed_reads: Vec<(u64, ReadReply)>,
    /// Entries applied since the last snapshot before the next one (`raft_snapshot_threshold`).
    snapshot_threshold: u64,
    /// How often that is checked (`raft_snapshot_interval`), and the next check (jittered).
    snapshot_interval: Duration,
    next_snapshot_check: Instant,
    /// After a failed snapshot, a full log waits for the next check instead of retrying at
    /// once (a state over `RAFT_SNAPSHOT_BYTES_MAX` would otherwise be encoded without end).
    snapshot_failed: bool,
    /// A snapshot being assembled off this thread (`maybe_snapshot`): its result, its index,
    /// and when it started (a job that never ends is reported once, see `maybe_snapshot`).
    snapshot_job: Option<SnapshotJob>,
    /// With a snapshot job and a log on disk: what is appended meanwhile (see `TailCapture`).
    tail_capture: Option<TailCapture>,
    /// On the leader: when each peer last answered (published as `PeerProgress`).
    peer_contact: HashMap<u64, Instant>,
}

/// A snapshot job's result: the snapshot and, with a log on disk, its segment already written
/// and synced, holding the captured batches up to the sequence number given.
type SnapshotDone = Result<(RaftSnapshot, Option<(PreparedSegment, u64)>), String>;

/// What the snapshot thread needs to write the whole new segment: the log's directory, the
/// records after the cut, and the captured batches with how far it has written them.
type CaptureForThread = (
    std::path::PathBuf,
    Vec<u8>,
    Receiver<(u64, Arc<[u8]>)>,
    Arc<AtomicU64>,
);

struct SnapshotJob {
    done: Receiver<SnapshotDone>,
    index: u64,
    started: Instant,
    reported: bool,
}

/// While a snapshot's segment is being prepared, every batch the core appends to the log also
/// goes to the snapshot thread, numbered, which writes it after the snapshot: the new segment
/// then needs only the batches the thread had not reached when it finished, and the Raft core
/// never rewrites the entries that came after the cut (at 17k writes/s that rewrite took up to
/// 1.1 s on this thread). Batches are kept here until the thread reports them written.
struct TailCapture {
    next: u64,
    to_thread: crossbeam::channel::Sender<(u64, Arc<[u8]>)>,
    /// Highest sequence number the thread has written.
    written: Arc<AtomicU64>,
    kept: std::collections::VecDeque<(u64, Arc<[u8]>)>,
}

impl TailCapture {
    fn record(&mut self, frames: &[u8]) {
        let written = self.written.load(Ordering::Acquire);
        while self.kept.front().is_some_and(|(seq, _)| *seq <= written) {
            self.kept.pop_front();
        }
        self.next += 1;
        // One copy, shared with the thread.
        let frames: Arc<[u8]> = frames.into();
        self.kept.push_back((self.next, frames.clone()));
        let _ = self.to_thread.send((self.next, frames));
    }

    /// The batches after `written`, in order.
    fn after(&self, written: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (_, frames) in self.kept.iter().filter(|(seq, _)| *seq > written) {
            out.extend_from_slice(frames);
        }
        out
    }
}

/// `interval` plus up to as much again, at random (raft's `randomTimeout`): servers that
/// started together do not all snapshot at once.
fn jittered(interval: Duration) -> Duration {
    interval + interval.mul_f64(rand::random::<f64>())
}

/// Messages only a leader sends, and only to members of its configuration.
fn from_a_leader(t: raft::eraftpb::MessageType) -> bool {
    use raft::eraftpb::MessageType::*;
    matches!(t, MsgAppend | MsgHeartbeat | MsgSnapshot)
}

type ReadReply = tokio::sync::oneshot::Sender<Result<u64, String>>;

/// The Raft node when it leads: what leader-only requests (membership, transfer, ReadIndex)
/// act on. A free function of the field, so callers may still use the core's other fields.
fn leading(node: &mut Option<RawNode<LogStore>>) -> Option<&mut RawNode<LogStore>> {
    node.as_mut().filter(|n| n.raft.state == StateRole::Leader)
}

/// raft-rs's log (elections, leadership, configuration changes) in the agent's log, under
/// Consul's module name; its debug and trace records (every message) show at trace.
fn agent_logger() -> slog::Logger {
    use slog::Drain;
    slog::Logger::root(AgentLog.fuse(), slog::o!())
}

/// A slog drain handing raft-rs's records to `tracing`.
struct AgentLog;

impl slog::Drain for AgentLog {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        use slog::KV;
        use tracing::Level;
        // The level must be a constant at each tracing call site.
        macro_rules! emit {
            ($level:expr) => {
                if tracing::enabled!(target: "agent.server.raft", $level) {
                    let mut fields = KeyValues(String::new());
                    let _ = record.kv().serialize(record, &mut fields);
                    let _ = values.serialize(record, &mut fields);
                    tracing::event!(target: "agent.server.raft", $level, "{}{}", record.msg(), fields.0);
                }
            };
        }
        match record.level() {
            slog::Level::Critical | slog::Level::Error => emit!(Level::ERROR),
            slog::Level::Warning => emit!(Level::WARN),
            slog::Level::Info => emit!(Level::INFO),
            // Its debug records are per message: trace here, so debug stays readable.
            slog::Level::Debug | slog::Level::Trace => emit!(Level::TRACE),
        }
        Ok(())
    }
}

/// ` key=value` pairs of a slog record.
struct KeyValues(String);

impl slog::Serializer for KeyValues {
    fn emit_arguments(&mut self, key: slog::Key, value: &std::fmt::Arguments) -> slog::Result {
        use std::fmt::Write;
        let _ = write!(self.0, " {key}={value}");
        Ok(())
    }
}

impl RaftCore {
    /// Opens the log (or none in dev mode) and replays it. With `bootstrap_alone` (dev mode,
    /// `-bootstrap`, `bootstrap_expect = 1`) an empty log is bootstrapped with this server as
    /// the only voter; otherwise an empty log waits for `RaftInput::Bootstrap`.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        me: SelfIdentity,
        data_dir: Option<&std::path::Path>,
        bootstrap_alone: bool,
        inbox: Receiver<RaftInput>,
        votes: Receiver<RaftInput>,
        shards: Arc<Vec<Inbox>>,
        status: Arc<RaftStatus>,
        cluster: Arc<ClusterView>,
        outbox: Option<crate::shard::raft_transport::RaftOutbox>,
        snapshot_threshold: u64,
        snapshot_interval: Duration,
    ) -> std::io::Result<RaftCore> {
        let (store, files) = match data_dir {
            Some(dir) => {
                let recovered = LogFiles::open(&dir.join("raft"))?;
                for note in &recovered.notes {
                    tracing::warn!(target: "agent.server.raft", "{note}");
                }
                if !recovered.files.uses_io_uring() {
                    tracing::warn!(target: "agent.server.raft", "log writes use pwrite + fdatasync");
                }
                (LogStore::replay(recovered.records), Some(recovered.files))
            }
            None => (LogStore::default(), None),
        };
        let config = raft::Config {
            id: me.raft_id,
            election_tick: 10,
            // Randomized election timeout in [1.0 s, 1.5 s) rather than raft-rs's default
            // [1 s, 2 s): with the pre-vote round, a leader's death is repaired within 2 s
            // (perf/failover.sh), while the 1 s floor of Consul's raft_multiplier 1 stays.
            min_election_tick: 10,
            max_election_tick: 15,
            heartbeat_tick: 1,
            // Set from the snapshot in `build_node`: the state machine is rebuilt from it, then
            // by replaying the committed entries after it.
            applied: 0,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            check_quorum: true,
            pre_vote: true,
            ..Default::default()
        };
        config.validate().map_err(std::io::Error::other)?;
        let mut core = RaftCore {
            me: me.clone(),
            config,
            node: None,
            unbooted: Some(store),
            files,
            inbox,
            votes,
            shards,
            status,
            cluster,
            outbox,
            pending: HashMap::new(),
            epoch: rand::random::<u64>() | 1,
            next_proposal: 1,
            txns: TxnCoordinator::default(),
            deferred: Vec::new(),
            frames: Vec::new(),
            started: Instant::now(),
            reads: HashMap::new(),
            confirmed_reads: Vec::new(),
            snapshot_threshold: snapshot_threshold.max(1),
            snapshot_interval,
            next_snapshot_check: Instant::now() + jittered(snapshot_interval),
            snapshot_failed: false,
            snapshot_job: None,
            tail_capture: None,
            peer_contact: HashMap::new(),
        };
        let configured = !core
            .unbooted
            .as_ref()
            .unwrap()
            .conf_state()
            .voters
            .is_empty();
        if configured {
            core.build_node()?;
        } else if bootstrap_alone {
            core.bootstrap(vec![ServerInfo {
                name: me.name.clone(),
                node_id: me.node_id.clone(),
                raft_id: me.raft_id,
                rpc_addr: me.rpc_addr,
                datacenter: String::new(),
                expect: 1,
                alive: true,
                rtt_us: None,
                coord: None,
            }])?;
        }
        Ok(core)
    }

    fn build_node(&mut self) -> std::io::Result<()> {
        let store = self.unbooted.take().expect("built once");
        self.publish_peers(store.peers(), &store.conf_state().learners);
        let voters = store.conf_state().voters.len();
        let snapshot = store.snapshot_meta().clone();
        self.config.applied = snapshot.index;
        let mut node =
            RawNode::new(&self.config, store, &agent_logger()).map_err(std::io::Error::other)?;
        if snapshot.index > 0 {
            self.restore_shards(&snapshot)?;
        }
        // A single voter need not wait out an election timeout.
        if voters == 1 && node.raft.prs().conf().voters().contains(self.me.raft_id) {
            node.campaign().map_err(std::io::Error::other)?;
        }
        self.node = Some(node);
        self.status.configured.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The servers of the configuration as everyone sees them; `learners` are the non-voters
    /// autopilot has not promoted yet.
    fn publish_peers(&self, peers: &[PeerRecord], learners: &[u64]) {
        let view: Vec<RaftPeer> = peers
            .iter()
            .filter_map(|p| {
                Some(RaftPeer {
                    raft_id: p.raft_id,
                    name: p.name.clone(),
                    node_id: p.node_id.clone(),
                    rpc_addr: p.rpc_addr.parse().ok()?,
                    voter: !learners.contains(&p.raft_id),
                })
            })
            .collect();
        self.cluster.peers.store(Arc::new(view));
    }

    /// Writes the first configuration. Refused (logged) when one exists: never bootstrap twice.
    fn bootstrap(&mut self, servers: Vec<ServerInfo>) -> std::io::Result<()> {
        let Some(store) = self.unbooted.as_mut() else {
            return Ok(()); // already configured
        };
        if !servers.iter().any(|s| s.raft_id == self.me.raft_id) {
            tracing::warn!(target: "agent.server.raft", "bootstrap set does not include this server; ignored");
            return Ok(());
        }
        let mut peers: Vec<PeerRecord> = servers
            .iter()
            .map(|s| PeerRecord {
                raft_id: s.raft_id,
                name: s.name.clone(),
                node_id: s.node_id.clone(),
                rpc_addr: s.rpc_addr.to_string(),
            })
            .collect();
        peers.sort_by_key(|p| p.raft_id);
        peers.dedup_by_key(|p| p.raft_id);
        // The first configuration is a snapshot at index 1 of the empty state, as raft-rs
        // expects: a server added later has no log, so the leader sends it the latest
        // snapshot (this one, until the log is first compacted) with the configuration in it.
        let records = store.install(RaftSnapshot {
            index: 1,
            term: 1,
            conf_state: ConfState {
                voters: peers.iter().map(|p| p.raft_id).collect(),
                ..Default::default()
            },
            peers: peers.clone(),
            data: crate::snapshot::encode_file(
                &StateSnapshot::default(),
                1,
                1,
                crate::io::host::unix_ms(),
            ),
        });
        self.replace_log(&records)?;
        let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(target: "agent.server.raft", "bootstrapped a new cluster with voters {names:?}");
        self.build_node()
    }

    /// `Some(true)` when the log writes through io_uring, `None` in dev mode (no log file).
    pub fn uses_io_uring(&self) -> Option<bool> {
        self.files.as_ref().map(LogFiles::uses_io_uring)
    }

    /// Runs until `Shutdown` or until every sender is gone. `Err` is fatal (a log that cannot
    /// be written): the caller stops the agent, since going on could acknowledge writes it
    /// may lose.
    pub fn run(mut self) -> Result<(), String> {
        let tick = Duration::from_millis(RAFT_TICK_MS);
        let mut next_tick = Instant::now() + tick;
        let mut ticks = 0u64;
        // This thread's metrics reach readers about once a second.
        const TICKS_PER_PUBLISH: u64 = 1000 / RAFT_TICK_MS;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let first = crossbeam::channel::select! {
                recv(self.votes) -> vote => match vote {
                    Ok(vote) => Some(vote),
                    Err(_) => return Ok(()), // every shard is gone: the agent is shutting down
                },
                recv(self.inbox) -> input => match input {
                    Ok(input) => Some(input),
                    Err(_) => return Ok(()),
                },
                default(wait) => None,
            };
            if let Some(input) = first {
                if !self.handle(input)? {
                    return Ok(());
                }
                while let Ok(vote) = self.votes.try_recv() {
                    self.handle(vote)?;
                }
                for _ in 1..PROPOSALS_PER_BATCH_MAX {
                    let Ok(input) = self.inbox.try_recv() else {
                        break;
                    };
                    if !self.handle(input)? {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= next_tick {
                if let Some(node) = self.node.as_mut() {
                    node.tick();
                }
                next_tick += tick;
                self.expire_pending();
                ticks += 1;
                if ticks.is_multiple_of(TICKS_PER_PUBLISH) {
                    telemetry::publish();
                }
                self.publish_progress();
            }
            self.on_ready()
                .and_then(|()| self.maybe_snapshot())
                .map_err(|e| format!("log write failed: {e}"))?;
        }
    }

    /// The leader's view of each peer's replication (empty when not leading).
    fn publish_progress(&mut self) {
        let contact = &self.peer_contact;
        let progress: Vec<crate::mesh::PeerProgress> = match leading(&mut self.node) {
            Some(node) => node
                .raft
                .prs()
                .iter()
                .map(|(id, pr)| crate::mesh::PeerProgress {
                    raft_id: *id,
                    matched: pr.matched,
                    recent_active: pr.recent_active || *id == node.raft.id,
                    last_contact_ms: match *id == node.raft.id {
                        true => Some(0),
                        false => contact.get(id).map(|at| at.elapsed().as_millis() as u64),
                    },
                })
                .collect(),
            None if self.status.progress.load().is_empty() => return,
            None => Vec::new(),
        };
        self.status.progress.store(std::sync::Arc::new(progress));
    }

    /// Handles one input; `Ok(false)` on `Shutdown`, `Err` when the log cannot be written.
    fn handle(&mut self, input: RaftInput) -> Result<bool, String> {
        match input {
            RaftInput::Propose { cmd, reply } => self.propose(cmd, reply),
            RaftInput::TxnVote(vote) => self.on_vote(vote),
            RaftInput::Message(msg) => {
                if self.node.is_none() && from_a_leader(msg.get_msg_type()) {
                    // A leader has us in its configuration: we were added to a running
                    // cluster (or peers bootstrapped with us before we did). Start with an
                    // empty log; the leader sends a snapshot with the configuration.
                    tracing::info!(target: "agent.server.raft", "contacted by leader {:016x}; joining its cluster",
                        msg.from
                    );
                    self.build_node()
                        .map_err(|e| format!("cannot start the Raft node: {e}"))?;
                }
                if let Some(node) = self.node.as_mut() {
                    if msg.from == node.raft.leader_id {
                        let now = self.started.elapsed().as_millis() as u64;
                        self.status.last_contact_ms.store(now, Ordering::Relaxed);
                    }
                    if node.raft.state == StateRole::Leader {
                        // Any answer from a peer is contact (autopilot's LastContact).
                        self.peer_contact.insert(msg.from, Instant::now());
                    }
                    let _ = node.step(*msg); // stale or foreign messages are dropped by raft-rs
                }
                // Before bootstrap there is no configuration to judge a message by: dropped,
                // and the sender retries.
            }
            RaftInput::Bootstrap(servers) => {
                self.bootstrap(servers)
                    .map_err(|e| format!("bootstrap write failed: {e}"))?;
            }
            RaftInput::Snapshot { parts, meta } => self.snapshot(parts, meta),
            RaftInput::ReadIndex { reply } => self.read_index(reply),
            RaftInput::RemovePeer { raft_id, reply } => self.remove_peer(raft_id, reply),
            RaftInput::TransferLeader { to, reply } => self.transfer_leader(to, reply),
            RaftInput::AddPeer { server, reply } => self.add_peer(server, reply),
            RaftInput::Shutdown => return Ok(false),
        }
        Ok(true)
    }

    /// A consistent cut of the state: every shard exports after everything dispatched so far
    /// (and before anything dispatched later), which is the state at the applied index.
    fn snapshot(
        &mut self,
        parts: Vec<tokio::sync::oneshot::Sender<crate::snapshot::StateSnapshot>>,
        meta: tokio::sync::oneshot::Sender<Result<(u64, u64), String>>,
    ) {
        let Some(node) = self.node.as_ref() else {
            let _ = meta.send(Err("No cluster leader".into()));
            return;
        };
        let index = self.status.applied_index.load(Ordering::Relaxed);
        let term = node.raft.raft_log.term(index).unwrap_or(0);
        for (shard, reply) in parts.into_iter().enumerate() {
            self.deliver(shard, ShardMsg::SnapshotPart { reply });
        }
        let _ = meta.send(Ok((index, term)));
    }

    fn propose(&mut self, cmd: Command, reply: WriteReply) {
        let Some(node) = self.node.as_mut() else {
            let _ = reply.send(WriteOutcome::Failed(ApiError::NoLeader));
            return;
        };
        if node.raft.leader_id == raft::INVALID_ID {
            let _ = reply.send(WriteOutcome::Failed(ApiError::NoLeader));
            return;
        }
        let id = self.next_proposal;
        self.next_proposal += 1;
        let mut context = Vec::with_capacity(16);
        context.extend_from_slice(&self.epoch.to_le_bytes());
        context.extend_from_slice(&id.to_le_bytes());
        // On a follower raft-rs forwards the proposal to the leader; the entry comes back
        // through replication with our context, and we answer once it is applied *here*, so a
        // read on this server after the answer sees the write.
        match node.propose(context, cmd.encode()) {
            Ok(()) => {
                telemetry::incr(Key::plain("raft.apply"), 1.0);
                let deadline = Instant::now() + Duration::from_millis(PROPOSAL_TIMEOUT_MS);
                self.pending.insert(id, (reply, deadline));
            }
            Err(e) => {
                let _ = reply.send(WriteOutcome::Failed(ApiError::Internal(format!(
                    "raft propose failed: {e}"
                ))));
            }
        }
    }

    /// Proposes removing a voter (a server that left, was force-left, or `remove-peer`).
    /// Answers once proposed; the change takes effect when committed (`apply_conf_change`).
    fn remove_peer(&mut self, raft_id: u64, reply: ReadReply) {
        let Some(node) = leading(&mut self.node) else {
            let _ = reply.send(Err("No cluster leader".into()));
            return;
        };
        let conf = node.raft.prs().conf();
        if !conf.voters().contains(raft_id) && !conf.learners().contains(&raft_id) {
            let _ = reply.send(Err(format!("no server with Raft id {raft_id:016x}")));
            return;
        }
        let cc = raft::eraftpb::ConfChange {
            change_type: raft::eraftpb::ConfChangeType::RemoveNode,
            node_id: raft_id,
            ..Default::default()
        };
        match node.propose_conf_change(Vec::new(), cc) {
            Ok(()) => {
                tracing::info!(target: "agent.server.raft", "proposed removing voter {raft_id:016x}");
                let _ = reply.send(Ok(raft_id));
            }
            Err(e) => {
                let _ = reply.send(Err(format!("cannot remove the peer now: {e}")));
            }
        }
    }

    /// Starts a leadership transfer, as hashicorp/raft's `LeadershipTransfer`: to the voter
    /// asked for, or to the other voter with the highest match index. raft-rs brings the
    /// transferee up to date and tells it to campaign at once.
    fn transfer_leader(&mut self, to: Option<u64>, reply: ReadReply) {
        let Some(node) = leading(&mut self.node) else {
            let _ = reply.send(Err("No cluster leader".into()));
            return;
        };
        let me = node.raft.id;
        let voters: Vec<u64> = node.raft.prs().conf().voters().ids().iter().collect();
        let target = match to {
            Some(id) if id == me => Err("cannot transfer leadership to itself".to_string()),
            Some(id) if voters.contains(&id) => Ok(id),
            Some(id) => Err(format!("no voter with Raft id {id:016x}")),
            None => voters
                .iter()
                .filter(|&&id| id != me)
                .max_by_key(|&&id| node.raft.prs().get(id).map_or(0, |p| p.matched))
                .copied()
                .ok_or_else(|| "cannot find peer".to_string()),
        };
        match target {
            Ok(id) => {
                tracing::info!(target: "agent.server.raft", "transferring leadership to {id:016x}");
                node.transfer_leader(id);
                let _ = reply.send(Ok(id));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Proposes adding a voter (a server of our datacenter that gossip found, as Consul's
    /// leader does on a member join). Its identity and address ride in the change's context,
    /// so every server's address book learns them when the change applies.
    fn add_peer(&mut self, server: ServerInfo, reply: ReadReply) {
        let Some(node) = leading(&mut self.node) else {
            let _ = reply.send(Err("No cluster leader".into()));
            return;
        };
        if node.raft.prs().conf().voters().contains(server.raft_id) {
            let _ = reply.send(Err(format!("{} is already a voter", server.name)));
            return;
        }
        // Autopilot's two stages: a new server joins as a non-voter (a learner) that gets the
        // log without counting in quorums; once it has been healthy for
        // `ServerStabilizationTime` the leader promotes it (the same call, for a learner).
        let learner = node.raft.prs().conf().learners().contains(&server.raft_id);
        let (change_type, what) = match learner {
            true => (raft::eraftpb::ConfChangeType::AddNode, "promoting to voter"),
            false => (
                raft::eraftpb::ConfChangeType::AddLearnerNode,
                "adding non-voter",
            ),
        };
        let peer = PeerRecord {
            raft_id: server.raft_id,
            name: server.name.clone(),
            node_id: server.node_id.clone(),
            rpc_addr: server.rpc_addr.to_string(),
        };
        let cc = raft::eraftpb::ConfChange {
            change_type,
            node_id: server.raft_id,
            context: record::encode_peer(&peer).into(),
            ..Default::default()
        };
        match node.propose_conf_change(Vec::new(), cc) {
            Ok(()) => {
                tracing::info!(target: "agent.server.raft", "proposed {what} {} ({})",
                    server.name, server.rpc_addr
                );
                let _ = reply.send(Ok(server.raft_id));
            }
            Err(e) => {
                let _ = reply.send(Err(format!("cannot add the peer now: {e}")));
            }
        }
    }

    fn read_index(&mut self, reply: ReadReply) {
        let Some(node) = leading(&mut self.node) else {
            let _ = reply.send(Err("No cluster leader".into()));
            return;
        };
        let id = self.next_proposal;
        self.next_proposal += 1;
        let mut context = Vec::with_capacity(16);
        context.extend_from_slice(&self.epoch.to_le_bytes());
        context.extend_from_slice(&id.to_le_bytes());
        node.read_index(context);
        let deadline = Instant::now() + Duration::from_millis(PROPOSAL_TIMEOUT_MS);
        self.reads.insert(id, (reply, deadline));
    }

    /// Moves confirmed reads along, and answers those whose index has been dispatched.
    fn release_reads(&mut self, states: Vec<raft::ReadState>) {
        for rs in states {
            let ctx = &rs.request_ctx;
            if ctx.len() != 16 || u64::from_le_bytes(ctx[..8].try_into().unwrap()) != self.epoch {
                continue;
            }
            let id = u64::from_le_bytes(ctx[8..].try_into().unwrap());
            if let Some((reply, _)) = self.reads.remove(&id) {
                self.confirmed_reads.push((rs.index, reply));
            }
        }
        let applied = self.status.applied_index.load(Ordering::Relaxed);
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.confirmed_reads)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.confirmed_reads = waiting;
        for (index, reply) in ready {
            let _ = reply.send(Ok(index));
        }
    }

    fn expire_pending(&mut self) {
        let now = Instant::now();
        for reply in take_expired(&mut self.reads, now) {
            let _ = reply.send(Err("timed out confirming leadership".into()));
        }
        for reply in take_expired(&mut self.pending, now) {
            let _ = reply.send(WriteOutcome::Failed(ApiError::CommitTimeout));
        }
    }

    fn send_messages(&self, msgs: Vec<raft::eraftpb::Message>) {
        let Some(outbox) = self.outbox.as_ref() else {
            return;
        };
        for m in msgs {
            let to = m.to;
            match protobuf::Message::write_to_bytes(&m) {
                Ok(bytes) => {
                    let _ = outbox.try_send((to, bytes)); // full: dropped, Raft retries
                }
                Err(e) => {
                    tracing::warn!(target: "agent.server.raft", "cannot encode a message: {e}")
                }
            }
        }
    }

    fn on_ready(&mut self) -> std::io::Result<()> {
        let Some(node) = self.node.as_mut() else {
            return Ok(());
        };
        if !node.has_ready() {
            return Ok(());
        }
        let mut ready = node.ready();
        let msgs = ready.take_messages();
        if let Some(node) = self.node.as_mut() {
            crate::raft::report_snapshots_sent(node, &msgs);
        }
        self.send_messages(msgs);
        if !ready.snapshot().is_empty() {
            let snapshot = ready.snapshot().clone();
            self.install_snapshot(&snapshot)?;
        }
        let node = self.node.as_mut().unwrap();
        let mut records = std::mem::take(&mut self.deferred);
        node.mut_store().append(ready.entries(), &mut records);
        if let Some(hs) = ready.hs() {
            node.mut_store().set_hard_state(hs, &mut records);
        }
        self.persist(&records)?;
        let msgs = ready.take_persisted_messages();
        if let Some(node) = self.node.as_mut() {
            crate::raft::report_snapshots_sent(node, &msgs);
        }
        self.send_messages(msgs);
        let read_states = ready.take_read_states();
        if let Some(ss) = ready.ss() {
            self.status.leader_id.store(ss.leader_id, Ordering::Relaxed);
            self.status
                .is_leader
                .store(ss.raft_state == StateRole::Leader, Ordering::Relaxed);
            if ss.raft_state == StateRole::Leader {
                // Contact is counted from this leadership on.
                self.peer_contact.clear();
            }
            let entered = match ss.raft_state {
                StateRole::Leader => "raft.state.leader",
                StateRole::Candidate | StateRole::PreCandidate => "raft.state.candidate",
                StateRole::Follower => "raft.state.follower",
            };
            telemetry::incr(Key::plain(entered), 1.0);
            if ss.leader_id == raft::INVALID_ID {
                self.fail_pending("leadership lost");
            }
        }
        let committed = ready.take_committed_entries();
        self.apply(committed)?;
        let node = self.node.as_mut().unwrap();
        let mut light = node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let mut out = Vec::new();
            node.mut_store().set_commit(commit, &mut out);
            self.deferred.extend(out); // durable with the next batch; raft recomputes it anyway
        }
        let msgs = light.take_messages();
        if let Some(node) = self.node.as_mut() {
            crate::raft::report_snapshots_sent(node, &msgs);
        }
        self.send_messages(msgs);
        let committed = light.take_committed_entries();
        self.apply(committed)?;
        let node = self.node.as_mut().unwrap();
        node.advance_apply();
        let log = &node.raft.raft_log;
        assert!(
            log.committed <= log.last_index(),
            "commit index {} past the last entry {}",
            log.committed,
            log.last_index()
        );
        let store = node.store();
        self.status
            .term
            .store(store.hard_state().term, Ordering::Relaxed);
        self.status
            .commit_index
            .store(node.raft.raft_log.committed, Ordering::Relaxed);
        self.status
            .last_log_index
            .store(node.raft.raft_log.last_index(), Ordering::Relaxed);
        self.release_reads(read_states);
        Ok(())
    }

    /// A snapshot the leader sent (we lag behind its compacted log, or were just added):
    /// replaces our log and our state.
    fn install_snapshot(&mut self, snapshot: &raft::eraftpb::Snapshot) -> std::io::Result<()> {
        let meta = crate::raft::log_store::decode_from_peer(&snapshot.data)
            .and_then(|m| {
                crate::snapshot::open_file(&m.data)?;
                match m.index == snapshot.get_metadata().index {
                    true => Ok(m),
                    false => Err("snapshot index does not match its metadata".into()),
                }
            })
            .map_err(|e| std::io::Error::other(format!("snapshot from the leader: {e}")))?;
        let node = self.node.as_mut().unwrap();
        let records = node.mut_store().install(meta.clone());
        self.replace_log(&records)?;
        self.publish_peers(&meta.peers, &meta.conf_state.learners);
        self.restore_shards(&meta)?;
        tracing::info!(target: "agent.server.raft", "installed a snapshot at index {} ({} bytes) from the leader",
            meta.index,
            meta.data.len()
        );
        Ok(())
    }

    /// Replaces every shard's state with a snapshot's (at start, and on install).
    fn restore_shards(&mut self, snapshot: &RaftSnapshot) -> std::io::Result<()> {
        let (_, body) =
            crate::snapshot::open_file(&snapshot.data).map_err(std::io::Error::other)?;
        let cmd = Command::Restore {
            snapshot: body.to_vec(),
        };
        self.dispatch(snapshot.index, cmd, None);
        self.status
            .applied_index
            .store(snapshot.index, Ordering::Relaxed);
        self.status
            .last_snapshot_index
            .store(snapshot.index, Ordering::Relaxed);
        for shard in 0..self.shards.len() {
            let index = snapshot.index;
            self.deliver(shard, ShardMsg::Committed { index });
        }
        Ok(())
    }

    /// Takes a snapshot once `snapshot_threshold` entries were applied since the last one (or
    /// when a peer added since needs one that names it),
    /// and compacts the log when it is ready. The cut is taken here, in dispatch order (as
    /// `GET /v1/snapshot` does); merging and encoding run on a thread of their own.
    fn maybe_snapshot(&mut self) -> std::io::Result<()> {
        if let Some(job) = &mut self.snapshot_job {
            match job.done.try_recv() {
                Ok(Ok((snapshot, prepared))) => {
                    telemetry::measure_since(Key::plain("raft.snapshot.create"), job.started);
                    self.snapshot_job = None;
                    self.snapshot_failed = false;
                    return self.compact(snapshot, prepared);
                }
                Ok(Err(e)) => {
                    tracing::warn!(target: "agent.server.raft", "snapshot failed: {e}");
                    self.snapshot_job = None;
                    self.tail_capture = None;
                    self.snapshot_failed = true;
                }
                Err(crossbeam::channel::TryRecvError::Empty) => {
                    // A shard that never answers its part stalls compaction for good (the log
                    // grows); say so once, so a stuck shard shows in the log.
                    if !job.reported
                        && job.started.elapsed() > Duration::from_millis(SNAPSHOT_STALL_WARNING_MS)
                    {
                        job.reported = true;
                        // Stop keeping what is appended meanwhile: if the job ever ends, the
                        // log after the cut is written again from memory (`compact`).
                        self.tail_capture = None;
                        tracing::warn!(target: "agent.server.raft", "snapshot at index {} still assembling after {:?}",
                            job.index,
                            job.started.elapsed()
                        );
                    }
                }
                Err(crossbeam::channel::TryRecvError::Disconnected) => {
                    self.snapshot_job = None;
                    self.tail_capture = None;
                }
            }
            return Ok(());
        }
        let Some(node) = self.node.as_ref() else {
            return Ok(());
        };
        let index = self.status.applied_index.load(Ordering::Relaxed);
        let base = node.store().snapshot_meta().index;
        let wanted = node.store().take_snapshot_wanted();
        // As raft's `runSnapshots`: past the threshold, a snapshot waits for the next check
        // (every `raft_snapshot_interval`, jittered), so a sustained write load does not
        // rewrite the whole state every few seconds; a log grown past its bound goes at once.
        let now = Instant::now();
        let checking = now >= self.next_snapshot_check;
        if checking {
            self.next_snapshot_check = now + jittered(self.snapshot_interval);
        }
        let log_full = self
            .files
            .as_ref()
            .is_some_and(|f| f.bytes_since_compaction() >= RAFT_LOG_BYTES_BEFORE_SNAPSHOT);
        let due = index >= base + self.snapshot_threshold
            && (checking || (log_full && !self.snapshot_failed));
        // A peer that needs a snapshot waits for the next check too after a failure (a state
        // over the limit would be encoded again at every request); raft-rs asks again.
        let wanted = wanted && (checking || !self.snapshot_failed);
        if index <= base || !(wanted || due) {
            return Ok(());
        }
        let term = node.raft.raft_log.term(index).unwrap_or(0);
        let (conf_state, peers) = (
            node.store().conf_state().clone(),
            node.store().peers().to_vec(),
        );
        // With a log on disk, the records after the cut as they are now: the new segment holds
        // them after the snapshot, then every batch appended from here on (`TailCapture`).
        let after_cut = self.files.is_some().then(|| {
            let mut frames = Vec::new();
            for r in node.store().records_after(index) {
                record::encode_into(&r, &mut frames);
            }
            frames
        });
        let mut log: Option<CaptureForThread> = None;
        if let (Some(dir), Some(after_cut)) = (
            self.files.as_ref().map(|f| f.dir().to_path_buf()),
            after_cut,
        ) {
            let (to_thread, captured) = crossbeam::channel::unbounded();
            let written = Arc::new(AtomicU64::new(0));
            self.tail_capture = Some(TailCapture {
                next: 0,
                to_thread,
                written: written.clone(),
                kept: Default::default(),
            });
            log = Some((dir, after_cut, captured, written));
        }
        tracing::debug!(target: "agent.server.raft", index, base, wanted, "cutting a snapshot");
        let mut parts = Vec::with_capacity(self.shards.len());
        for shard in 0..self.shards.len() {
            let (reply, rx) = tokio::sync::oneshot::channel();
            self.deliver(shard, ShardMsg::SnapshotPart { reply });
            parts.push(rx);
        }
        let (done, job) = crossbeam::channel::bounded(1);
        std::thread::Builder::new()
            .name("raft-snapshot".into())
            .spawn(move || {
                crate::io::host::lower_thread_priority();
                let mut state = StateSnapshot::default();
                for part in parts {
                    match part.blocking_recv() {
                        Ok(p) => state.merge(p),
                        Err(_) => {
                            let _ = done.send(Err("a shard did not answer".into()));
                            return;
                        }
                    }
                }
                state.normalize();
                let data =
                    crate::snapshot::encode_file(&state, index, term, crate::io::host::unix_ms());
                tracing::debug!(target: "agent.server.raft", index, bytes = data.len(), "snapshot assembled");
                if data.len() > crate::config::RAFT_SNAPSHOT_BYTES_MAX {
                    let _ = done.send(Err(format!("state is {} bytes, over the limit", data.len())));
                    return;
                }
                let mut snapshot = RaftSnapshot {
                    index,
                    term,
                    conf_state,
                    peers,
                    data,
                };
                // The new segment, written and synced here so that the Raft core's thread
                // never writes the whole state, nor the log since the cut.
                let prepared = log.map(|(dir, after_cut, captured, written)| {
                    let mut head = Vec::with_capacity(snapshot.data.len() + after_cut.len() + 1024);
                    // The state moves into the record and back: encoded without a copy of it.
                    let record = LogRecord::Snapshot {
                        index: snapshot.index,
                        term: snapshot.term,
                        voters: snapshot.conf_state.voters.clone(),
                        learners: snapshot.conf_state.learners.clone(),
                        peers: snapshot.peers.clone(),
                        data: std::mem::take(&mut snapshot.data),
                    };
                    record::encode_into(&record, &mut head);
                    if let LogRecord::Snapshot { data, .. } = record {
                        snapshot.data = data;
                    }
                    head.extend_from_slice(&after_cut);
                    let mut segment = LogFiles::prepare_segment(&dir, &head)?;
                    let mut last = 0;
                    for (seq, frames) in captured.try_iter() {
                        segment.append(&frames)?;
                        last = seq;
                        written.store(seq, Ordering::Release);
                    }
                    segment.sync()?;
                    std::io::Result::Ok((segment, last))
                });
                let _ = done.send(match prepared.transpose() {
                    Ok(prepared) => Ok((snapshot, prepared)),
                    Err(e) => Err(format!("writing the snapshot's segment: {e}")),
                });
            })?;
        self.snapshot_job = Some(SnapshotJob {
            done: job,
            index,
            started: Instant::now(),
            reported: false,
        });
        Ok(())
    }

    fn compact(
        &mut self,
        snapshot: RaftSnapshot,
        prepared: Option<(PreparedSegment, u64)>,
    ) -> std::io::Result<()> {
        let capture = self.tail_capture.take();
        let node = self.node.as_mut().unwrap();
        if snapshot.index <= node.store().snapshot_meta().index {
            // A snapshot installed from the leader overtook this one (its prepared segment, if
            // any, is removed as it is dropped).
            return Ok(());
        }
        let (index, bytes) = (snapshot.index, snapshot.data.len());
        let started = Instant::now();
        match (prepared, capture, self.files.as_mut()) {
            (Some((prepared, written)), Some(capture), Some(files)) => {
                // Only the batches appended since the thread's last one are written here.
                files.adopt(prepared, &capture.after(written))?;
                node.mut_store().compact_in_memory(snapshot);
            }
            (Some((prepared, _)), None, Some(files)) => {
                // The capture was dropped (a stalled job): the log after the cut is written
                // again from memory after what the thread wrote. Replay takes the entries a
                // second time over the first, to the same log; the state is not rewritten.
                let tail = node.mut_store().compact_tail(snapshot);
                self.frames.clear();
                for r in &tail {
                    record::encode_into(r, &mut self.frames);
                }
                files.adopt(prepared, &self.frames)?;
            }
            _ => {
                // No log on disk: the store is compacted and the (in-memory) log rewritten.
                let records = node.mut_store().compact(snapshot);
                self.replace_log(&records)?;
            }
        }
        self.status
            .last_snapshot_index
            .store(index, Ordering::Relaxed);
        tracing::info!(target: "agent.server.raft", "snapshot at index {index} ({bytes} bytes); log compacted in {:?}", started.elapsed());
        Ok(())
    }

    /// Rewrites the log as `records` (a snapshot and what follows it) in a fresh segment.
    fn replace_log(&mut self, records: &[LogRecord]) -> std::io::Result<()> {
        self.write_records(records, true)
    }

    fn persist(&mut self, records: &[LogRecord]) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let written = self.write_records(records, false);
        // Consul's time for the leader to write its log (here: a group, written and synced).
        telemetry::measure_since(Key::plain("raft.leader.dispatchLog"), started);
        written
    }

    /// Frames `records` and appends them durably, or makes them the whole log (`replace`).
    fn write_records(&mut self, records: &[LogRecord], replace: bool) -> std::io::Result<()> {
        let Some(files) = self.files.as_mut() else {
            return Ok(());
        };
        self.frames.clear();
        for r in records {
            record::encode_into(r, &mut self.frames);
        }
        match replace {
            true => {
                // A rewritten log (a snapshot installed) leaves nothing a job could adopt.
                self.tail_capture = None;
                files.replace(&self.frames)
            }
            false => {
                files.append(&self.frames)?;
                if let Some(capture) = &mut self.tail_capture {
                    capture.record(&self.frames);
                }
                Ok(())
            }
        }
    }

    fn fail_pending(&mut self, why: &str) {
        for (_, (reply, _)) in self.pending.drain() {
            let _ = reply.send(WriteOutcome::Failed(ApiError::LeadershipLost(why.into())));
        }
        for (_, (reply, _)) in self.reads.drain() {
            let _ = reply.send(Err(format!("No cluster leader ({why})")));
        }
        for (_, reply) in self.confirmed_reads.drain(..) {
            let _ = reply.send(Err(format!("No cluster leader ({why})")));
        }
    }

    fn take_reply(&mut self, entry: &Entry) -> Option<WriteReply> {
        let ctx = &entry.context;
        if ctx.len() != 16 || u64::from_le_bytes(ctx[..8].try_into().unwrap()) != self.epoch {
            return None;
        }
        let (reply, deadline) = self
            .pending
            .remove(&u64::from_le_bytes(ctx[8..].try_into().unwrap()))?;
        // Proposed at `deadline - PROPOSAL_TIMEOUT_MS`: Consul's commit time, proposal to apply.
        let proposed = deadline - Duration::from_millis(PROPOSAL_TIMEOUT_MS);
        telemetry::measure_since(Key::plain("raft.commitTime"), proposed);
        Some(reply)
    }

    fn apply(&mut self, entries: Vec<Entry>) -> std::io::Result<()> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        let mut applied = self.status.applied_index.load(Ordering::Relaxed);
        for entry in entries {
            assert!(
                entry.index > applied,
                "committed entry {} after {applied}: apply order is index order",
                entry.index
            );
            applied = entry.index;
            let reply = self.take_reply(&entry);
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => continue, // leader no-op
                EntryType::EntryNormal => match Command::decode(&entry.data) {
                    Ok(cmd) => self.dispatch(entry.index, cmd, reply),
                    Err(e) => panic!("committed entry {} does not decode: {e}", entry.index),
                },
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change(&entry)?;
                    if let Some(r) = reply {
                        let _ = r.send(WriteOutcome::Bool(true));
                    }
                }
            }
        }
        self.status.applied_index.store(last, Ordering::Relaxed);
        for shard in 0..self.shards.len() {
            self.deliver(shard, ShardMsg::Committed { index: last });
        }
        Ok(())
    }

    /// A committed configuration change (a server removed by `leave`, `force-leave` or
    /// `operator raft remove-peer`): applied to raft-rs, the voter set and the address book.
    fn apply_conf_change(&mut self, entry: &Entry) -> std::io::Result<()> {
        let cc: raft::eraftpb::ConfChange = match protobuf::Message::parse_from_bytes(&entry.data) {
            Ok(cc) => cc,
            Err(e) => panic!("committed conf change {} does not decode: {e}", entry.index),
        };
        let node = self.node.as_mut().unwrap();
        let cs = match node.apply_conf_change(&cc) {
            Ok(cs) => cs,
            Err(e) => {
                tracing::warn!(target: "agent.server.raft", "configuration change refused: {e}");
                return Ok(());
            }
        };
        let mut records = Vec::new();
        node.mut_store().set_conf_state(&cs, &mut records);
        let mut peers: Vec<PeerRecord> = node.store().peers().to_vec();
        use raft::eraftpb::ConfChangeType::{AddLearnerNode, AddNode};
        if matches!(cc.change_type, AddNode | AddLearnerNode) {
            match record::decode_peer(&cc.context) {
                Ok(added) => {
                    peers.retain(|p| p.raft_id != added.raft_id);
                    peers.push(added);
                    peers.sort_by_key(|p| p.raft_id);
                }
                // Still a voter; its address comes from gossip until a change names it.
                Err(e) => {
                    tracing::warn!(target: "agent.server.raft", "added voter without an address: {e}")
                }
            }
        }
        let peers: Vec<PeerRecord> = peers
            .into_iter()
            .filter(|p| cs.voters.contains(&p.raft_id) || cs.learners.contains(&p.raft_id))
            .collect();
        node.mut_store().set_peers(peers.clone(), &mut records);
        self.persist(&records)?;
        self.publish_peers(&peers, &cs.learners);
        Ok(())
    }

    /// Hands the committed `cmd` to the shards that own what it touches (`state::place`).
    fn dispatch(&mut self, index: u64, cmd: Command, reply: Option<WriteReply>) {
        match place(cmd, self.shards.len()) {
            Placement::Nowhere(outcome) => {
                if let Some(r) = reply {
                    let _ = r.send(outcome);
                }
            }
            Placement::One { shard, work } => {
                self.deliver(shard, ShardMsg::Apply { index, work, reply });
            }
            Placement::Every(cmd) => {
                // Shard 0 answers (a session create can be refused), and gets the command
                // last: every other shard has it queued before the proposer hears back, so
                // any later read queues behind it. Every shard is marked before any gets it:
                // once one shard has applied it, every shard that has not shows as lagging
                // (the answer caches' stamps rely on it).
                for shard in self.shards.iter() {
                    shard.mark_every_sent(index);
                }
                for shard in (1..self.shards.len()).rev() {
                    let work = ShardWork::Command(cmd.clone());
                    let reply = None;
                    self.deliver(shard, ShardMsg::Apply { index, work, reply });
                }
                let work = ShardWork::Command(cmd);
                self.deliver(0, ShardMsg::Apply { index, work, reply });
            }
            Placement::Txn { parts } => {
                // Registered first: a vote may come back while later parts are delivered.
                let participants = parts.iter().map(|(shard, _)| *shard).collect();
                self.txns.begin(index, participants, reply);
                for (shard, ops) in parts {
                    let work = ShardWork::TxnPart { ops, alone: false };
                    let reply = None;
                    self.deliver(shard, ShardMsg::Apply { index, work, reply });
                }
            }
        }
    }

    /// Enqueues `msg` on a shard, waiting while its ring is full: a committed entry is never
    /// dropped. While it waits it keeps coordinating transactions, because the ring may be
    /// full behind a shard frozen on an undecided transaction whose last vote is in our vote
    /// queue: waiting without deciding would wait forever.
    fn deliver(&mut self, shard: usize, mut msg: ShardMsg) {
        loop {
            match self.shards[shard].try_send(msg) {
                Ok(()) => return,
                Err(back) => msg = back,
            }
            let mut coordinated = false;
            while let Ok(input) = self.votes.try_recv() {
                coordinated = true;
                match input {
                    RaftInput::TxnVote(vote) => self.on_vote(vote),
                    _ => unreachable!("only votes travel on the vote queue"),
                }
            }
            if !coordinated {
                std::thread::yield_now();
            }
        }
    }

    fn on_vote(&mut self, vote: TxnVote) {
        let Some(decision) = self.txns.vote(vote) else {
            return;
        };
        for &shard in &decision.participants {
            self.shards[shard].decide(decision.index, decision.commit);
        }
        if let Some(reply) = decision.reply {
            let _ = reply.send(decision.outcome);
        }
    }
}

/// Removes and returns the waiters whose deadline has passed.
fn take_expired<T>(waiting: &mut HashMap<u64, (T, Instant)>, now: Instant) -> Vec<T> {
    let due: Vec<u64> = waiting
        .iter()
        .filter(|(_, (_, deadline))| now >= *deadline)
        .map(|(id, _)| *id)
        .collect();
    due.into_iter()
        .filter_map(|id| waiting.remove(&id).map(|(t, _)| t))
        .collect()
}
