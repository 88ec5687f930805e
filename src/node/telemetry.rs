//! The shell of `metrics`: every thread records into a registry of its own (a thread-local:
//! no lock, no shared atomic on the hot path) and publishes a copy of it into its slot once a
//! second from its own loop; a read merges the slots. Shard 0 cuts Consul's 10-second
//! intervals (cumulative registries at each boundary, differenced on read), sets the gauges
//! (runtime, Raft, members) and sends each interval to statsd/dogstatsd when configured.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::AgentConfig;
use crate::metrics::{Key, Naming, Registry};
use crate::node::ctx::ShardCtx;

/// go-metrics' in-memory sink interval.
const INTERVAL_SECS: u64 = 10;

struct Local {
    registry: Registry,
    dirty: bool,
    slot: Arc<Mutex<Registry>>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Every thread's published registry.
static SLOTS: Mutex<Vec<Arc<Mutex<Registry>>>> = Mutex::new(Vec::new());
/// Cumulative registries at the last interval boundaries (start second, registry), newest last.
static BOUNDARIES: Mutex<VecDeque<(u64, Registry)>> = Mutex::new(VecDeque::new());

fn with_local(record: impl FnOnce(&mut Registry)) {
    LOCAL.with(|cell| {
        let mut local = cell.borrow_mut();
        let local = local.get_or_insert_with(|| {
            let slot = Arc::new(Mutex::new(Registry::default()));
            SLOTS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(slot.clone());
            Local {
                registry: Registry::default(),
                dirty: false,
                slot,
            }
        });
        record(&mut local.registry);
        local.dirty = true;
    });
}

/// Adds `by` to a counter.
pub fn incr(key: Key, by: f64) {
    with_local(|r| r.incr(key, by));
}

/// Records a timer in milliseconds since `start`.
pub fn measure_since(key: Key, start: Instant) {
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    with_local(|r| r.sample(key, ms));
}

/// Sets a gauge.
pub fn gauge(key: Key, value: f64) {
    with_local(|r| r.gauge(key, value));
}

/// Copies this thread's registry into its slot, if it changed. Each recording thread calls it
/// from its own loop, about once a second.
pub fn publish() {
    LOCAL.with(|cell| {
        if let Some(local) = cell.borrow_mut().as_mut().filter(|l| l.dirty) {
            local
                .slot
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone_from(&local.registry);
            local.dirty = false;
        }
    });
}

/// Publishes this shard's registry every second, forever (one task per shard).
pub async fn publish_every_second() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        publish();
    }
}

/// Everything every thread published, merged (cumulative since start).
pub fn collect() -> Registry {
    let slots: Vec<Arc<Mutex<Registry>>> = SLOTS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut total = Registry::default();
    for slot in slots {
        total.merge(&slot.lock().unwrap_or_else(|p| p.into_inner()));
    }
    total
}

/// The interval `/v1/agent/metrics` shows: the last finished one once there is one, else
/// what was recorded since the first boundary (Consul shows its current interval then).
pub fn last_interval() -> (u64, Registry) {
    let boundaries = BOUNDARIES.lock().unwrap_or_else(|p| p.into_inner());
    match boundaries.len() {
        0 => (now_secs() / INTERVAL_SECS * INTERVAL_SECS, collect()),
        1 => (boundaries[0].0, collect().since(&boundaries[0].1)),
        n => (
            boundaries[n - 2].0,
            boundaries[n - 1].1.since(&boundaries[n - 2].1),
        ),
    }
}

fn now_secs() -> u64 {
    crate::io::host::unix_ms() / 1000
}

/// How this agent names its metrics.
pub fn naming(config: &AgentConfig) -> Naming {
    Naming {
        prefix: config.telemetry.metrics_prefix.clone(),
        host: (!config.telemetry.disable_hostname).then(crate::io::host::host_name),
    }
}

/// Shard 0's telemetry loop: gauges every second, an interval boundary every 10 s (aligned
/// to the wall clock, as go-metrics aligns them), statsd lines per interval.
pub async fn run(ctx: ShardCtx) {
    let config = ctx.agent().config.clone();
    let naming = naming(&config);
    let statsd = statsd_socket(&config);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_boundary = 0;
    loop {
        tick.tick().await;
        set_gauges(&ctx);
        publish();
        let boundary = now_secs() / INTERVAL_SECS * INTERVAL_SECS;
        if boundary == last_boundary {
            continue;
        }
        last_boundary = boundary;
        let total = collect();
        let mut boundaries = BOUNDARIES.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some((socket, target, tagged)), Some((_, previous))) = (&statsd, boundaries.back())
        {
            send_statsd(socket, target, *tagged, &total.since(previous), &naming);
        }
        boundaries.push_back((boundary, total));
        while boundaries.len() > 2 {
            boundaries.pop_front();
        }
    }
}

fn set_gauges(ctx: &ShardCtx) {
    use std::sync::atomic::Ordering;
    let status = &ctx.mesh.status;
    let agent = ctx.agent();
    if agent.config.server {
        let leader = status.is_leader.load(Ordering::Relaxed);
        gauge(Key::plain("server.isLeader"), f64::from(u8::from(leader)));
        gauge(
            Key::plain("raft.applied_index"),
            status.applied_index.load(Ordering::Relaxed) as f64,
        );
        gauge(
            Key::plain("raft.commitNumLogs"),
            status.commit_index.load(Ordering::Relaxed) as f64,
        );
        gauge(
            Key::plain("session_ttl.active"),
            ctx.state.borrow().sessions.len() as f64,
        );
    }
    let (servers, clients) = {
        let gossip = agent.gossip();
        let swim = gossip.swim.borrow();
        let alive = swim
            .members()
            .filter(|m| m.state == crate::gossip::MemberState::Alive);
        let (mut servers, mut clients) = (0usize, 0usize);
        for m in alive {
            match m.tags.iter().any(|(k, v)| k == "role" && v == "consul") {
                true => servers += 1,
                false => clients += 1,
            }
        }
        (servers, clients)
    };
    gauge(Key::plain("members.servers"), servers as f64);
    gauge(Key::plain("members.clients"), clients as f64);
    gauge(
        Key::with2(
            "version",
            ("version", crate::version::CONSUL_API_VERSION),
            ("pre_release", ""),
        ),
        1.0,
    );
    let (rss, threads) = crate::io::host::process_usage();
    gauge(Key::plain("runtime.alloc_bytes"), rss as f64);
    gauge(Key::plain("runtime.sys_bytes"), rss as f64);
    gauge(Key::plain("runtime.num_goroutines"), threads as f64);
}

type Statsd = (std::net::UdpSocket, std::net::SocketAddr, bool);

/// `telemetry.statsd_address` (plain) or `dogstatsd_addr` (labels as tags).
fn statsd_socket(config: &AgentConfig) -> Option<Statsd> {
    let (addr, tagged) = match (
        &config.telemetry.dogstatsd_addr,
        &config.telemetry.statsd_address,
    ) {
        (Some(a), _) => (a, true),
        (None, Some(a)) => (a, false),
        (None, None) => return None,
    };
    let target = crate::node::gossip_runtime::resolve(addr, 8125).ok()?;
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some((socket, target, tagged))
}

/// One interval as statsd lines: counters as `|c`, samples as their mean `|ms`, gauges `|g`.
/// (go-metrics' statsd sink sends each event as it happens; we send the interval's aggregates,
/// which is what a statsd server computes from them.)
fn send_statsd(
    socket: &std::net::UdpSocket,
    target: &std::net::SocketAddr,
    tagged: bool,
    interval: &Registry,
    naming: &Naming,
) {
    let line = |name: String, key: &Key, value: String, kind: &str| {
        let tags: Vec<String> = key
            .labels
            .iter()
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, v)| format!("{n}:{v}"))
            .collect();
        match tagged && !tags.is_empty() {
            true => format!("{name}:{value}|{kind}|#{}", tags.join(",")),
            false => format!("{name}:{value}|{kind}"),
        }
    };
    let prefix = |key: &Key| format!("{}.{}", naming.prefix, key.name);
    let mut lines = Vec::new();
    for (k, a) in &interval.counters {
        lines.push(line(prefix(k), k, a.sum.to_string(), "c"));
    }
    for (k, a) in &interval.samples {
        let mean = if a.count == 0 {
            0.0
        } else {
            a.sum / a.count as f64
        };
        lines.push(line(prefix(k), k, mean.to_string(), "ms"));
    }
    for (k, v) in interval.gauges.iter().filter(|(_, v)| v.is_finite()) {
        let name = match &naming.host {
            Some(host) => format!("{}.{host}.{}", naming.prefix, k.name),
            None => prefix(k),
        };
        lines.push(line(name, k, v.to_string(), "g"));
    }
    // Packets under a typical MTU, as statsd clients batch them.
    let mut packet = String::new();
    for l in lines {
        if !packet.is_empty() && packet.len() + l.len() + 1 > 1400 {
            let _ = socket.send_to(packet.as_bytes(), target);
            packet.clear();
        }
        if !packet.is_empty() {
            packet.push('\n');
        }
        packet.push_str(&l);
    }
    if !packet.is_empty() {
        let _ = socket.send_to(packet.as_bytes(), target);
    }
}
