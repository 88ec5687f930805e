//! loadgen: drives HTTP and DNS load at Tribune (or a peer: nginx, NSD, etcd) and reports
//! throughput and latency percentiles from HDR histograms.
//!
//! Modes: KV GET/PUT or any fixed GET path, closed-loop over keep-alive connections or
//! open-loop at a fixed rate measured from the intended send time (no coordinated omission);
//! `watch` (blocking-query fan-out); `sim-gossip` (the deterministic gossip simulator);
//! `--nodes N` (simulated gossip members on real UDP, then DNS/HTTP phases: `suite.rs`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod members;
mod sim_gossip;
mod suite;

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The HTTP load's settings (the default mode), after parsing.
pub struct Args {
    target: String,
    mode: String,
    path: String,
    connections: usize,
    seconds: f64,
    rate: Option<f64>,
    value_bytes: usize,
    keys: usize,
    json: bool,
    /// `--token`: sent as `X-Consul-Token` on every request (ACL-enabled targets).
    token: Option<String>,
    /// `--requests N`: stop after N requests in all (else after `--seconds`).
    requests: Option<u64>,
    /// `--new-keys`: kv-put and etcd-put write a key never written before on every request.
    new_keys: bool,
    /// `--window S`: also report rate and latency per window of S seconds.
    window: Option<f64>,
}

/// Command-line flags through clap: `--help` on every mode, Consul-style errors become clap's
/// one-line messages with exit 2.
#[derive(clap::Parser)]
#[command(
    name = "loadgen",
    about = "Drives HTTP, DNS, blocking-query and gossip load at Tribune (or a peer: nginx, NSD, etcd) and reports throughput and latency percentiles.",
    long_about = "Drives HTTP, DNS, blocking-query and gossip load at Tribune (or a peer: nginx, NSD, etcd) and reports throughput and latency percentiles from HDR histograms.\n\nWithout a subcommand: HTTP load (closed loop over keep-alive connections, or open loop at --rate measured from the intended send time). `--nodes N` is the same as the `suite` subcommand.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Mode>,
    #[command(flatten)]
    http: HttpFlags,
}

#[derive(clap::Subcommand)]
enum Mode {
    /// Blocking-query fan-out: N watchers on one key, a write every 100 ms, write-to-wake latency.
    Watch(WatchFlags),
    /// The deterministic gossip simulator (no network): convergence, detection, false deaths.
    SimGossip(SimFlags),
    /// Simulated gossip members on real UDP joining an agent, then DNS, HTTP and watcher phases.
    Suite(SuiteFlags),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum HttpMode {
    /// GET /v1/kv/loadgen/<n> (keys seeded first).
    KvGet,
    /// PUT /v1/kv/loadgen/<n> with --value-bytes.
    KvPut,
    /// etcd v3's JSON gateway: POST /v3/kv/put, same keys and values as kv-put.
    EtcdPut,
    /// GET --path, a fixed path.
    Get,
    /// PUT /v1/agent/service/register: a service with a TTL check per request (--keys of them).
    Register,
}

#[derive(clap::Args)]
struct HttpFlags {
    /// host:port to load.
    #[arg(long, visible_alias = "attach", default_value = "127.0.0.1:8500")]
    target: String,
    #[arg(long, value_enum, default_value = "kv-get")]
    mode: HttpMode,
    /// The path of `--mode get`.
    #[arg(long, default_value = "/v1/kv/loadgen/key")]
    path: String,
    /// Keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// How long to run.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    seconds: f64,
    /// Open loop at this many requests per second in all (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Value size of kv-put and etcd-put.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Distinct keys (or services, with register).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Stop after this many requests in all (else after --seconds).
    #[arg(long)]
    requests: Option<u64>,
    /// Sent as X-Consul-Token on every request.
    #[arg(long)]
    token: Option<String>,
    /// kv-put and etcd-put: every request writes a new key (`loadgen/<run>/<n>`), so the state
    /// grows as it would under sustained new writes (else --keys are overwritten).
    #[arg(long)]
    new_keys: bool,
    /// Also report throughput and latency per window of this many seconds (by completion
    /// time), so a stall or a decay shows.
    #[arg(long)]
    window: Option<f64>,
    /// Print one JSON object at the end instead of the text report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct WatchFlags {
    /// The agent's HTTP address.
    #[arg(long, visible_alias = "attach", default_value = "127.0.0.1:8500")]
    target: String,
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Watch this service's health (`/v1/health/service/NAME`, one instance re-registered
    /// with a new port at each write) instead of a KV key.
    #[arg(long)]
    service: Option<String>,
    /// Print one JSON object at the end instead of the text report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SimFlags {
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Packet loss while the loss phase runs (0.05 = 5 %).
    #[arg(long, default_value_t = 0.05)]
    loss: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Members paused (and later resumed) during the run.
    #[arg(long, default_value_t = 10)]
    paused: usize,
    #[arg(long, default_value_t = 120)]
    loss_seconds: u64,
    /// Start from a converged pool on one shared view (what lets 50,000 members fit).
    #[arg(long)]
    converged_start: bool,
    #[arg(long)]
    no_coordinates: bool,
    /// Print one JSON object at the end instead of the text report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SuiteFlags {
    /// Simulated gossip members to start.
    #[arg(long)]
    nodes: usize,
    /// The agent's HTTP address.
    #[arg(long, visible_alias = "target", default_value = "127.0.0.1:8500")]
    attach: String,
    /// Gossip address to join (repeatable).
    #[arg(long)]
    join: Vec<std::net::SocketAddr>,
    #[arg(long, default_value_t = 100.0)]
    join_rate: f64,
    /// The agent's DNS address.
    #[arg(long, default_value = "127.0.0.1:8600")]
    dns: std::net::SocketAddr,
    /// The loopback address the simulated members bind.
    #[arg(long, default_value = "127.0.0.1")]
    sim_ip: std::net::IpAddr,
    #[arg(long, default_value_t = 40000)]
    base_port: u16,
    #[arg(long, short = 'd', default_value_t = 5.0)]
    seconds: f64,
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Instances whose health flips during the phases.
    #[arg(long, default_value_t = 0)]
    flap: usize,
    /// The gossip encryption key (base64).
    #[arg(long)]
    encrypt: Option<String>,
    #[arg(long, default_value = "dc1")]
    datacenter: String,
    /// Members each simulated member holds in its partial view.
    #[arg(long, default_value_t = members::VIEW_DEFAULT)]
    view: usize,
    /// Print one JSON object at the end instead of the text report.
    #[arg(long)]
    json: bool,
}

impl HttpFlags {
    fn into_args(self) -> Args {
        let mode = match self.mode {
            HttpMode::KvGet => "kv-get",
            HttpMode::KvPut => "kv-put",
            HttpMode::EtcdPut => "etcd-put",
            HttpMode::Get => "get",
            HttpMode::Register => "register",
        };
        Args {
            target: self.target,
            mode: mode.into(),
            path: self.path,
            connections: self.connections.max(1),
            seconds: self.seconds,
            rate: self.rate,
            value_bytes: self.value_bytes,
            keys: self.keys.max(1),
            json: self.json,
            token: self.token,
            requests: self.requests,
            new_keys: self.new_keys,
            window: self.window.filter(|w| *w > 0.0),
        }
    }
}

/// Exits with one line when `target` does not accept a connection, instead of a panic or a
/// run that counts nothing but errors.
fn require_reachable(target: &str) {
    use std::net::ToSocketAddrs;
    let reachable = target
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| {
            let addr = addrs.next().ok_or("no address")?;
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    if let Err(e) = reachable {
        eprintln!("loadgen: cannot reach {target}: {e}");
        std::process::exit(1);
    }
}

/// The key (after `loadgen/`) of request `n`: one of `--keys`, or with `--new-keys` one never
/// written before (a per-run prefix keeps runs apart).
fn key_of(a: &Args, n: u64) -> String {
    if a.new_keys {
        static RUN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        format!("{:08x}/{n}", RUN.get_or_init(rand::random))
    } else {
        (n % a.keys as u64).to_string()
    }
}

fn request(a: &Args, n: u64) -> Vec<u8> {
    // Every request line below ends its head with `Host: {host}\r\n`: a token rides along
    // as the header after it.
    let host = match &a.token {
        Some(t) => format!("{}\r\nX-Consul-Token: {t}", a.target),
        None => a.target.clone(),
    };
    match a.mode.as_str() {
        "kv-put" => {
            let key = key_of(a, n);
            let mut r = format!(
                "PUT /v1/kv/loadgen/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
                a.value_bytes
            )
            .into_bytes();
            r.extend(std::iter::repeat_n(b'x', a.value_bytes));
            r
        }
        "etcd-put" => {
            // etcd v3's JSON gateway: the same key space and value size as kv-put.
            let key = key_of(a, n);
            let b64 = |b: &[u8]| tribune_b64(b);
            let body = format!(
                "{{\"key\":\"{}\",\"value\":\"{}\"}}",
                b64(format!("loadgen/{key}").as_bytes()),
                b64(&vec![b'x'; a.value_bytes])
            );
            let mut r = format!(
                "POST /v3/kv/put HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        }
        "register" => {
            // An agent service with a TTL check, a new one per request (`--keys` of them).
            let id = n % a.keys as u64;
            let body = format!(
                "{{\"Name\":\"svc-{}\",\"ID\":\"svc-{id}\",\"Port\":8080,\"Check\":{{\"CheckID\":\"chk-{id}\",\"TTL\":\"1h\",\"Status\":\"passing\"}}}}",
                id % 100
            );
            let mut r = format!(
                "PUT /v1/agent/service/register HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        }
        "kv-get" => format!(
            "GET /v1/kv/loadgen/{} HTTP/1.1\r\nHost: {host}\r\n\r\n",
            n % a.keys as u64
        )
        .into_bytes(),
        _ => format!("GET {} HTTP/1.1\r\nHost: {host}\r\n\r\n", a.path).into_bytes(),
    }
}

/// Reads one response; returns its status. Handles Content-Length bodies (all we need).
pub async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| std::io::Error::other("bad status line"))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .map(|(_, v)| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 16384];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub struct Outcome {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    /// With `--window`: one histogram per window, by completion time.
    windows: Vec<Histogram<u64>>,
}

impl Default for Outcome {
    fn default() -> Outcome {
        Outcome::new()
    }
}

impl Outcome {
    pub fn new() -> Outcome {
        Outcome {
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
            ok: 0,
            errors: 0,
            windows: Vec::new(),
        }
    }

    /// Records a success of `micros`, completed `since_start` into the run.
    fn record(&mut self, micros: u64, since_start: Duration, window: Option<f64>) {
        self.ok += 1;
        self.histogram.saturating_record(micros.max(1));
        if let Some(window) = window {
            let i = (since_start.as_secs_f64() / window) as usize;
            while self.windows.len() <= i {
                self.windows
                    .push(Histogram::new_with_bounds(1, 60_000_000, 3).unwrap());
            }
            self.windows[i].saturating_record(micros.max(1));
        }
    }

    fn merge(&mut self, other: &Outcome) {
        self.histogram.add(&other.histogram).unwrap();
        self.ok += other.ok;
        self.errors += other.errors;
        for (i, w) in other.windows.iter().enumerate() {
            while self.windows.len() <= i {
                self.windows
                    .push(Histogram::new_with_bounds(1, 60_000_000, 3).unwrap());
            }
            self.windows[i].add(w).unwrap();
        }
    }
}

async fn connection(a: std::rc::Rc<Args>, id: usize, start: Instant, end: Instant) -> Outcome {
    let mut out = Outcome::new();
    let Ok(mut stream) = TcpStream::connect(&a.target).await else {
        out.errors += 1;
        return out;
    };
    stream.set_nodelay(true).ok();
    let mut buf = Vec::with_capacity(32 * 1024);
    // Open loop: this connection's share of the rate, each send scheduled ahead of time.
    let interval = a
        .rate
        .map(|r| Duration::from_secs_f64(a.connections as f64 / r));
    let mut n = id as u64;
    let mut intended = start;
    while Instant::now() < end && a.requests.is_none_or(|limit| n < limit) {
        if let Some(interval) = interval {
            intended += interval;
            if intended > Instant::now() {
                tokio::time::sleep_until(intended.into()).await;
            }
        }
        let sent = if interval.is_some() {
            intended
        } else {
            Instant::now()
        };
        let req = request(&a, n);
        n += a.connections as u64;
        let status = match stream.write_all(&req).await {
            Ok(()) => read_response(&mut stream, &mut buf).await,
            Err(e) => Err(e),
        };
        match status {
            Ok(s) if s < 400 || (a.mode == "kv-get" && s == 404) => {
                out.record(sent.elapsed().as_micros() as u64, start.elapsed(), a.window);
            }
            Ok(_) => out.errors += 1,
            Err(_) => {
                out.errors += 1;
                return out;
            }
        }
    }
    out
}

/// Parses a command line; `--nodes N` without a subcommand is the suite, as it always was.
fn parse(mut argv: Vec<String>) -> Result<Cli, clap::Error> {
    use clap::Parser;
    let has_subcommand = argv
        .get(1)
        .is_some_and(|a| ["watch", "sim-gossip", "suite", "help"].contains(&a.as_str()));
    if !has_subcommand
        && argv
            .iter()
            .any(|a| a == "--nodes" || a.starts_with("--nodes="))
    {
        argv.insert(1, "suite".into());
    }
    Cli::try_parse_from(argv)
}

fn main() {
    let cli = parse(std::env::args().collect()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(Mode::Watch(w)) => return run_watch(w),
        Some(Mode::SimGossip(f)) => {
            let a = sim_gossip::SimArgs {
                members: f.members,
                loss: f.loss,
                seed: f.seed,
                json: f.json,
                converged_start: f.converged_start,
                paused: f.paused,
                loss_seconds: f.loss_seconds,
                no_coordinates: f.no_coordinates,
            };
            return sim_gossip::run(&a);
        }
        Some(Mode::Suite(f)) => return run_suite(f),
        None => {}
    }
    let args = cli.http.into_args();
    require_reachable(&args.target);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let args = std::rc::Rc::new(args);
    let outcome = local.block_on(&runtime, run_http(args.clone()));
    let (o, elapsed) = outcome;
    let h = &o.histogram;
    let rps = o.ok as f64 / elapsed.as_secs_f64();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "mode": args.mode, "target": args.target, "connections": args.connections,
                "seconds": elapsed.as_secs_f64(), "requests": o.ok, "errors": o.errors, "rps": rps,
                "p50_ms": ms(0.5), "p99_ms": ms(0.99), "p999_ms": ms(0.999), "max_ms": h.max() as f64 / 1000.0,
                "windows": windows_json(&o, args.window, elapsed),
            })
        );
    } else {
        println!(
            "mode        {}  ({} connections, {:.1} s, target {})",
            args.mode,
            args.connections,
            elapsed.as_secs_f64(),
            args.target
        );
        println!("requests    {}  errors {}", o.ok, o.errors);
        println!("throughput  {rps:.0} req/s");
        println!(
            "latency ms  p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0
        );
        for w in windows_json(&o, args.window, elapsed) {
            println!(
                "window      {:>5.1}-{:<5.1} s  {:>8.0} req/s  p50 {:.3}  p99 {:.3}  max {:.3} ms",
                w["from_s"].as_f64().unwrap_or(0.0),
                w["to_s"].as_f64().unwrap_or(0.0),
                w["rps"].as_f64().unwrap_or(0.0),
                w["p50_ms"].as_f64().unwrap_or(0.0),
                w["p99_ms"].as_f64().unwrap_or(0.0),
                w["max_ms"].as_f64().unwrap_or(0.0),
            );
        }
    }
}

/// Per-window figures (`--window`), the last window cut at the run's end.
fn windows_json(o: &Outcome, window: Option<f64>, elapsed: Duration) -> Vec<serde_json::Value> {
    let Some(window) = window else {
        return Vec::new();
    };
    // A last window shorter than half a window (requests in flight at the end) says little.
    let full = |i: usize| elapsed.as_secs_f64() - i as f64 * window >= window / 2.0;
    o.windows
        .iter()
        .enumerate()
        .filter(|(i, _)| full(*i))
        .map(|(i, h)| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            let from = i as f64 * window;
            let to = ((i + 1) as f64 * window).min(elapsed.as_secs_f64().max(from + 1e-3));
            serde_json::json!({
                "from_s": from, "to_s": to,
                "requests": h.len(), "rps": h.len() as f64 / (to - from),
                "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": h.max() as f64 / 1000.0,
            })
        })
        .collect()
}

/// Standard base64 (for etcd's JSON gateway), written out to keep loadgen's dependencies few.
fn tribune_b64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Seeds keys when reading them, then runs `connections` closed- or open-loop connections.
pub async fn run_http(args: std::rc::Rc<Args>) -> (Outcome, Duration) {
    if args.mode == "kv-get" {
        // Seed the keys the GETs read, so the benchmark measures hits.
        let seed_args = Args {
            mode: "kv-put".into(),
            target: args.target.clone(),
            path: String::new(),
            connections: 1,
            seconds: 0.0,
            rate: None,
            value_bytes: args.value_bytes,
            keys: args.keys,
            json: false,
            token: args.token.clone(),
            requests: None,
            new_keys: false,
            window: None,
        };
        let seeded = async {
            let mut s = TcpStream::connect(&args.target).await?;
            let mut buf = Vec::new();
            for k in 0..args.keys as u64 {
                s.write_all(&request(&seed_args, k)).await?;
                read_response(&mut s, &mut buf).await?;
            }
            std::io::Result::Ok(())
        };
        if let Err(e) = seeded.await {
            eprintln!("loadgen: seeding the keys at {} failed: {e}", args.target);
            std::process::exit(1);
        }
    }
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.connections)
        .map(|id| tokio::task::spawn_local(connection(args.clone(), id, start, end)))
        .collect();
    (gather(tasks).await, start.elapsed())
}

/// Waits for every task and merges their outcomes.
pub async fn gather(tasks: Vec<tokio::task::JoinHandle<Outcome>>) -> Outcome {
    let mut total = Outcome::new();
    for t in tasks {
        total.merge(&t.await.unwrap());
    }
    total
}

/// `loadgen suite --nodes N ...` (or `loadgen --nodes N ...`): see `SuiteFlags`.
fn run_suite(f: SuiteFlags) {
    let fail = |e: String| -> ! {
        eprintln!("loadgen: {e}");
        std::process::exit(2)
    };
    let mut a = suite::SuiteArgs {
        nodes: f.nodes,
        http: f.attach,
        join: f.join,
        join_rate: f.join_rate,
        dns: f.dns,
        sim_ip: f.sim_ip,
        base_port: f.base_port,
        seconds: f.seconds,
        connections: f.connections,
        watchers: f.watchers,
        flap: f.flap,
        encrypt: f.encrypt,
        datacenter: f.datacenter,
        view: f.view,
        json: f.json,
    };
    if a.join.is_empty() {
        a.join.push("127.0.0.1:8301".parse().unwrap());
    }
    if a.nodes == 0 || a.base_port as usize + a.nodes > 65_535 {
        fail("--nodes must be at least 1 and fit above --base-port".into());
    }
    require_reachable(&a.http);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    if let Err(e) = local.block_on(&runtime, suite::run(a)) {
        fail(e);
    }
}

/// `loadgen watch --target host:port --watchers N --seconds S [--service NAME] [--json]`:
/// blocking-query fan-out on one key or one service (see `suite::watch_phase`).
fn run_watch(w: WatchFlags) {
    let (target, watchers, seconds, json) = (w.target.clone(), w.watchers, w.seconds, w.json);
    require_reachable(&target);
    members::raise_fd_limit(watchers as u64 + 1024);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (o, elapsed) = local.block_on(
        &runtime,
        suite::watch_phase(target.clone(), watchers, seconds, w.service.as_deref()),
    );
    let h = &o.histogram;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let rate = o.ok as f64 / elapsed.as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({"mode": "watch", "watchers": watchers, "wakeups": o.ok, "errors": o.errors,
                "wakeups_per_s": rate, "p50_ms": ms(0.5), "p99_ms": ms(0.99), "p999_ms": ms(0.999), "max_ms": h.max() as f64 / 1000.0})
        );
    } else {
        let watched = w
            .service
            .as_ref()
            .map_or("one key".to_string(), |s| format!("service {s}"));
        println!("mode        watch  ({watchers} watchers on {watched}, {:.1} s, target {target}, a write every 100 ms)", elapsed.as_secs_f64());
        println!(
            "wake-ups    {}  errors {}  ({rate:.0}/s; {:.0} per write)",
            o.ok,
            o.errors,
            o.ok as f64 / (elapsed.as_secs_f64() * 10.0)
        );
        println!(
            "write→wake  p50 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms",
            ms(0.5),
            ms(0.99),
            ms(0.999),
            h.max() as f64 / 1000.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        std::iter::once("loadgen")
            .chain(line.split_whitespace())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_perf_scripts_command_lines_still_parse() {
        let cli = parse(argv(
            "--target 127.0.0.1:18502 --mode kv-put --connections 64 --seconds 5 --json",
        ))
        .unwrap();
        let a = cli.http.into_args();
        assert_eq!(
            (a.mode.as_str(), a.connections, a.seconds, a.json),
            ("kv-put", 64, 5.0, true)
        );
        let cli = parse(argv("--nodes 5000 --attach 127.0.0.71:8500 --flap 50")).unwrap();
        assert!(matches!(cli.command, Some(Mode::Suite(ref f)) if f.nodes == 5000 && f.flap == 50));
        let cli = parse(argv(
            "watch --target 127.0.0.1:18950 --watchers 10000 --seconds 10",
        ))
        .unwrap();
        assert!(matches!(cli.command, Some(Mode::Watch(ref w)) if w.watchers == 10_000));
        let cli = parse(argv("sim-gossip --members 5000 --converged-start --json")).unwrap();
        assert!(
            matches!(cli.command, Some(Mode::SimGossip(ref f)) if f.members == 5000 && f.converged_start)
        );
        let cli = parse(argv("-c 8 -d 2 --mode register --requests 10")).unwrap();
        let a = cli.http.into_args();
        assert_eq!(
            (a.connections, a.seconds, a.requests, a.mode.as_str()),
            (8, 2.0, Some(10), "register")
        );
    }

    #[test]
    fn bad_flags_are_one_clear_error() {
        let err = |line: &str| parse(argv(line)).err().expect(line).to_string();
        assert!(err("--mode nope").contains("invalid value 'nope' for '--mode <MODE>'"));
        assert!(err("--connections many").contains("invalid value 'many'"));
        assert!(err("--bogus 1").contains("unexpected argument '--bogus'"));
        assert!(err("watch --watchers").contains("a value is required"));
        assert!(err("--nodes 5 --dns nowhere").contains("invalid value 'nowhere'"));
    }
}
