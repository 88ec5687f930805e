//! `/v1/agent/self`, `/v1/agent/version`, `/v1/status/leader`, `/v1/status/peers`.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::response::Reply;
use super::ApiRequest;
use crate::config::AgentConfig;
use crate::node::ctx::ShardCtx;
use crate::version::{CONSUL_API_VERSION, REVISION};

/// `GET /v1/status/leader`: the leader's RPC address, `""` when none is known.
pub fn status_leader(ctx: &ShardCtx, _config: &AgentConfig, req: &ApiRequest) -> Reply {
    let status = &ctx.mesh.status;
    let leader = status.leader_id.load(Ordering::Relaxed);
    // As Consul's leader: no answer until it has established leadership (registered itself
    // and its serfHealth), so a client that waits for a leader finds the node in the catalog.
    let establishing = status.is_leader.load(Ordering::Relaxed)
        && !status.leadership_established.load(Ordering::Relaxed);
    let addr = if leader == 0 || establishing {
        String::new()
    } else {
        ctx.mesh
            .cluster
            .rpc_addr_of(leader)
            .map(|a| a.to_string())
            .unwrap_or_default()
    };
    Reply::json(&addr, req.style)
}

/// `GET /v1/status/peers`: the voters' RPC addresses (empty before bootstrap).
pub fn status_peers(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let peers: Vec<String> = ctx
        .mesh
        .cluster
        .peers
        .load()
        .iter()
        .map(|p| p.rpc_addr.to_string())
        .collect();
    Reply::json(&peers, req.style)
}

/// `DELETE /v1/operator/raft/peer?id=<node id>|address=<ip:port>`: removes a voter.
pub async fn remove_peer(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let (id, address) = (req.query.get("id"), req.query.get("address"));
    if id.is_none() && address.is_none() {
        return Reply::text(400, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove");
    }
    let peers = ctx.mesh.cluster.peers.load();
    let Some(peer) = peers.iter().find(|p| {
        id.is_some_and(|i| p.node_id == i) || address.is_some_and(|a| p.rpc_addr.to_string() == a)
    }) else {
        let what = id.map_or_else(
            || format!("address {:?}", address.unwrap_or("")),
            |i| format!("id {i:?}"),
        );
        return Reply::text(
            500,
            format!("Failed to remove raft peer: {what} was not found in the Raft configuration"),
        );
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let input = crate::mesh::RaftInput::RemovePeer {
        raft_id: peer.raft_id,
        reply: tx,
    };
    if ctx.mesh.raft.try_send(input).is_err() {
        return Reply::text(500, "No cluster leader");
    }
    match rx.await {
        Ok(Ok(_)) => Reply::empty(200),
        Ok(Err(e)) => Reply::text(500, e),
        Err(_) => Reply::text(500, "No cluster leader"),
    }
}

/// `POST /v1/operator/raft/transfer-leader[?id=]`: `{"Success": true}` once the transfer
/// started; with no other voter (or an unknown `id`) Consul's 500.
pub async fn transfer_leader(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let to = match req.query.get("id").filter(|i| !i.is_empty()) {
        None => None,
        Some(id) => {
            let peers = ctx.mesh.cluster.peers.load();
            match peers.iter().find(|p| p.node_id == id) {
                Some(p) => Some(p.raft_id),
                None => {
                    let text = format!("id {id:?} was not found in the Raft configuration");
                    return Reply::text(500, text);
                }
            }
        }
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let input = crate::mesh::RaftInput::TransferLeader { to, reply: tx };
    if ctx.mesh.raft.try_send(input).is_err() {
        return Reply::text(500, "No cluster leader");
    }
    match rx.await {
        Ok(Ok(_)) => Reply::json(&serde_json::json!({"Success": true}), req.style),
        Ok(Err(e)) => Reply::text(500, format!("failed to transfer leadership: {e}")),
        Err(_) => Reply::text(500, "No cluster leader"),
    }
}

/// `GET /v1/operator/raft/configuration`.
pub fn raft_configuration(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let status = &ctx.mesh.status;
    if !status.configured.load(Ordering::Relaxed) {
        return Reply::text(500, "No cluster leader");
    }
    let leader = status.leader_id.load(Ordering::Relaxed);
    let last = status.last_log_index.load(Ordering::Relaxed);
    let servers: Vec<serde_json::Value> = ctx
        .mesh
        .cluster
        .peers
        .load()
        .iter()
        .map(|p| {
            json!({
                "ID": p.node_id,
                "Node": p.name,
                "Address": p.rpc_addr.to_string(),
                "Leader": p.raft_id == leader,
                "ProtocolVersion": "3",
                "Voter": p.voter,
                "LastIndex": last,
            })
        })
        .collect();
    Reply::json(
        // Always 0 in Consul: raft's `GetConfiguration` future never sets the index it reports.
        &json!({ "Servers": servers, "Index": 0 }),
        req.style,
    )
}

/// `GET /v1/agent/version`.
pub fn version(req: &ApiRequest) -> Reply {
    let body = json!({
        "SHA": REVISION, "BuildDate": "", "HumanVersion": CONSUL_API_VERSION, "FIPS": "",
    });
    Reply::json(&body, req.style)
}

/// A gossip member as `/v1/agent/members` shows it, fields in Consul's order; tags sorted as
/// Go writes maps; `Status` is serf's integer (1 alive, 2 leaving, 3 left, 4 failed; a suspect
/// is alive).
pub fn member_json(m: &crate::gossip::Member) -> serde_json::Value {
    use crate::gossip::MemberState;
    let tags: serde_json::Map<String, serde_json::Value> = m
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let status = match m.state {
        MemberState::Alive | MemberState::Suspect => 1,
        MemberState::Leaving => 2,
        MemberState::Left => 3,
        MemberState::Dead => 4,
    };
    json!({
        "Name": m.name,
        "Addr": m.addr.ip().to_string(),
        "Port": m.addr.port(),
        "Tags": tags,
        "Status": status,
        "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
    })
}

/// This agent as a gossip member (`Member` in `/v1/agent/self`).
pub fn member(config: &AgentConfig) -> serde_json::Value {
    member_json(&crate::gossip::Member {
        name: config.node_name.clone(),
        addr: std::net::SocketAddr::new(config.bind_addr, config.serf_lan_port),
        incarnation: 0,
        state: crate::gossip::MemberState::Alive,
        tags: crate::node::gossip_runtime::local_tags(config),
        state_change_ms: 0,
    })
}

/// `GET /v1/agent/self`: what clients read (Config, Member, Stats, Meta). Every top-level value
/// is an object, as the Go client's `map[string]map[string]interface{}` decoding requires.
pub fn agent_self(
    ctx: &ShardCtx,
    rt: &crate::node::agent_runtime::AgentRuntime,
    req: &ApiRequest,
) -> Reply {
    let config = &rt.config;
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
        // Our LAN coordinate (null with `disable_coordinates`).
        "Coord": rt.gossip().swim.borrow().coordinate().map(|c| super::coordinate_api::CoordJson::new(&c)),
        "Member": member(config),
        "Stats": stats(ctx, rt),
        "Meta": { "consul-network-segment": "", "consul-version": CONSUL_API_VERSION },
    });
    Reply::json(&body, req.style)
}

/// The `Stats` of `/v1/agent/self` (what `tribune info` prints), values as strings like Consul.
pub fn stats(ctx: &ShardCtx, rt: &crate::node::agent_runtime::AgentRuntime) -> serde_json::Value {
    let config = &rt.config;
    let status = &ctx.mesh.status;
    let leader = status.is_leader.load(Ordering::Relaxed);
    let gossip = rt.gossip();
    let swim = gossip.swim.borrow();
    let count = |st: crate::gossip::MemberState| {
        swim.members().filter(|m| m.state == st).count().to_string()
    };
    let (services, checks, ttls, monitors) = rt.local_counts();
    let peers = ctx.mesh.cluster.peers.load();
    let leader_id = status.leader_id.load(Ordering::Relaxed);
    let configuration: Vec<String> = peers
        .iter()
        .map(|p| {
            let suffrage = if p.voter { "Voter" } else { "Nonvoter" };
            format!(
                "{{Suffrage:{suffrage} ID:{} Address:{}}}",
                p.node_id, p.rpc_addr
            )
        })
        .collect();
    json!({
        "agent": { "check_monitors": monitors.to_string(), "check_ttls": ttls.to_string(), "checks": checks.to_string(), "services": services.to_string() },
        "build": { "prerelease": "", "revision": REVISION, "version": CONSUL_API_VERSION, "version_metadata": "" },
        "consul": {
            "acl": "disabled",
            "bootstrap": config.bootstraps_alone().to_string(),
            "known_datacenters": "1",
            "leader": leader.to_string(),
            "leader_addr": if leader_id == 0 { String::new() } else { ctx.mesh.cluster.rpc_addr_of(leader_id).map(|a| a.to_string()).unwrap_or_default() },
            "server": config.server.to_string(),
        },
        "raft": if config.server { json!({
            "applied_index": status.applied_index.load(Ordering::Relaxed).to_string(),
            "commit_index": status.commit_index.load(Ordering::Relaxed).to_string(),
            "last_log_index": status.last_log_index.load(Ordering::Relaxed).to_string(),
            "last_snapshot_index": status.last_snapshot_index.load(Ordering::Relaxed).to_string(),
            "latest_configuration": format!("[{}]", configuration.join(" ")),
            // Voters other than this server, as hashicorp/raft counts them.
            "num_peers": peers.iter().filter(|p| p.voter).count().saturating_sub(1).to_string(),
            "protocol_version": "3",
            "state": if leader { "Leader" } else if leader_id == 0 { "Candidate" } else { "Follower" },
            "term": status.term.load(Ordering::Relaxed).to_string(),
        }) } else { json!({}) },
        "runtime": {
            "arch": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "cpu_count": crate::io::host::available_cores().to_string(),
            "shards": ctx.mesh.shards.len().to_string(),
            "version": "rust",
        },
        "serf_lan": {
            "coordinate_resets": swim.coordinate_resets().to_string(),
            "encrypted": gossip.encrypted().to_string(),
            "failed": count(crate::gossip::MemberState::Dead),
            "health_score": swim.health_score().to_string(),
            "left": count(crate::gossip::MemberState::Left),
            "members": swim.members().count().to_string(),
            "bad_packets": swim.stats.bad_packets.to_string(),
            "decrypt_failures": gossip.shell_stats.borrow().decrypt_failures.to_string(),
        },
    })
}
