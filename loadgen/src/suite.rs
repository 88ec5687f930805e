//! `loadgen --nodes N`: brings up N simulated gossip members in the agents' LAN pool, waits
//! until the agent lists them all alive (gossip convergence), registers a `web` instance on
//! each, then drives DNS (A, SRV) and HTTP (KV get/put, health, catalog, blocking-query
//! watchers) phase by phase, printing a progress line, then a table (or `--json`).

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};

use crate::members::{GossipFigures, Members};
use crate::{read_response, run_http, Args, Outcome};

pub struct SuiteArgs {
    pub nodes: usize,
    /// The agent's HTTP address.
    pub http: String,
    /// The agents' LAN gossip addresses (members join them round robin).
    pub join: Vec<SocketAddr>,
    /// Joins per second.
    pub join_rate: f64,
    /// The agent's DNS address.
    pub dns: SocketAddr,
    pub sim_ip: IpAddr,
    pub base_port: u16,
    pub seconds: f64,
    pub connections: usize,
    pub watchers: usize,
    /// Instances whose health check flips between passing and critical during the phases.
    pub flap: usize,
    pub encrypt: Option<String>,
    pub datacenter: String,
    /// Members each simulated member remembers (`--view`).
    pub view: usize,
    pub json: bool,
}

/// One phase's result.
struct Phase {
    name: String,
    outcome: Outcome,
    elapsed: Duration,
}

/// How many of `names` the agent lists as failed (`Status` 4).
async fn failed_at_agent(host: &str, names: &[String]) -> usize {
    let members = agent_members(host).await;
    members
        .iter()
        .filter(|m| {
            m["Status"] == 4
                && m["Name"]
                    .as_str()
                    .is_some_and(|n| names.iter().any(|x| x == n))
        })
        .count()
}

async fn agent_members(host: &str) -> Vec<serde_json::Value> {
    let Ok(mut s) = TcpStream::connect(host).await else {
        return Vec::new();
    };
    let req =
        format!("GET /v1/agent/members HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return Vec::new();
    }
    let mut all = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut all).await;
    let Some(at) = all.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    serde_json::from_slice(&all[at + 4..]).unwrap_or_default()
}

/// Sim members the agent lists alive.
async fn alive_at_agent(host: &str) -> usize {
    agent_members(host)
        .await
        .iter()
        .filter(|m| m["Name"].as_str().is_some_and(|n| n.starts_with("sim-")) && m["Status"] == 1)
        .count()
}

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, one question
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Closed-loop UDP DNS from `conns` sockets; a reply must be NOERROR with answers.
async fn dns_phase(
    target: SocketAddr,
    name: &'static str,
    qtype: u16,
    conns: usize,
    secs: f64,
) -> (Outcome, Duration) {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            tokio::task::spawn_local(async move {
                let mut out = Outcome::new();
                let Ok(sock) = UdpSocket::bind("127.0.0.1:0").await else {
                    out.errors += 1;
                    return out;
                };
                let mut buf = [0u8; 4096];
                let mut id = (c as u16).wrapping_mul(7919);
                while Instant::now() < end {
                    id = id.wrapping_add(1);
                    let sent = Instant::now();
                    if sock
                        .send_to(&dns_query(id, name, qtype), target)
                        .await
                        .is_err()
                    {
                        out.errors += 1;
                        continue;
                    }
                    match tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
                        Ok(Ok(n)) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                            let rcode = buf[3] & 0x0f;
                            let answers = u16::from_be_bytes([buf[6], buf[7]]);
                            if rcode == 0 && answers > 0 {
                                out.ok += 1;
                                out.histogram
                                    .saturating_record(sent.elapsed().as_micros().max(1) as u64);
                            } else {
                                out.errors += 1;
                            }
                        }
                        _ => out.errors += 1,
                    }
                }
                out
            })
        })
        .collect();
    let total = crate::gather(tasks).await;
    (total, start.elapsed())
}

/// `watchers` blocking queries on one key while a writer changes it every 100 ms: each
/// watcher's latency is from the write to its wake-up.
pub async fn watch_phase(
    host: String,
    watchers: usize,
    secs: f64,
    service: Option<&str>,
) -> (Outcome, Duration) {
    // What is watched, and the write that changes it.
    let watched = match service {
        Some(name) => format!("/v1/health/service/{name}"),
        None => "/v1/kv/loadgen/watched".to_string(),
    };
    let service = service.map(str::to_string);
    let last_write = Rc::new(Cell::new(Instant::now()));
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let writer = {
        let (host, last_write) = (host.clone(), last_write.clone());
        tokio::task::spawn_local(async move {
            let Ok(mut s) = TcpStream::connect(&host).await else {
                return;
            };
            let mut buf = Vec::new();
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let (path, body) = match &service {
                    Some(name) => (
                        "/v1/catalog/register",
                        serde_json::json!({"Node": "loadgen-watched", "Address": "127.0.0.1",
                            "Service": {"Service": name, "ID": "loadgen-watched", "Port": 1 + n % 60000}})
                        .to_string(),
                    ),
                    None => ("/v1/kv/loadgen/watched", n.to_string()),
                };
                let req = format!(
                    "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                last_write.set(Instant::now());
                if s.write_all(req.as_bytes()).await.is_err()
                    || read_response(&mut s, &mut buf).await.is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let tasks: Vec<_> = (0..watchers)
        .map(|_| {
            let (host, last_write, watched) = (host.clone(), last_write.clone(), watched.clone());
            tokio::task::spawn_local(async move {
                let mut out = Outcome::new();
                let Ok(mut s) = TcpStream::connect(&host).await else {
                    out.errors += 1;
                    return out;
                };
                let mut buf = Vec::new();
                let mut index = 1u64;
                while Instant::now() < end {
                    let req = format!(
                        "GET {watched}?index={index}&wait=2s HTTP/1.1\r\nHost: {host}\r\n\r\n"
                    );
                    if s.write_all(req.as_bytes()).await.is_err() {
                        out.errors += 1;
                        return out;
                    }
                    match read_response_index(&mut s, &mut buf).await {
                        Ok((status, new_index)) if status < 400 || status == 404 => {
                            if new_index > index && index > 1 {
                                out.ok += 1;
                                out.histogram.saturating_record(
                                    last_write.get().elapsed().as_micros().max(1) as u64,
                                );
                            }
                            index = new_index.max(1);
                        }
                        _ => {
                            out.errors += 1;
                            return out;
                        }
                    }
                }
                out
            })
        })
        .collect();
    let total = crate::gather(tasks).await;
    let _ = writer.await;
    (total, start.elapsed())
}

/// Like `read_response`, also returning `X-Consul-Index`.
async fn read_response_index(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, u64)> {
    // Peek at the head before read_response consumes it.
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let index = head
                .lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(n, _)| n.eq_ignore_ascii_case("x-consul-index"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                })
                .unwrap_or(0);
            let status = read_response(s, buf).await?;
            return Ok((status, index));
        }
        let mut chunk = [0u8; 16384];
        let n = tokio::io::AsyncReadExt::read(s, &mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Registers a `web` instance on every simulated node through the catalog API.
async fn register_services(host: &str, ip: IpAddr, base_port: u16, n: usize) -> u64 {
    let per = n.div_ceil(16);
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let host = host.to_string();
            tokio::task::spawn_local(async move {
                let Ok(mut s) = TcpStream::connect(&host).await else { return 1 };
                let mut buf = Vec::new();
                let mut errors = 0;
                for i in (t * per)..((t + 1) * per).min(n) {
                    let body = format!(
                        r#"{{"Node":"sim-{i}","Address":"{ip}","Service":{{"Service":"web","Port":{}}}}}"#,
                        base_port as usize + i
                    );
                    let req = format!(
                        "PUT /v1/catalog/register HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let ok = s.write_all(req.as_bytes()).await.is_ok()
                        && matches!(read_response(&mut s, &mut buf).await, Ok(200));
                    if !ok {
                        errors += 1;
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += t.await.unwrap();
    }
    errors
}

/// Flips the `web` health of instances `sim-0..k` between critical and passing, one every
/// 100 ms, through `/v1/catalog/register` (a service check), so that DNS answers, health
/// queries and watchers see a changing service during the phases. Returns the flips done.
async fn flap(host: String, ip: IpAddr, base_port: u16, k: usize, flips: Rc<Cell<u64>>) {
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::new();
    let mut every = tokio::time::interval(Duration::from_millis(100));
    for round in 0u64.. {
        every.tick().await;
        let i = (round % k as u64) as usize;
        let status = if (round / k as u64).is_multiple_of(2) {
            "critical"
        } else {
            "passing"
        };
        let body = format!(
            r#"{{"Node":"sim-{i}","Address":"{ip}","Service":{{"Service":"web","Port":{}}},"Check":{{"CheckID":"flap","Name":"flap","Status":"{status}","ServiceID":"web"}}}}"#,
            base_port as usize + i
        );
        let req = format!(
            "PUT /v1/catalog/register HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.is_none() {
            conn = TcpStream::connect(&host).await.ok();
        }
        let Some(s) = conn.as_mut() else { continue };
        let ok = s.write_all(req.as_bytes()).await.is_ok()
            && matches!(read_response(s, &mut buf).await, Ok(200));
        match ok {
            true => flips.set(flips.get() + 1),
            false => conn = None,
        }
    }
}

/// What the members' thread publishes once a second.
#[derive(Default, Clone)]
struct MemberReport {
    min_view: usize,
    figures: GossipFigures,
    join_failures: Option<usize>,
    /// Members the load thread asks to stop (failure-detection phase), and when they stopped.
    stop: Vec<usize>,
    stopped_at: Option<Instant>,
    /// `Members::seen_dead` for `stop`, once stopped.
    seen_dead: (usize, usize),
}

/// Runs the simulated members on a thread of their own (their own runtime), so that load
/// phases on this thread are not delayed by member timers, and the reverse.
fn spawn_members(a: &SuiteArgs) -> Result<Arc<Mutex<MemberReport>>, String> {
    let report = Arc::new(Mutex::new(MemberReport::default()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let view = a.view;
    let (n, ip, base, dc, key, join, rate) = (
        a.nodes,
        a.sim_ip,
        a.base_port,
        a.datacenter.clone(),
        a.encrypt.clone(),
        a.join.clone(),
        a.join_rate,
    );
    let shared = report.clone();
    std::thread::Builder::new()
        .name("members".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let members = match Members::bind(n, ip, base, &dc, key.as_deref(), view).await {
                    Ok(m) => {
                        let _ = ready_tx.send(Ok(()));
                        m
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let joining = {
                    let m = members.clone();
                    tokio::task::spawn_local(async move { m.join(&join, rate).await })
                };
                let mut joining = Some(joining);
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let failures = match joining.as_ref().is_some_and(|j| j.is_finished()) {
                        true => Some(joining.take().unwrap().await.unwrap()),
                        false => None,
                    };
                    let mut r = shared.lock().unwrap();
                    if !r.stop.is_empty() && r.stopped_at.is_none() {
                        for &i in &r.stop {
                            members.stop(i);
                        }
                        r.stopped_at = Some(Instant::now());
                    }
                    if r.stopped_at.is_some() {
                        r.seen_dead = members.seen_dead(&r.stop);
                    }
                    r.min_view = members.min_view();
                    r.figures = members.figures();
                    if failures.is_some() {
                        r.join_failures = failures;
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    ready_rx.recv().map_err(|e| e.to_string())??;
    Ok(report)
}

pub async fn run(a: SuiteArgs) -> Result<(), String> {
    let members = spawn_members(&a)?;
    let t0 = Instant::now();
    // Convergence: every simulated member alive in the agent's member list.
    let mut figures = GossipFigures::default();
    let limit = Duration::from_secs(900);
    loop {
        let alive = alive_at_agent(&a.http).await;
        if !a.json {
            let r = members.lock().unwrap().clone();
            eprint!(
                "\r[{:6.1} s] gossip: agent sees {alive}/{} simulated members alive; members' min view {}; {:.0} KiB sent    ",
                t0.elapsed().as_secs_f64(),
                a.nodes,
                r.min_view,
                r.figures.bytes_out as f64 / 1024.0
            );
        }
        if alive >= a.nodes {
            figures.convergence_ms = Some(t0.elapsed().as_millis() as u64);
            break;
        }
        if t0.elapsed() > limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !a.json {
        eprintln!();
        if let Some(f) = members.lock().unwrap().join_failures.filter(|f| *f > 0) {
            eprintln!("{f} joins failed");
        }
    }
    let reg_errors = register_services(&a.http, a.sim_ip, a.base_port, a.nodes).await;
    let flips = Rc::new(Cell::new(0u64));
    let flapping = (a.flap > 0).then(|| {
        let k = a.flap.min(a.nodes);
        tokio::task::spawn_local(flap(
            a.http.clone(),
            a.sim_ip,
            a.base_port,
            k,
            flips.clone(),
        ))
    });
    let mut phases = Vec::new();
    let secs = a.seconds;
    for (name, qtype) in [("dns A web.service", 1u16), ("dns SRV web.service", 33)] {
        if !a.json {
            eprintln!("phase: {name} ...");
        }
        let (o, e) = dns_phase(a.dns, "web.service.consul", qtype, a.connections, secs).await;
        phases.push(Phase {
            name: name.into(),
            outcome: o,
            elapsed: e,
        });
    }
    for (name, mode, path, conns) in [
        ("http kv-put", "kv-put", "", a.connections),
        ("http kv-get", "kv-get", "", a.connections),
        (
            "http health web (passing)",
            "get",
            "/v1/health/service/web?passing",
            4,
        ),
        (
            "http catalog services",
            "get",
            "/v1/catalog/services",
            a.connections,
        ),
    ] {
        if !a.json {
            eprintln!("phase: {name} ...");
        }
        let args = Rc::new(Args {
            target: a.http.clone(),
            mode: mode.into(),
            path: path.into(),
            connections: conns,
            seconds: secs,
            rate: None,
            value_bytes: 100,
            keys: 1000,
            json: false,
            token: None,
            requests: None,
            new_keys: false,
            window: None,
        });
        let (o, e) = run_http(args).await;
        phases.push(Phase {
            name: name.into(),
            outcome: o,
            elapsed: e,
        });
    }
    if !a.json {
        eprintln!("phase: {} blocking-query watchers ...", a.watchers);
    }
    let (o, e) = watch_phase(a.http.clone(), a.watchers, secs, None).await;
    phases.push(Phase {
        name: format!("watch fan-out ({} watchers)", a.watchers),
        outcome: o,
        elapsed: e,
    });

    if let Some(f) = flapping {
        f.abort();
    }
    // Failure detection over real UDP: stop a few members, time until the agent lists them all
    // as failed (from the moment they stopped).
    let victims: Vec<usize> = (0..5.min(a.nodes))
        .map(|k| (k * 997 + 13) % a.nodes)
        .collect();
    members.lock().unwrap().stop = victims.clone();
    let names: Vec<String> = victims.iter().map(|v| format!("sim-{v}")).collect();
    if !a.json {
        eprintln!(
            "phase: failure detection ({} members stopped) ...",
            names.len()
        );
    }
    let limit = Instant::now() + Duration::from_secs(120);
    while Instant::now() < limit {
        let failed = failed_at_agent(&a.http, &names).await;
        let (stopped_at, (holders, seeing)) = {
            let r = members.lock().unwrap();
            (r.stopped_at, r.seen_dead)
        };
        let Some(at) = stopped_at else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let since = at.elapsed().as_millis() as u64;
        if failed == names.len() && figures.detect_ms.is_none() {
            figures.detect_ms = Some(since);
        }
        if holders > 0 && seeing * 1000 >= holders * 999 && figures.detect_members_ms.is_none() {
            figures.detect_members_ms = Some(since);
        }
        if figures.detect_ms.is_some() && figures.detect_members_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let g = members.lock().unwrap().figures.clone();
    figures.members = g.members;
    figures.false_deaths = g.false_deaths;
    figures.bytes_out = g.bytes_out;
    figures.packets_out = g.packets_out;
    figures.elapsed_ms = g.elapsed_ms;
    report(&a, &figures, reg_errors, flips.get(), &phases);
    Ok(())
}

fn report(a: &SuiteArgs, g: &GossipFigures, reg_errors: u64, flips: u64, phases: &[Phase]) {
    let secs = g.elapsed_ms as f64 / 1000.0;
    let per_member_bps = g.bytes_out as f64 / g.members.max(1) as f64 / secs.max(0.001);
    let per_member_pps = g.packets_out as f64 / g.members.max(1) as f64 / secs.max(0.001);
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    if a.json {
        let rows: Vec<serde_json::Value> = phases
            .iter()
            .map(|p| {
                let h = &p.outcome.histogram;
                serde_json::json!({
                    "phase": p.name, "requests": p.outcome.ok, "errors": p.outcome.errors,
                    "rps": p.outcome.ok as f64 / p.elapsed.as_secs_f64(),
                    "p50_ms": ms(h, 0.5), "p99_ms": ms(h, 0.99), "p999_ms": ms(h, 0.999),
                    "max_ms": h.max() as f64 / 1000.0,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "nodes": a.nodes,
                "gossip": {
                    "convergence_ms": g.convergence_ms, "false_deaths": g.false_deaths,
                    "failure_detect_ms": g.detect_ms,
                    "failure_seen_by_999_of_members_ms": g.detect_members_ms,
                    "view": a.view,
                    "bytes_per_member_s": per_member_bps, "packets_per_member_s": per_member_pps,
                },
                "registration_errors": reg_errors,
                "health_flips": flips,
                "phases": rows,
            })
        );
        return;
    }
    println!("simulated members   {}", g.members);
    println!(
        "gossip convergence  {}",
        g.convergence_ms
            .map_or("not reached in 600 s".into(), |m| format!(
                "{:.1} s",
                m as f64 / 1000.0
            ))
    );
    println!(
        "failure detection   {} (5 members stopped; until the agent lists all of them failed)",
        g.detect_ms.map_or("not within 120 s".into(), |m| format!(
            "{:.1} s",
            m as f64 / 1000.0
        ))
    );
    println!(
        "failure seen by     {} (99.9 % of the simulated members holding them; view {})",
        g.detect_members_ms
            .map_or("not within 120 s".into(), |m| format!(
                "{:.1} s",
                m as f64 / 1000.0
            )),
        a.view
    );
    println!("false deaths        {}", g.false_deaths);
    println!("per member          {per_member_pps:.2} packets/s, {per_member_bps:.0} bytes/s (whole run, join included)");
    println!("registration errors {reg_errors}");
    if a.flap > 0 {
        println!(
            "health flips        {flips} (--flap {}: one every 100 ms)",
            a.flap
        );
    }
    println!();
    println!(
        "{:<34} {:>10} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "phase", "requests", "errors", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for p in phases {
        let h = &p.outcome.histogram;
        println!(
            "{:<34} {:>10} {:>7} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            p.name,
            p.outcome.ok,
            p.outcome.errors,
            p.outcome.ok as f64 / p.elapsed.as_secs_f64(),
            ms(h, 0.5),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1000.0
        );
    }
}
