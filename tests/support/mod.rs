//! Starts real `tribune` agents on loopback for process tests, and stops them by PID.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod linearizability;

/// (status, body, headers).
pub type Answer = (u16, String, Vec<(String, String)>);

pub struct Agent {
    pub child: Child,
    pub port: u16,
    /// Where its HTTP API listens (`127.0.0.1` unless the test gives it an address).
    pub host: String,
}

/// A port no other test of this process has been given, free for TCP and UDP on loopback now.
///
/// Drawn below the kernel's ephemeral range (32768–60999), from a counter: asking the kernel for
/// port 0 and releasing it let two agents of one test binary draw the same port, or an outgoing
/// connection take it before the agent bound it (seen on CI as "Address already in use").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Each test process starts somewhere else in the span, so binaries run back to back do not
    // walk the same ports while the last one's sockets linger.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 7919) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let port = (LOW + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        let addr = ("127.0.0.1", port);
        if TcpListener::bind(addr).is_ok() && std::net::UdpSocket::bind(addr).is_ok() {
            return port;
        }
    }
}

impl Agent {
    /// Starts `tribune agent -dev` (with `data_dir` if given) and waits until it answers.
    pub fn start(port: u16, data_dir: Option<&Path>) -> Agent {
        Agent::start_with(port, data_dir, &[])
    }

    /// Like `start_with` on a free port, with the Prometheus endpoint on (as Consul, only with
    /// `telemetry.prometheus_retention_time` set), for tests that read a counter. The config
    /// file lives in the returned directory.
    pub fn start_with_prometheus(extra: &[&str]) -> (Agent, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("telemetry.json");
        std::fs::write(
            &conf,
            r#"{"telemetry": {"prometheus_retention_time": "60s"}}"#,
        )
        .unwrap();
        let config_file = format!("-config-file={}", conf.display());
        let args: Vec<&str> = extra
            .iter()
            .copied()
            .chain([config_file.as_str()])
            .collect();
        (Agent::start_with(free_port(), None, &args), dir)
    }

    /// A metric's value from `/v1/agent/metrics?format=prometheus` (0 when absent).
    pub fn prometheus_value(&self, name: &str) -> f64 {
        let (_, text, _) = self
            .call("GET", "/v1/agent/metrics?format=prometheus", b"")
            .unwrap();
        let prefix = format!("{name} ");
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Like `start`, with extra agent flags.
    pub fn start_with(port: u16, data_dir: Option<&Path>, extra: &[&str]) -> Agent {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tribune"));
        cmd.args([
            "agent",
            "-dev",
            "-client",
            "127.0.0.1",
            "-http-port",
            &port.to_string(),
            "-node",
            "test-node",
            "-shards",
            "3",
            // Gossip and server RPC ports of their own, so tests can run side by side.
            "-serf-lan-port",
            &free_port().to_string(),
            "-serf-wan-port",
            &free_port().to_string(),
            "-server-port",
            &free_port().to_string(),
        ]);
        if let Some(dir) = data_dir {
            cmd.arg("-data-dir").arg(dir);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tribune");
        // Drain stdout in the background so the agent never blocks on a full pipe.
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        let agent = Agent {
            child,
            port,
            host: "127.0.0.1".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Ready = leader elected and the agent's own node synced into the catalog.
        while Instant::now() < deadline {
            let synced = matches!(agent.get("/v1/catalog/service/consul"),
                Ok((200, body)) if body.contains("\"ServiceID\""));
            // The leader registers serfHealth from gossip membership.
            let serf = matches!(agent.get("/v1/health/node/test-node"),
                Ok((200, body)) if body.contains("serfHealth"));
            if synced && serf {
                return agent;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent on port {port} was not ready within 10 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{}", self.host, self.port, path)
    }

    /// (status, body, headers) for any method.
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Answer, String> {
        let req = ureq::request(method, &self.url(path)).timeout(Duration::from_secs(30));
        let resp = match req.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_string();
                (n, v)
            })
            .collect();
        let status = resp.status();
        let body = resp.into_string().unwrap_or_default();
        Ok((status, body, headers))
    }

    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        self.call("GET", path, b"").map(|(s, b, _)| (s, b))
    }

    pub fn put(&self, path: &str, body: &[u8]) -> (u16, String) {
        let (s, b, _) = self.call("PUT", path, body).expect("PUT");
        (s, b)
    }

    /// Starts `tribune agent <args>` on `host` (HTTP on the default port 8500 there) without
    /// waiting for anything; its output goes to `log`.
    pub fn spawn(host: &str, args: &[&str], log: &Path) -> Agent {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tribune"))
            .arg("agent")
            .args(args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn tribune");
        Agent {
            child,
            port: 8500,
            host: host.into(),
        }
    }

    /// Starts `tribune agent` named `node` on 127.0.0.`n` (bind and client address, default
    /// ports), with its data dir and log under `dir`, one shard, plus `extra` flags.
    pub fn on_loopback(n: u8, node: &str, dir: &Path, extra: &[&str]) -> Agent {
        let ip = format!("127.0.0.{n}");
        let data = dir.join(node);
        std::fs::create_dir_all(&data).unwrap();
        let mut args = vec![
            format!("-data-dir={}", data.display()),
            format!("-node={node}"),
            format!("-bind={ip}"),
            format!("-client={ip}"),
            "-shards=1".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Agent::spawn(&ip, &args, &dir.join(format!("{node}.log")))
    }

    /// The leader's RPC address as this agent reports it (empty when none or unreachable).
    pub fn leader(&self) -> String {
        match self.get("/v1/status/leader") {
            Ok((200, body)) => body.trim_matches('"').to_string(),
            _ => String::new(),
        }
    }

    /// Runs `tribune <command> -http-addr=<this agent> <rest>`: (exit code, stdout, stderr).
    pub fn cli(&self, command: &[&str], rest: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
            .args(command)
            .arg(format!("-http-addr={}:{}", self.host, self.port))
            .args(rest)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Runs `tribune <args>` in `dir` (certificates with `tribune tls`) and asserts it succeeded.
pub fn tribune_in(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `probe` every 50 ms until it returns true or `secs` pass.
pub fn eventually(secs: u64, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if probe() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {secs} s: {what}");
}

/// Statuses of the checks in `/v1/health/service/<name>`, as (CheckID, Status, Output).
pub fn health_checks(agent: &Agent, name: &str) -> Vec<(String, String, String)> {
    let (_, body) = agent.get(&format!("/v1/health/service/{name}")).unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
    entries
        .iter()
        .flat_map(|e| e["Checks"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (s("CheckID"), s("Status"), s("Output"))
        })
        .collect()
}

/// `dig +short` against the agent DNS port 8600 on `ip`, answers sorted.
pub fn dig(ip: &str, name: &str) -> Vec<String> {
    dig_port(ip, 8600, name)
}

/// `dig +short` against `ip:port`, answers sorted.
pub fn dig_port(ip: &str, port: u16, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args([
            &format!("@{ip}"),
            "-p",
            &port.to_string(),
            "+short",
            "+time=2",
            "+tries=1",
            name,
        ])
        .output()
        .expect("dig must be installed (dnsutils, see .ci/run)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}
