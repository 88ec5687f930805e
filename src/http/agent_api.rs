//! `/v1/agent/self`, `/v1/agent/version`, `/v1/status/leader`, `/v1/status/peers`.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::response::Reply;
use super::ApiRequest;
use crate::config::AgentConfig;
use crate::shard::core::ShardCtx;
use crate::version::{CONSUL_API_VERSION, REVISION};

fn raft_addr(config: &AgentConfig) -> String {
    format!("{}:{}", config.bind_addr, config.server_port)
}

/// `GET /v1/status/leader`: the leader's RPC address, `""` when none is known.
pub fn status_leader(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    // Single server: when a leader is known, it is us.
    let leader = if ctx.mesh.status.known_leader() {
        raft_addr(config)
    } else {
        String::new()
    };
    Reply::json(&leader, req.style)
}

/// `GET /v1/status/peers`.
pub fn status_peers(config: &AgentConfig, req: &ApiRequest) -> Reply {
    Reply::json(&[raft_addr(config)], req.style)
}

/// `GET /v1/agent/version`.
pub fn version(req: &ApiRequest) -> Reply {
    let body = json!({
        "SHA": REVISION, "BuildDate": "", "HumanVersion": CONSUL_API_VERSION, "FIPS": "",
    });
    Reply::json(&body, req.style)
}

/// This agent as a gossip member (`/v1/agent/members`, `Member` in `/v1/agent/self`), fields
/// in Consul's order; tags sorted as Go writes maps. Until gossip exists, always alive (1).
pub fn member(config: &AgentConfig) -> serde_json::Value {
    json!({
        "Name": config.node_name,
        "Addr": config.bind_addr.to_string(),
        "Port": 8301,
        "Tags": {
            "build": format!("{CONSUL_API_VERSION}:{REVISION}"),
            "dc": config.datacenter,
            "id": config.node_id,
            "port": config.server_port.to_string(),
            "role": if config.server { "consul" } else { "node" },
            "vsn": "2",
        },
        "Status": 1,
        "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
    })
}

/// `GET /v1/agent/self`: what clients read (Config, Member, Stats, Meta). Every top-level value
/// is an object, as the Go client's `map[string]map[string]interface{}` decoding requires.
pub fn agent_self(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let status = &ctx.mesh.status;
    let leader = status.is_leader.load(Ordering::Relaxed);
    let body = json!({
        "Config": {
            "Datacenter": config.datacenter,
            "PrimaryDatacenter": config.datacenter,
            "NodeName": config.node_name,
            "NodeID": config.node_id,
            "Revision": REVISION,
            "Server": config.server,
            "Version": CONSUL_API_VERSION,
            "BuildDate": "",
        },
        "DebugConfig": {
            "Datacenter": config.datacenter,
            "NodeName": config.node_name,
            "DevMode": config.dev,
            "ServerMode": config.server,
            "DataDir": config.data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
            "ClientAddrs": [config.client_addr.to_string()],
            "HTTPPort": config.http_port,
            "DNSPort": config.dns_port,
        },
        "Coord": null,
        "Member": member(config),
        "Stats": {
            "agent": { "check_monitors": "0", "check_ttls": "0", "checks": "0", "services": "0" },
            "build": { "prerelease": "", "revision": REVISION, "version": CONSUL_API_VERSION, "version_metadata": "" },
            "consul": {
                "acl": "disabled",
                "bootstrap": config.dev.to_string(),
                "known_datacenters": "1",
                "leader": leader.to_string(),
                "leader_addr": if status.known_leader() { raft_addr(config) } else { String::new() },
                "server": config.server.to_string(),
            },
            "raft": {
                "applied_index": status.applied_index.load(Ordering::Relaxed).to_string(),
                "commit_index": status.commit_index.load(Ordering::Relaxed).to_string(),
                "last_log_index": status.last_log_index.load(Ordering::Relaxed).to_string(),
                "num_peers": "0",
                "state": if leader { "Leader" } else { "Follower" },
                "term": status.term.load(Ordering::Relaxed).to_string(),
            },
            "runtime": {
                "arch": std::env::consts::ARCH,
                "os": std::env::consts::OS,
                "cpu_count": crate::config::available_cores().to_string(),
                "shards": ctx.mesh.shards.len().to_string(),
                "version": "rust",
            },
        },
        "Meta": { "consul-network-segment": "", "consul-version": CONSUL_API_VERSION },
    });
    Reply::json(&body, req.style)
}
