//! The gossip shell on shard 0: a `Swim` core on our own UDP socket, push-pull streams over
//! TCP on the same port, encryption, `join`/`leave`/`force-leave`, the members snapshot for
//! rejoining after a restart. One runtime per pool: the LAN pool of the datacenter
//! (`ports.serf_lan`, every agent) and, on servers, the WAN pool of the servers of every
//! datacenter (`ports.serf_wan`, members named `<node>.<dc>`, memberlist's WAN timings).
//! What membership drives:
//! - `ClusterView::servers` (client agents find servers; Raft finds peer addresses);
//! - `ClusterView::wan` (`?dc=` forwarding, other datacenters' DNS, `catalog/datacenters`);
//! - `bootstrap_expect` (bootstrap once, with the servers gossip found);
//! - on the leader, the catalog: `serfHealth` passing/critical, left nodes deregistered.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Notify;

use crate::catalog::{CatalogCommand, CheckDef, NodeDef, RegisterRequest, CRITICAL, PASSING};
use crate::cluster::{raft_id_of, ServerInfo};
use crate::config::{
    AgentConfig, GOSSIP_MEMBERS_MAX, GOSSIP_PACKET_RECV_BYTES_MAX, GOSSIP_PUSH_PULL_BYTES_MAX,
    GOSSIP_QUERY_TIMEOUT_MS, GOSSIP_STREAM_TIMEOUT_MS, USER_EVENTS_KEPT,
};
use crate::gossip::crypto::Keyring;
use crate::gossip::keyring_query::{self, KeyOp, PoolTally};
use crate::gossip::wire::{decode_push_pull, encode_push_pull, UserEvent};
use crate::gossip::{MemberEvent, MemberState, Output, Swim, SwimConfig};
use crate::mesh::RaftInput;
use crate::node::ctx::ShardCtx;
use crate::state::Command;
use crate::state::WriteOutcome;
use crate::version::{CONSUL_API_VERSION, REVISION};

/// How often the leader reconciles membership into the catalog without an event.
const RECONCILE_INTERVAL_MS: u64 = 5_000;
/// How often a server looks for servers of its datacenter missing from the WAN pool.
const WAN_FLOOD_INTERVAL_MS: u64 = 2_000;
/// The gossip core's timer resolution.
const GOSSIP_TICK_MS: u64 = 10;
/// The WAN servers' measured RTTs are republished every this many ticks (5 s).
const WAN_RTT_REFRESH_TICKS: u64 = 500;
/// `retry_join` attempts are this far apart (Consul's `retry_interval` default).
const RETRY_JOIN_INTERVAL_MS: u64 = 30_000;

/// Counters `info` shows beside the core's own.
#[derive(Default, Clone)]
pub struct ShellStats {
    pub decrypt_failures: u64,
    pub oversized: u64,
}

/// Which pool a runtime serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    Lan,
    Wan,
}

pub struct GossipRuntime {
    pub pool: Pool,
    pub swim: RefCell<Swim>,
    socket: UdpSocket,
    /// Changed at run time by keyring queries (`tribune keyring`); persisted in
    /// `<data_dir>/serf/local.keyring` (LAN) or `remote.keyring` (WAN).
    keyring: RefCell<Keyring>,
    /// Queries this member started and not yet finished: answers so far, by query id.
    queries: RefCell<std::collections::HashMap<u64, PendingQuery>>,
    query_answered: Notify,
    started: Instant,
    config: AgentConfig,
    /// Rung on every membership event.
    pub changed: Notify,
    pub shell_stats: RefCell<ShellStats>,
    /// User events delivered to this agent (filters matched), oldest first, at most
    /// `USER_EVENTS_KEPT`; `events_changed` rings on each.
    pub events: RefCell<std::collections::VecDeque<UserEvent>>,
    pub events_changed: Notify,
    ltime: std::cell::Cell<u64>,
    /// The leader's autopilot: since when each non-voter has been healthy (by Raft id).
    healthy_since: RefCell<std::collections::HashMap<u64, Instant>>,
}

/// Answers to a query this member started; each member counted once.
struct PendingQuery {
    from: std::collections::HashSet<String>,
    tally: PoolTally,
}

/// The tags this agent gossips, as Consul's agents do (`members -detailed` shows them).
pub fn local_tags(config: &AgentConfig) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = vec![
        ("build".into(), format!("{CONSUL_API_VERSION}:{REVISION}")),
        ("dc".into(), config.datacenter.clone()),
        ("id".into(), config.node_id.clone()),
        ("vsn".into(), "2".into()),
        ("vsn_min".into(), "2".into()),
        ("vsn_max".into(), "3".into()),
    ];
    if config.server {
        tags.extend([
            ("role".into(), "consul".into()),
            ("port".into(), config.server_port.to_string()),
            ("raft_vsn".into(), "3".into()),
            ("segment".into(), "<all>".into()),
            ("wan_join_port".into(), config.serf_wan_port.to_string()),
            (
                "acls".into(),
                if config.acl_enabled { "1" } else { "0" }.into(),
            ),
            ("ft_fs".into(), "1".into()),
            ("ft_si".into(), "1".into()),
        ]);
        if config.bootstrap_expect > 0 {
            tags.push(("expect".into(), config.bootstrap_expect.to_string()));
        }
    } else {
        tags.extend([
            ("role".into(), "node".into()),
            ("segment".into(), String::new()),
        ]);
    }
    tags.sort();
    tags
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl GossipRuntime {
    /// Binds nothing (the sockets come from `shard::start`, so bind errors stop the agent
    /// early); spawns the receive, timer and accept loops on the current LocalSet.
    pub fn start(
        ctx: &ShardCtx,
        config: &AgentConfig,
        pool: Pool,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Rc<GossipRuntime> {
        let (name, port, mut timings) = match pool {
            Pool::Lan => (
                config.node_name.clone(),
                config.serf_lan_port,
                SwimConfig::lan(),
            ),
            Pool::Wan => (
                format!("{}.{}", config.node_name, config.datacenter),
                config.serf_wan_port,
                SwimConfig::wan(),
            ),
        };
        timings.coordinates = !config.disable_coordinates;
        let advertise = SocketAddr::new(config.bind_addr, port);
        let swim = Swim::new(
            timings,
            &name,
            advertise,
            local_tags(config),
            rand::random(),
            0,
        );
        let keyring = load_keyring(config, pool);
        let rt = Rc::new(GossipRuntime {
            pool,
            swim: RefCell::new(swim),
            socket: UdpSocket::from_std(udp).expect("UDP socket on this runtime"),
            keyring: RefCell::new(keyring),
            queries: RefCell::new(std::collections::HashMap::new()),
            query_answered: Notify::new(),
            started: Instant::now(),
            config: config.clone(),
            changed: Notify::new(),
            shell_stats: RefCell::new(ShellStats::default()),
            events: RefCell::new(std::collections::VecDeque::new()),
            events_changed: Notify::new(),
            ltime: std::cell::Cell::new(0),
            healthy_since: RefCell::new(std::collections::HashMap::new()),
        });
        rt.refresh_servers(ctx);
        let tcp = tokio::net::TcpListener::from_std(tcp).expect("listener on this runtime");
        tokio::task::spawn_local(rt.clone().recv_loop(ctx.clone()));
        tokio::task::spawn_local(rt.clone().tick_loop(ctx.clone()));
        tokio::task::spawn_local(rt.clone().accept_loop(ctx.clone(), tcp));
        tokio::task::spawn_local(rt.clone().join_at_start(ctx.clone()));
        if config.server && pool == Pool::Lan {
            tokio::task::spawn_local(rt.clone().leader_loop(ctx.clone()));
        }
        rt
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The same clock in µs: probe round trips (coordinates, RTT ordering).
    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub fn encrypted(&self) -> bool {
        self.keyring.borrow().enabled()
    }

    /// This member's keys, primary first (`/v1/operator/keyring?local-only`).
    pub fn local_keys(&self) -> Vec<String> {
        self.keyring.borrow().keys_base64()
    }

    /// Runs a keyring operation across the pool: a query every member acts on and answers.
    /// Waits for every member this one believes alive, or `GOSSIP_QUERY_TIMEOUT_MS`.
    pub async fn key_operation(self: &Rc<Self>, ctx: &ShardCtx, op: KeyOp, key: &str) -> PoolTally {
        let mut out = Vec::new();
        let id = {
            let mut swim = self.swim.borrow_mut();
            let expected = swim.alive_count();
            let id = swim.start_query(op.query_name(), key.as_bytes().to_vec(), &mut out);
            self.queries.borrow_mut().insert(
                id,
                PendingQuery {
                    from: Default::default(),
                    tally: PoolTally::new(expected),
                },
            );
            id
        };
        self.process(ctx, out);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(GOSSIP_QUERY_TIMEOUT_MS);
        loop {
            let answered = self.query_answered.notified();
            if self.queries.borrow()[&id].tally.complete() {
                break;
            }
            if tokio::time::timeout_at(deadline, answered).await.is_err() {
                break;
            }
        }
        self.queries
            .borrow_mut()
            .remove(&id)
            .expect("only this call removes it")
            .tally
    }

    /// A keyring query reached this member: act on our keyring, persist, answer the origin.
    fn answer_query(self: &Rc<Self>, ctx: &ShardCtx, q: crate::gossip::wire::Query) {
        let Some(op) = KeyOp::from_query_name(&q.name) else {
            return; // a query we do not serve: no answer, as serf ignores unknown ones
        };
        let (answer, changed) =
            keyring_query::apply(&mut self.keyring.borrow_mut(), op, &q.payload);
        if changed {
            tracing::info!(target: "agent", "{:?} gossip keyring: {} (asked by {})",
                self.pool,
                op.query_name(),
                q.origin
            );
            self.write_keyring();
        }
        let mut out = Vec::new();
        self.swim
            .borrow_mut()
            .respond(&q, answer.encode(), &mut out);
        self.process(ctx, out);
    }

    fn record_answer(&self, id: u64, from: String, payload: &[u8]) {
        let mut queries = self.queries.borrow_mut();
        let Some(pending) = queries.get_mut(&id) else {
            return; // late, or not ours
        };
        if pending.from.insert(from.clone()) {
            pending.tally.add(&from, payload);
            self.query_answered.notify_waiters();
        }
    }

    /// Persists the keyring as Consul does: a JSON array of base64 keys, primary first.
    fn write_keyring(&self) {
        let Some(path) = keyring_path(&self.config, self.pool) else {
            return;
        };
        let text = serde_json::to_string(&self.keyring.borrow().keys_base64()).unwrap();
        let _ = std::fs::create_dir_all(path.parent().unwrap());
        if let Err(e) = crate::io::write_file_atomically(&path, text.as_bytes()) {
            tracing::error!(target: "agent", "writing {}: {e}", path.display());
        }
    }

    fn process(self: &Rc<Self>, ctx: &ShardCtx, out: Vec<Output>) {
        let mut events = false;
        for o in out {
            match o {
                Output::Packet { to, bytes } => {
                    let sealed = self.keyring.borrow().seal(&bytes);
                    // Non-blocking: a full socket buffer drops the datagram, as UDP would.
                    let _ = self.socket.try_send_to(&sealed, to);
                }
                Output::PushPull { to, join } => {
                    let (rt, ctx) = (self.clone(), ctx.clone());
                    tokio::task::spawn_local(async move {
                        let _ = rt.push_pull(&ctx, to, join).await;
                    });
                }
                Output::Event(e) => {
                    events = true;
                    log_event(&e);
                }
                Output::UserEvent(ev) => self.deliver_event(ctx, ev),
                Output::Query(q) => self.answer_query(ctx, q),
                Output::QueryResponse { id, from, payload } => {
                    self.record_answer(id, from, &payload)
                }
            }
        }
        if events {
            self.refresh_servers(ctx);
            self.write_snapshot();
            self.changed.notify_waiters();
            self.changed.notify_one();
        }
    }

    async fn recv_loop(self: Rc<Self>, ctx: ShardCtx) {
        let mut buf = vec![0u8; GOSSIP_PACKET_RECV_BYTES_MAX + 1];
        loop {
            let Ok((n, from)) = self.socket.recv_from(&mut buf).await else {
                continue;
            };
            if n > GOSSIP_PACKET_RECV_BYTES_MAX {
                self.shell_stats.borrow_mut().oversized += 1;
                continue;
            }
            let opened = self.keyring.borrow().open(&buf[..n]);
            let plain = match opened {
                Ok(p) => p,
                Err(_) => {
                    self.shell_stats.borrow_mut().decrypt_failures += 1;
                    continue;
                }
            };
            let mut out = Vec::new();
            let mut swim = self.swim.borrow_mut();
            swim.observe_clock_us(self.now_us());
            swim.on_packet(self.now(), from, &plain, &mut out);
            drop(swim);
            self.process(&ctx, out);
        }
    }

    async fn tick_loop(self: Rc<Self>, ctx: ShardCtx) {
        let mut every = tokio::time::interval(Duration::from_millis(GOSSIP_TICK_MS));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ticks = 0u64;
        loop {
            every.tick().await;
            let mut out = Vec::new();
            let mut swim = self.swim.borrow_mut();
            swim.observe_clock_us(self.now_us());
            swim.tick(self.now(), &mut out);
            drop(swim);
            self.process(&ctx, out);
            ticks += 1;
            if self.pool == Pool::Wan && ticks.is_multiple_of(WAN_RTT_REFRESH_TICKS) {
                self.refresh_servers(&ctx); // new RTTs for `catalog/datacenters`
            }
        }
    }

    async fn accept_loop(self: Rc<Self>, ctx: ShardCtx, tcp: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let (rt, ctx) = (self.clone(), ctx.clone());
            tokio::task::spawn_local(async move {
                let limit = Duration::from_millis(GOSSIP_STREAM_TIMEOUT_MS);
                let _ = tokio::time::timeout(limit, rt.answer_push_pull(&ctx, stream)).await;
            });
        }
    }

    async fn read_state(&self, s: &mut TcpStream) -> Result<crate::gossip::wire::PushPull, String> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let len = u32::from_le_bytes(len) as usize;
        if len > GOSSIP_PUSH_PULL_BYTES_MAX {
            return Err("push-pull state too large".into());
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let opened = self.keyring.borrow().open(&body);
        let plain = opened.map_err(|e| {
            self.shell_stats.borrow_mut().decrypt_failures += 1;
            format!("{e}")
        })?;
        decode_push_pull(&plain, GOSSIP_MEMBERS_MAX).map_err(|e| e.to_string())
    }

    async fn write_state(&self, s: &mut TcpStream, join: bool) -> Result<(), String> {
        let state = encode_push_pull(&self.swim.borrow().push_pull_state(join));
        let body = self.keyring.borrow().seal(&state);
        let mut framed = (body.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&body);
        s.write_all(&framed).await.map_err(|e| e.to_string())
    }

    async fn answer_push_pull(
        self: &Rc<Self>,
        ctx: &ShardCtx,
        mut s: TcpStream,
    ) -> Result<(), String> {
        let remote = self.read_state(&mut s).await?;
        self.write_state(&mut s, remote.join).await?;
        self.merge(ctx, remote);
        Ok(())
    }

    /// One push-pull with `to`; `Ok` when the exchange completed.
    async fn push_pull(
        self: &Rc<Self>,
        ctx: &ShardCtx,
        to: SocketAddr,
        join: bool,
    ) -> Result<(), String> {
        let limit = Duration::from_millis(GOSSIP_STREAM_TIMEOUT_MS);
        let exchange = async {
            let mut s = crate::io::listen::connect_from(self.config.bind_addr, to)
                .await
                .map_err(|e| e.to_string())?;
            self.write_state(&mut s, join).await?;
            self.read_state(&mut s).await
        };
        let remote = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| "i/o timeout".to_string())??;
        self.merge(ctx, remote);
        Ok(())
    }

    fn merge(self: &Rc<Self>, ctx: &ShardCtx, remote: crate::gossip::wire::PushPull) {
        let mut out = Vec::new();
        self.swim
            .borrow_mut()
            .on_push_pull(self.now(), remote, &mut out);
        self.process(ctx, out);
    }

    /// `join`: a push-pull with each address; returns how many answered, and the errors.
    pub async fn join(self: &Rc<Self>, ctx: &ShardCtx, addrs: &[String]) -> (usize, Vec<String>) {
        let mut joined = 0;
        let mut errors = Vec::new();
        for a in addrs {
            let port = match self.pool {
                Pool::Lan => self.config.serf_lan_port,
                Pool::Wan => self.config.serf_wan_port,
            };
            let addr = match resolve(a, port) {
                Ok(addr) => addr,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            match self.push_pull(ctx, addr, true).await {
                Ok(()) => joined += 1,
                Err(e) => errors.push(format!("Failed to join {addr}: {e}")),
            }
        }
        (joined, errors)
    }

    /// Graceful leave: tell everyone, give the broadcast time to spread, forget the snapshot
    /// (so a restart does not rejoin unless `rejoin_after_leave`).
    pub async fn leave(self: &Rc<Self>) {
        self.swim.borrow_mut().leave(self.now());
        if !self.config.rejoin_after_leave {
            if let Some(path) = self.snapshot_path() {
                let _ = std::fs::write(path, "leave\n");
            }
        }
        // memberlist waits for the leave broadcast to be sent (up to the leave timeout).
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }

    /// `/v1/event/fire`: floods the event to the pool (and delivers it here if it matches).
    pub fn fire_event(self: &Rc<Self>, ctx: &ShardCtx, mut ev: UserEvent) -> UserEvent {
        self.ltime.set(self.ltime.get() + 1);
        ev.ltime = self.ltime.get();
        let mut out = Vec::new();
        self.swim.borrow_mut().fire_event(ev.clone(), &mut out);
        self.process(ctx, out);
        ev
    }

    /// Keeps an event whose filters match this agent (Consul's `shouldProcessUserEvent`:
    /// node name, then a local service's name, then that service's tags).
    fn deliver_event(&self, ctx: &ShardCtx, ev: UserEvent) {
        self.ltime.set(self.ltime.get().max(ev.ltime));
        let full = |re: &str| regex::Regex::new(&format!("^(?:{re})$")).ok();
        if !ev.node_filter.is_empty()
            && !full(&ev.node_filter).is_some_and(|r| r.is_match(&self.config.node_name))
        {
            return;
        }
        if !ev.service_filter.is_empty() {
            let Some(service_re) = full(&ev.service_filter) else {
                return;
            };
            let tag_re = (!ev.tag_filter.is_empty())
                .then(|| full(&ev.tag_filter))
                .flatten();
            let local = ctx.agent().local.borrow();
            let matched = local.services.values().any(|s| {
                service_re.is_match(&s.def.name)
                    && (ev.tag_filter.is_empty()
                        || tag_re
                            .as_ref()
                            .is_some_and(|t| s.def.tags.iter().any(|x| t.is_match(x))))
            });
            if !matched {
                return;
            }
        }
        let mut kept = self.events.borrow_mut();
        if kept.len() == USER_EVENTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(ev);
        drop(kept);
        self.events_changed.notify_waiters();
    }

    pub fn force_leave(self: &Rc<Self>, ctx: &ShardCtx, node: &str, prune: bool) -> bool {
        let mut out = Vec::new();
        let done = self
            .swim
            .borrow_mut()
            .force_leave(node, prune, self.now(), &mut out);
        self.process(ctx, out);
        done
    }

    fn snapshot_path(&self) -> Option<std::path::PathBuf> {
        self.config.data_dir.as_ref().map(|d| {
            d.join("serf").join(match self.pool {
                Pool::Lan => "local.snapshot",
                Pool::Wan => "remote.snapshot",
            })
        })
    }

    /// Writes the live members' addresses, so that a restart rejoins without `-join`.
    fn write_snapshot(&self) {
        let Some(path) = self.snapshot_path() else {
            return;
        };
        let swim = self.swim.borrow();
        if swim.member(swim.name()).map(|m| m.state) == Some(MemberState::Left) {
            return;
        }
        let mut text = String::new();
        for m in swim.members() {
            if m.state == MemberState::Alive && m.name != swim.name() {
                text.push_str(&format!("alive: {} {}\n", m.name, m.addr));
            }
        }
        let _ = std::fs::create_dir_all(path.parent().unwrap());
        let _ = std::fs::write(&path, text);
    }

    fn joined(&self, ctx: &ShardCtx) {
        if self.pool == Pool::Lan {
            ctx.mesh
                .cluster
                .lan_joined
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn join_at_start(self: Rc<Self>, ctx: ShardCtx) {
        // Previous members first (unless we left), then -join, then -retry-join until it works.
        if let Some(path) = self.snapshot_path() {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if !text.starts_with("leave") {
                    let addrs: Vec<String> = text
                        .lines()
                        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
                        .collect();
                    if !addrs.is_empty() {
                        let (n, _) = self.join(&ctx, &addrs).await;
                        tracing::info!(target: "agent", "rejoined {n} previous member(s) from the snapshot"
                        );
                    }
                }
            }
        }
        let (start_join, retry_join, cluster) = match self.pool {
            Pool::Lan => (&self.config.start_join, &self.config.retry_join, "LAN"),
            Pool::Wan => (
                &self.config.start_join_wan,
                &self.config.retry_join_wan,
                "WAN",
            ),
        };
        if !start_join.is_empty() {
            let (n, errors) = self.join(&ctx, start_join).await;
            for e in errors {
                tracing::warn!(target: "agent", "join: cluster={cluster} {e}");
            }
            tracing::info!(target: "agent", "joined cluster={cluster} {n} node(s)");
            if n > 0 {
                self.joined(&ctx);
            }
        }
        if retry_join.is_empty() {
            return;
        }
        let mut attempt = 1;
        loop {
            let (n, errors) = self.join(&ctx, retry_join).await;
            if n > 0 {
                tracing::info!(target: "agent", "retry join completed: cluster={cluster} num_servers={n}"
                );
                self.joined(&ctx);
                return;
            }
            tracing::warn!(target: "agent", "retry join failed: cluster={cluster} attempt={attempt} error={:?}",
                errors.join("; ")
            );
            attempt += 1;
            let interval = self
                .config
                .retry_interval_ms
                .unwrap_or(RETRY_JOIN_INTERVAL_MS);
            tokio::time::sleep(Duration::from_millis(interval)).await;
        }
    }

    /// Publishes our datacenter's servers for forwarding and Raft addressing (LAN), or every
    /// datacenter's servers (WAN).
    fn refresh_servers(&self, ctx: &ShardCtx) {
        let swim = self.swim.borrow();
        let wan = self.pool == Pool::Wan;
        let mut servers: Vec<ServerInfo> = swim
            .members()
            .filter(|m| tag(&m.tags, "role") == Some("consul"))
            .filter(|m| wan || tag(&m.tags, "dc") == Some(self.config.datacenter.as_str()))
            .filter_map(|m| {
                let node_id = tag(&m.tags, "id")?.to_string();
                let port: u16 = tag(&m.tags, "port")?.parse().ok()?;
                Some(ServerInfo {
                    name: m.name.clone(),
                    raft_id: raft_id_of(&node_id),
                    node_id,
                    rpc_addr: SocketAddr::new(m.addr.ip(), port),
                    datacenter: tag(&m.tags, "dc").unwrap_or_default().to_string(),
                    expect: tag(&m.tags, "expect")
                        .and_then(|e| e.parse().ok())
                        .unwrap_or(0),
                    alive: matches!(
                        m.state,
                        MemberState::Alive | MemberState::Suspect | MemberState::Leaving
                    ),
                    rtt_us: swim.rtt_us(&m.name),
                    coord: match m.name == swim.name() {
                        true => swim.coordinate(),
                        false => swim.cached_coordinate(&m.name),
                    },
                })
            })
            .collect();
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        match self.pool {
            Pool::Lan => ctx.mesh.cluster.servers.store(Arc::new(servers)),
            Pool::Wan => ctx.mesh.cluster.wan.store(Arc::new(servers)),
        }
    }

    /// Servers only: bootstraps when `bootstrap_expect` servers are seen, and while leader,
    /// reconciles membership into the catalog.
    async fn leader_loop(self: Rc<Self>, ctx: ShardCtx) {
        use std::sync::atomic::Ordering::Relaxed;
        let status = ctx.mesh.status.clone();
        let mut was_leader = false;
        let mut last_acl_pass = Instant::now();
        let mut last_reconcile = Instant::now();
        let mut event = true;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !status.configured.load(Relaxed) {
                if event || last_reconcile.elapsed() >= Duration::from_secs(1) {
                    self.maybe_bootstrap(&ctx).await;
                    last_reconcile = Instant::now();
                }
            } else {
                let leader = status.is_leader.load(Relaxed);
                // Reconcile on gaining leadership, on a membership event, and periodically.
                let due = last_reconcile.elapsed() >= Duration::from_millis(RECONCILE_INTERVAL_MS);
                // Consul's leader initializes ACLs before it reconciles members; looked at again
                // every second (a restored snapshot may have taken the built-ins away), and
                // expired tokens reaped.
                let acl_due = !was_leader || last_acl_pass.elapsed() >= Duration::from_secs(1);
                if leader && self.config.acl_enabled && acl_due {
                    crate::node::acl::establish_acls(&ctx, &self.config).await;
                    crate::node::acl::reap_expired_tokens(&ctx).await;
                    last_acl_pass = Instant::now();
                }
                if leader && !was_leader {
                    establish_autopilot(&ctx, &self.config).await;
                }
                if leader && (!was_leader || event || due) {
                    self.reconcile(&ctx).await;
                    last_reconcile = Instant::now();
                }
                // Leading here means a reconcile ran while leading (above, on gaining it).
                status.leadership_established.store(leader, Relaxed);
                was_leader = leader;
            }
            event = tokio::select! {
                _ = &mut changed => true,
                _ = tokio::time::sleep(Duration::from_millis(250)) => false,
            };
        }
    }

    /// Consul's `maybeBootstrap`: with `bootstrap_expect` servers in view (all expecting the
    /// same number), ask each for its Raft configuration. If one already has a configuration
    /// that includes us, adopt it (it bootstrapped first with the same view); if one has a
    /// configuration without us, never bootstrap; otherwise bootstrap with everyone in view.
    async fn maybe_bootstrap(&self, ctx: &ShardCtx) {
        let expect = self.config.bootstrap_expect;
        if expect < 2 {
            return; // 0: join an existing cluster; 1: bootstrapped alone at start
        }
        let servers: Vec<ServerInfo> = ctx
            .mesh
            .cluster
            .servers
            .load()
            .iter()
            .filter(|s| s.alive)
            .cloned()
            .collect();
        if servers.len() < expect as usize {
            return;
        }
        if let Some(s) = servers.iter().find(|s| s.expect != expect) {
            tracing::error!(target: "agent", "member {} has a conflicting expect value ({} vs {expect}); all nodes should expect the same number",
                s.name, s.expect
            );
            return;
        }
        let me = raft_id_of(&self.config.node_id);
        for s in servers.iter().filter(|s| s.raft_id != me) {
            match peer_configuration(ctx, &self.config, s.rpc_addr).await {
                Err(e) => {
                    tracing::warn!(target: "agent", "cannot ask {} for its Raft peers: {e}",
                        s.name
                    );
                    return; // retry on the next event or second
                }
                Ok(peers) if peers.is_empty() => {}
                Ok(peers) => {
                    if peers.iter().any(|p| p.raft_id == me) {
                        let _ = ctx.mesh.raft.send(RaftInput::Bootstrap(peers));
                    } else {
                        tracing::warn!(target: "agent", "existing Raft peers reported by {}, disabling bootstrap mode",
                            s.name
                        );
                    }
                    return;
                }
            }
        }
        let _ = ctx.mesh.raft.send(RaftInput::Bootstrap(servers));
    }

    /// Consul's leader reconciliation of gossip members into the catalog.
    async fn reconcile(&self, ctx: &ShardCtx) {
        let members: Vec<crate::gossip::Member> = self.swim.borrow().members().cloned().collect();
        let mut cmds = Vec::new();
        let mut known = std::collections::HashSet::new();
        for m in &members {
            known.insert(m.name.clone());
            let (node, serf) = {
                let state = ctx.state.borrow();
                let node = state.catalog.node(&m.name).map(|n| n.def.clone());
                let serf = state
                    .catalog
                    .node_level_checks(&m.name)
                    .into_iter()
                    .find(|c| c.def.id == "serfHealth")
                    .map(|c| c.def);
                (node, serf)
            };
            match m.state {
                MemberState::Alive | MemberState::Suspect => {
                    let passing = serf.as_ref().is_some_and(|c| c.status == PASSING);
                    if !passing {
                        cmds.push(serf_health(m, node, PASSING, "Agent alive and reachable"));
                    }
                }
                MemberState::Dead => {
                    let critical = serf.as_ref().is_some_and(|c| c.status == CRITICAL);
                    if node.is_some() && !critical {
                        cmds.push(serf_health(
                            m,
                            node,
                            CRITICAL,
                            "Agent not live or unreachable",
                        ));
                    }
                }
                // Consul's reconcile has no case for a leaving member: it waits.
                MemberState::Leaving => {}
                MemberState::Left => {
                    if node.is_some() {
                        cmds.push(CatalogCommand::Deregister {
                            node: m.name.clone(),
                            service_id: None,
                            check_id: None,
                        });
                    }
                }
            }
        }
        // Nodes gossip once knew (they carry serfHealth) but has since reaped.
        let reaped: Vec<String> = {
            let state = ctx.state.borrow();
            state
                .catalog
                .nodes()
                .into_iter()
                .map(|n| n.def.name)
                .filter(|n| !known.contains(n))
                .filter(|n| {
                    state
                        .catalog
                        .node_level_checks(n)
                        .iter()
                        .any(|c| c.def.id == "serfHealth")
                })
                .collect()
        };
        for node in reaped {
            cmds.push(CatalogCommand::Deregister {
                node,
                service_id: None,
                check_id: None,
            });
        }
        // Servers that left (gracefully or by force-leave) leave the Raft configuration, as
        // Consul's leader removes them, and so do failed ones (autopilot, below); one change at
        // a time (raft-rs allows one pending).
        // A voter gossip does not know at all is kept: right after an election the member list
        // may still be filling in, and removing a live voter would cost quorum.
        let peers = ctx.mesh.cluster.peers.load();
        let me = raft_id_of(&self.config.node_id);
        let state_of = |name: &str| members.iter().find(|m| m.name == name).map(|m| m.state);
        let left = peers
            .iter()
            .find(|p| p.raft_id != me && state_of(&p.name) == Some(MemberState::Left));
        // Autopilot's dead-server cleanup (Consul's `cleanup_dead_servers`, on by default): a
        // voter gossip declared failed is removed as long as at most (voters - 1) / 2 are, so
        // the rest stay a quorum of their own; it is added back when it returns alive.
        let failed: Vec<_> = peers
            .iter()
            .filter(|p| p.raft_id != me && state_of(&p.name) == Some(MemberState::Dead))
            .collect();
        // A failed non-voter costs no quorum; failed voters go while the rest keep one.
        let voters = peers.iter().filter(|p| p.voter).count();
        let failed_voters = failed.iter().filter(|p| p.voter).count();
        let autopilot = current_autopilot(ctx, &self.config);
        // `MinQuorum`: no voter is pruned that would leave fewer voters than it.
        let above_min_quorum = voters.saturating_sub(1) as u64 >= autopilot.min_quorum;
        let dead = failed
            .iter()
            .find(|p| !p.voter)
            .or_else(|| {
                failed
                    .iter()
                    .find(|p| p.voter)
                    .filter(|_| failed_voters <= voters.saturating_sub(1) / 2)
                    .filter(|_| above_min_quorum)
            })
            .filter(|_| autopilot.cleanup_dead_servers)
            .copied();
        let gone = left.or(dead);
        if let Some(p) = gone {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let input = RaftInput::RemovePeer {
                raft_id: p.raft_id,
                reply: tx,
            };
            if ctx.mesh.raft.try_send(input).is_ok() {
                if let Ok(Err(e)) = rx.await {
                    tracing::warn!(target: "agent.leader", "removing {} from Raft: {e}", p.name);
                }
            }
        } else if let Some((s, (verb, to))) = self
            .stable_non_voter(ctx, &peers)
            // Autopilot's promotion: a non-voter healthy for `ServerStabilizationTime`.
            .map(|s| (s, ("promoting", "in")))
            .or_else(|| {
                // A live server of our datacenter that is not in the configuration joins it
                // as a non-voter, as Consul's leader adds servers on a member join (one change
                // at a time); autopilot promotes it once it is stable (above).
                let servers = ctx.mesh.cluster.servers.load();
                let joining = servers
                    .iter()
                    .find(|s| s.alive && !peers.iter().any(|p| p.raft_id == s.raft_id));
                joining.cloned().map(|s| (s, ("adding", "to")))
            })
        {
            // The same call does both (the Raft core adds a learner, promotes one).
            let name = s.name.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let input = RaftInput::AddPeer {
                server: s,
                reply: tx,
            };
            if ctx.mesh.raft.try_send(input).is_ok() {
                if let Ok(Err(e)) = rx.await {
                    tracing::warn!(target: "agent.leader", "{verb} {name} {to} Raft: {e}");
                }
            }
        }
        for cmd in cmds {
            if let WriteOutcome::Failed(e) = ctx.write(Command::Catalog(cmd)).await {
                tracing::warn!(target: "agent.leader", "member reconcile write failed: {e}");
                return;
            }
        }
    }
}

impl GossipRuntime {
    /// A non-voter that has been healthy (alive in gossip, answering the leader, within
    /// `MaxTrailingLogs` of its log) for autopilot's `ServerStabilizationTime`, as a server
    /// to promote. Tracks since when each one is healthy; an unhealthy one starts over.
    fn stable_non_voter(
        &self,
        ctx: &ShardCtx,
        peers: &[crate::cluster::RaftPeer],
    ) -> Option<crate::cluster::ServerInfo> {
        let autopilot = current_autopilot(ctx, &self.config);
        let status = &ctx.mesh.status;
        let last = status
            .last_log_index
            .load(std::sync::atomic::Ordering::Relaxed);
        let progress = status.progress.load();
        let servers = ctx.mesh.cluster.servers.load();
        let mut since = self.healthy_since.borrow_mut();
        let now = Instant::now();
        since.retain(|id, _| peers.iter().any(|p| p.raft_id == *id && !p.voter));
        let stable = Duration::from_nanos(autopilot.server_stabilization_time_ns);
        for p in peers.iter().filter(|p| !p.voter) {
            let alive = servers.iter().any(|s| s.raft_id == p.raft_id && s.alive);
            let healthy = progress.iter().any(|pr| {
                pr.raft_id == p.raft_id
                    && autopilot.follower_healthy(alive, last, pr.matched, pr.last_contact_ms)
            });
            if !healthy {
                since.remove(&p.raft_id);
                continue;
            }
            let first = *since.entry(p.raft_id).or_insert(now);
            if now.duration_since(first) >= stable {
                return servers.iter().find(|s| s.raft_id == p.raft_id).cloned();
            }
        }
        None
    }
}

/// Consul's flood join, on servers: every alive server of this datacenter that the LAN pool
/// knows and the WAN pool does not is WAN-joined (at its LAN address and its `wan_join_port`
/// tag), so that one server's `join -wan` brings every server of its datacenter into the WAN
/// pool, and with it every other datacenter.
pub async fn flood_wan(lan: Rc<GossipRuntime>, wan: Rc<GossipRuntime>, ctx: ShardCtx) {
    let dc = lan.config.datacenter.clone();
    loop {
        tokio::time::sleep(Duration::from_millis(WAN_FLOOD_INTERVAL_MS)).await;
        let in_wan: std::collections::HashSet<String> = wan
            .swim
            .borrow()
            .members()
            .filter(|m| m.state == MemberState::Alive)
            .map(|m| m.name.clone())
            .collect();
        let missing: Vec<String> = lan
            .swim
            .borrow()
            .members()
            .filter(|m| m.state == MemberState::Alive)
            .filter(|m| tag(&m.tags, "role") == Some("consul") && tag(&m.tags, "dc") == Some(&dc))
            .filter(|m| !in_wan.contains(&format!("{}.{dc}", m.name)))
            .filter_map(|m| {
                let port: u16 = tag(&m.tags, "wan_join_port")?.parse().ok()?;
                Some(SocketAddr::new(m.addr.ip(), port).to_string())
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let (joined, errors) = wan.join(&ctx, &missing).await;
        if joined > 0 {
            tracing::info!(target: "agent.server", "flood-joined {joined} server(s) of {dc} into the WAN pool");
        }
        for e in errors {
            tracing::debug!(target: "agent.server", "WAN flood join: {e}");
        }
    }
}

/// Autopilot's configuration in force: the replicated one, or the agent's `autopilot` block
/// until the leader has written it.
pub fn current_autopilot(ctx: &ShardCtx, config: &AgentConfig) -> crate::operator::AutopilotConfig {
    ctx.state
        .borrow()
        .autopilot
        .clone()
        .unwrap_or_else(|| config.autopilot.clone())
}

fn serf_health(
    m: &crate::gossip::Member,
    node: Option<NodeDef>,
    status: &str,
    output: &str,
) -> CatalogCommand {
    let existing = node.is_some();
    let node = node.unwrap_or_else(|| {
        let addr = m.addr.ip().to_string();
        NodeDef {
            id: tag(&m.tags, "id").unwrap_or("").to_string(),
            name: m.name.clone(),
            address: addr.clone(),
            datacenter: tag(&m.tags, "dc").unwrap_or("").to_string(),
            tagged_addresses: vec![("lan".into(), addr.clone()), ("wan".into(), addr)],
            meta: vec![("consul-network-segment".into(), String::new())],
        }
    });
    CatalogCommand::Register(Box::new(RegisterRequest {
        node,
        skip_node_update: existing,
        service: None,
        checks: vec![CheckDef {
            id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            status: status.into(),
            output: output.into(),
            ..Default::default()
        }],
    }))
}

/// `<data_dir>/serf/local.keyring` (LAN) or `remote.keyring` (WAN); none in dev mode or
/// with `disable_keyring_file`.
fn keyring_path(config: &AgentConfig, pool: Pool) -> Option<std::path::PathBuf> {
    if config.disable_keyring_file {
        return None;
    }
    config.data_dir.as_ref().map(|d| {
        d.join("serf").join(match pool {
            Pool::Lan => "local.keyring",
            Pool::Wan => "remote.keyring",
        })
    })
}

/// The keyring at start: as in Consul, a keyring file wins over `encrypt` (which only seeds
/// the file on first start), so rotated keys survive a restart.
fn load_keyring(config: &AgentConfig, pool: Pool) -> Keyring {
    let from_config = Keyring {
        keys: config.encrypt.iter().cloned().collect(),
    };
    let Some(path) = keyring_path(config, pool) else {
        return from_config;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        if from_config.enabled() {
            let _ = std::fs::create_dir_all(path.parent().unwrap());
            let json = serde_json::to_string(&from_config.keys_base64()).unwrap();
            let _ = crate::io::write_file_atomically(&path, json.as_bytes());
        }
        return from_config;
    };
    let parsed: Result<Vec<String>, String> =
        serde_json::from_str(&text).map_err(|e| e.to_string());
    let keys = parsed.and_then(|ks| {
        ks.iter()
            .take(crate::config::KEYRING_KEYS_MAX)
            .map(|k| crate::gossip::crypto::Key::parse(k))
            .collect::<Result<Vec<_>, _>>()
    });
    match keys {
        Ok(keys) if !keys.is_empty() => {
            if from_config.enabled() {
                tracing::warn!(target: "agent", "using the keyring in {}; the encrypt setting is ignored",
                    path.display()
                );
            }
            Keyring { keys }
        }
        Ok(_) => from_config,
        Err(e) => {
            tracing::error!(target: "agent", "unreadable keyring {}: {e}; using the encrypt setting",
                path.display()
            );
            from_config
        }
    }
}

/// The leader's first act for autopilot, as Consul's `getOrCreateAutopilotConfig`: writes
/// the initial configuration when the state has none (`cas=0`, so an operator's wins).
async fn establish_autopilot(ctx: &ShardCtx, config: &AgentConfig) {
    use crate::operator::AutopilotSet;
    if ctx.state.borrow().autopilot.is_some() {
        return;
    }
    let set = AutopilotSet {
        config: config.autopilot.clone(),
        cas: Some(0),
    };
    // Lost or refused: the operator API shows the agent's settings until one is written.
    let _ = ctx
        .write(crate::state::Command::Autopilot(Box::new(set)))
        .await;
}

fn log_event(e: &MemberEvent) {
    let (what, metric, name) = match e {
        MemberEvent::Joined(n) => ("member joined", "serf.member.join", n),
        MemberEvent::Updated(n) => ("member updated", "serf.member.update", n),
        MemberEvent::Failed(n) => ("member failed", "serf.member.failed", n),
        MemberEvent::Left(n) => ("member left", "serf.member.left", n),
        MemberEvent::Reaped(n) => ("member reaped", "serf.member.reap", n),
    };
    crate::node::telemetry::incr(crate::metrics::Key::plain(metric), 1.0);
    tracing::info!(target: "agent.serf.lan", "{what}: {name}");
}

/// `host`, `host:port` or `[v6]:port`, with the LAN port as default.
pub fn resolve(addr: &str, default_port: u16) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:{default_port}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("Failed to resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("Failed to resolve {addr}: no addresses"))
}

/// A server's Raft configuration, read over RPC (`/v1/operator/raft/configuration?stale`).
async fn peer_configuration(
    _ctx: &ShardCtx,
    config: &AgentConfig,
    addr: SocketAddr,
) -> Result<Vec<ServerInfo>, String> {
    let frame = crate::rpc::Frame::Http(crate::rpc::HttpRequest {
        method: "GET".into(),
        path: "/v1/operator/raft/configuration".into(),
        query: "stale".into(),
        // At the hop limit: answered by that server itself, never forwarded.
        headers: vec![(
            crate::node::rpc_client::HOPS_HEADER.into(),
            crate::node::rpc_client::FORWARD_HOPS_MAX.to_string(),
        )],
        body: Vec::new(),
    });
    let answer = match crate::node::rpc_client::call(config, addr, &frame).await? {
        crate::rpc::Frame::HttpAnswer(a) => a,
        _ => return Err("unexpected answer".into()),
    };
    if answer.status != 200 {
        return Ok(Vec::new()); // no configuration yet ("No cluster leader")
    }
    let v: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| format!("bad configuration: {e}"))?;
    let servers = v["Servers"].as_array().cloned().unwrap_or_default();
    Ok(servers
        .iter()
        .filter_map(|s| {
            let node_id = s["ID"].as_str()?.to_string();
            Some(ServerInfo {
                name: s["Node"].as_str()?.to_string(),
                raft_id: raft_id_of(&node_id),
                node_id,
                rpc_addr: s["Address"].as_str()?.parse().ok()?,
                datacenter: config.datacenter.clone(),
                expect: config.bootstrap_expect,
                alive: true,
                rtt_us: None,
                coord: None,
            })
        })
        .collect())
}
