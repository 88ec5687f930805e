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
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        target: "127.0.0.1:8500".into(),
        mode: "kv-get".into(),
        path: "/v1/kv/loadgen/key".into(),
        connections: 64,
        seconds: 10.0,
        rate: None,
        value_bytes: 100,
        keys: 1000,
        json: false,
        token: None,
        requests: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].trim_start_matches('-').to_string();
        if flag == "json" {
            a.json = true;
            i += 1;
            continue;
        }
        let value = argv
            .get(i + 1)
            .ok_or(format!("--{flag} needs a value"))?
            .clone();
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("--{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "target" | "attach" => a.target = value,
            "mode" => a.mode = value,
            "path" => a.path = value,
            "connections" | "c" => a.connections = num(&value)? as usize,
            "seconds" | "d" => a.seconds = num(&value)?,
            "rate" => a.rate = Some(num(&value)?),
            "value-bytes" => a.value_bytes = num(&value)? as usize,
            "keys" => a.keys = num(&value)? as usize,
            "token" => a.token = Some(value),
            "requests" => a.requests = Some(num(&value)? as u64),
            "nodes" => return Err("--nodes is handled by the suite parser".into()),
            _ => return Err(format!("unknown flag --{flag}")),
        }
        i += 2;
    }
    if !["kv-get", "kv-put", "etcd-put", "get", "register"].contains(&a.mode.as_str()) {
        return Err(format!(
            "--mode must be kv-get, kv-put, etcd-put, register or get (fixed path), got {}",
            a.mode
        ));
    }
    Ok(a)
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
            let key = n % a.keys as u64;
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
            let key = n % a.keys as u64;
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
}

async fn connection(a: std::rc::Rc<Args>, id: usize, start: Instant, end: Instant) -> Outcome {
    let mut out = Outcome {
        histogram: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        ok: 0,
        errors: 0,
    };
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
                out.ok += 1;
                out.histogram
                    .saturating_record(sent.elapsed().as_micros().max(1) as u64);
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

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("watch") {
        run_watch(&argv[1..]);
        return;
    }
    if argv.first().map(String::as_str) == Some("sim-gossip") {
        let mut a = sim_gossip::SimArgs {
            members: 1000,
            loss: 0.05,
            seed: 1,
            json: false,
            converged_start: false,
            paused: 10,
            loss_seconds: 120,
            no_coordinates: false,
        };
        let mut i = 1;
        while i < argv.len() {
            let flag = argv[i].trim_start_matches('-');
            let value = argv.get(i + 1).cloned().unwrap_or_default();
            match flag {
                "json" => {
                    a.json = true;
                    i += 1;
                    continue;
                }
                "converged-start" => {
                    a.converged_start = true;
                    i += 1;
                    continue;
                }
                "no-coordinates" => {
                    a.no_coordinates = true;
                    i += 1;
                    continue;
                }
                "paused" => a.paused = value.parse().expect("--paused K"),
                "loss-seconds" => a.loss_seconds = value.parse().expect("--loss-seconds N"),
                "members" => a.members = value.parse().expect("--members N"),
                "loss" => a.loss = value.parse().expect("--loss 0.05"),
                "seed" => a.seed = value.parse().expect("--seed N"),
                other => {
                    eprintln!("loadgen sim-gossip: unknown flag --{other}");
                    std::process::exit(2);
                }
            }
            i += 2;
        }
        sim_gossip::run(&a);
        return;
    }
    if let Some(i) = argv
        .iter()
        .position(|a| a.trim_start_matches('-') == "nodes")
    {
        run_suite(&argv, i);
        return;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
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
    }
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
        };
        let mut s = TcpStream::connect(&args.target)
            .await
            .expect("connect to target");
        let mut buf = Vec::new();
        for k in 0..args.keys as u64 {
            s.write_all(&request(&seed_args, k)).await.unwrap();
            read_response(&mut s, &mut buf).await.unwrap();
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
    let mut total = Outcome {
        histogram: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
        ok: 0,
        errors: 0,
    };
    for t in tasks {
        let o = t.await.unwrap();
        total.histogram.add(&o.histogram).unwrap();
        total.ok += o.ok;
        total.errors += o.errors;
    }
    total
}

/// `--nodes N [--attach host:port] [--join host:port] [--dns host:port] [--sim-ip ip]
/// [--base-port p] [--seconds s] [--connections c] [--watchers w] [--flap k] [--encrypt key]
/// [--json]`.
fn run_suite(argv: &[String], _at: usize) {
    let mut a = suite::SuiteArgs {
        nodes: 0,
        http: "127.0.0.1:8500".into(),
        join: Vec::new(),
        join_rate: 100.0,
        dns: "127.0.0.1:8600".parse().unwrap(),
        sim_ip: "127.0.0.1".parse().unwrap(),
        base_port: 40000,
        seconds: 5.0,
        connections: 32,
        watchers: 1000,
        flap: 0,
        encrypt: None,
        datacenter: "dc1".into(),
        view: members::VIEW_DEFAULT,
        json: false,
    };
    let mut i = 0;
    let fail = |e: String| -> ! {
        eprintln!("loadgen: {e}");
        std::process::exit(2)
    };
    while i < argv.len() {
        let flag = argv[i].trim_start_matches('-');
        if flag == "json" {
            a.json = true;
            i += 1;
            continue;
        }
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        let parse_err = |what: &str| format!("--{flag}: {what}: {v:?}");
        match flag {
            "nodes" => {
                a.nodes = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "attach" | "target" => a.http = v,
            "join" => a
                .join
                .push(v.parse().unwrap_or_else(|_| fail(parse_err("not ip:port")))),
            "join-rate" => {
                a.join_rate = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "dns" => a.dns = v.parse().unwrap_or_else(|_| fail(parse_err("not ip:port"))),
            "sim-ip" => a.sim_ip = v.parse().unwrap_or_else(|_| fail(parse_err("not an IP"))),
            "base-port" => {
                a.base_port = v.parse().unwrap_or_else(|_| fail(parse_err("not a port")))
            }
            "seconds" | "d" => {
                a.seconds = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "connections" | "c" => {
                a.connections = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "watchers" => {
                a.watchers = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "flap" => {
                a.flap = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            "encrypt" => a.encrypt = Some(v),
            "datacenter" => a.datacenter = v,
            "view" => {
                a.view = v
                    .parse()
                    .unwrap_or_else(|_| fail(parse_err("not a number")))
            }
            other => fail(format!("unknown flag --{other} with --nodes")),
        }
        i += 2;
    }
    if a.join.is_empty() {
        a.join.push("127.0.0.1:8301".parse().unwrap());
    }
    if a.nodes == 0 || a.base_port as usize + a.nodes > 65_535 {
        fail("--nodes must be at least 1 and fit above --base-port".into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    if let Err(e) = local.block_on(&runtime, suite::run(a)) {
        fail(e);
    }
}

/// `loadgen watch --target host:port --watchers N --seconds S [--json]`: blocking-query
/// fan-out on one key (see `suite::watch_phase`).
fn run_watch(argv: &[String]) {
    let (mut target, mut watchers, mut seconds, mut json) =
        ("127.0.0.1:8500".to_string(), 10_000usize, 10.0f64, false);
    let mut i = 0;
    while i < argv.len() {
        let flag = argv[i].trim_start_matches('-');
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match flag {
            "json" => {
                json = true;
                i += 1;
                continue;
            }
            "target" | "attach" => target = v,
            "watchers" => watchers = v.parse().expect("--watchers N"),
            "seconds" => seconds = v.parse().expect("--seconds S"),
            other => {
                eprintln!("loadgen watch: unknown flag --{other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    members::raise_fd_limit(watchers as u64 + 1024);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (o, elapsed) = local.block_on(
        &runtime,
        suite::watch_phase(target.clone(), watchers, seconds),
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
        println!("mode        watch  ({watchers} watchers, {:.1} s, target {target}, a write every 100 ms)", elapsed.as_secs_f64());
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
