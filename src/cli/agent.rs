//! `tribune agent`: flags → `AgentConfig`, banner, start the cores, wait for a signal.

use std::net::IpAddr;
use std::path::PathBuf;

use super::flags::{self, FlagSpec};
use crate::config::AgentConfig;
use crate::version::{CONSUL_API_VERSION, REVISION};

const BOOLS: &[&str] = &[
    "dev",
    "server",
    "bootstrap",
    "ui",
    "log-json",
    "enable-script-checks",
];
const VALUES: &[&str] = &[
    "node",
    "datacenter",
    "bind",
    "client",
    "data-dir",
    "http-port",
    "dns-port",
    "server-port",
    "shards",
    "log-level",
    "node-id",
];

fn parse_port(name: &str, value: &str) -> Result<i32, String> {
    value
        .parse::<i32>()
        .map_err(|_| format!("invalid value {value:?} for flag -{name}: parse error"))
}

/// Builds the configuration from flags (config files arrive with the catalog issue).
pub fn config_from_args(args: &[String]) -> Result<AgentConfig, String> {
    let p = flags::parse(
        args,
        &FlagSpec {
            bools: BOOLS,
            values: VALUES,
        },
    )?;
    if let Some(extra) = p.positional.first() {
        return Err(format!("unexpected argument: {extra}"));
    }
    let mut config = AgentConfig::dev_defaults();
    config.dev = p.flag("dev");
    config.server = p.flag("server") || config.dev;
    if let Some(v) = p.value("node") {
        config.node_name = v.to_string();
    }
    if let Some(v) = p.value("datacenter") {
        config.datacenter = v.to_string();
    }
    let ip = |name: &str, v: &str| {
        v.parse::<IpAddr>()
            .map_err(|_| format!("invalid value {v:?} for flag -{name}"))
    };
    if let Some(v) = p.value("bind") {
        config.bind_addr = ip("bind", v)?;
    }
    if let Some(v) = p.value("client") {
        config.client_addr = ip("client", v)?;
    }
    if let Some(v) = p.value("http-port") {
        config.http_port =
            u16::try_from(parse_port("http-port", v)?).map_err(|_| "http port out of range")?;
    }
    if let Some(v) = p.value("dns-port") {
        config.dns_port = parse_port("dns-port", v)?;
    }
    if let Some(v) = p.value("server-port") {
        config.server_port =
            u16::try_from(parse_port("server-port", v)?).map_err(|_| "server port out of range")?;
    }
    if let Some(v) = p.value("shards") {
        config.shards = v
            .parse()
            .map_err(|_| format!("invalid value {v:?} for flag -shards"))?;
    }
    config.data_dir = p.value("data-dir").map(PathBuf::from);
    config.enable_script_checks = p.flag("enable-script-checks");
    // Consul's -dev keeps nothing; we honour -data-dir even with -dev, so a developer can test
    // persistence without a cluster.
    config.validate()?;
    config.node_id = match p.value("node-id") {
        Some(id) => id.to_string(),
        None => node_id(config.data_dir.as_deref())?,
    };
    Ok(config)
}

fn random_uuid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// A random node id, persisted in `<data_dir>/node-id` so restarts keep it.
fn node_id(data_dir: Option<&std::path::Path>) -> Result<String, String> {
    let Some(dir) = data_dir else {
        return Ok(random_uuid());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("Error creating data dir {}: {e}", dir.display()))?;
    let path = dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = random_uuid();
    std::fs::write(&path, &id).map_err(|e| format!("Error writing {}: {e}", path.display()))?;
    Ok(id)
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: &[String]) -> i32 {
    let config = match config_from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    println!("==> Starting Consul agent...");
    println!("               Version: '{CONSUL_API_VERSION}' ({REVISION})");
    println!("               Node ID: '{}'", config.node_id);
    println!("             Node name: '{}'", config.node_name);
    println!(
        "            Datacenter: '{}' (Segment: '<all>')",
        config.datacenter
    );
    println!(
        "                Server: {} (Bootstrap: {})",
        config.server, config.dev
    );
    println!(
        "           Client Addr: [{}] (HTTP: {}, HTTPS: -1, gRPC: -1, gRPC-TLS: -1, DNS: {})",
        config.client_addr, config.http_port, config.dns_port
    );
    println!(
        "          Cluster Addr: {} (LAN: 8301, WAN: 8302)",
        config.bind_addr
    );
    println!("     Gossip Encryption: false");
    println!("      Auto-Encrypt-TLS: false");
    println!("           ACL Enabled: false");
    println!("    ACL Default Policy: {}", config.acl_default_policy);
    println!(
        "                Shards: {} (one pinned thread each, plus the Raft core)",
        config.shards
    );
    println!();
    println!("==> Log data will now stream in as it occurs:");
    println!();
    let data_dir = config.data_dir.clone();
    let agent = match crate::shard::start(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("==> Error starting agent: {e}");
            return 1;
        }
    };
    match (data_dir, agent.log_uses_io_uring) {
        (Some(dir), Some(uring)) => println!(
            "    [INFO]  agent: raft log in {} ({})",
            dir.join("raft").display(),
            if uring {
                "io_uring, group commit"
            } else {
                "pwrite + fdatasync, group commit"
            }
        ),
        _ => println!("    [INFO]  agent: dev mode: raft log in memory, nothing is kept"),
    }
    println!("    [INFO]  agent: started state syncer");
    println!("    [INFO]  agent: Consul agent running!");
    wait_for_signal();
    println!("==> Caught signal, shutting down");
    agent.stop_raft();
    0
}

fn wait_for_signal() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    });
}
