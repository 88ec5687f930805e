//! `/v1/operator/autopilot/*` (the configuration in the replicated state, health and state
//! from the leader's Raft progress and the gossip pool), `/v1/operator/usage` and
//! `/v1/agent/host`.

use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use crate::config::AgentConfig;
use crate::http::decode::format_go_duration;
use crate::http::request::ApiRequest;
use crate::http::response::Reply;
use crate::node::ctx::ShardCtx;
use crate::operator::{AutopilotConfig, AutopilotSet};
use crate::state::{Command, WriteOutcome};

/// The configuration in force: the replicated one, or (before the leader wrote it) the
/// agent's own settings.
fn autopilot_config(ctx: &ShardCtx, config: &AgentConfig) -> AutopilotConfig {
    ctx.catch_up();
    crate::node::gossip_runtime::current_autopilot(ctx, config)
}

fn config_json(c: &AutopilotConfig) -> Value {
    json!({
        "CleanupDeadServers": c.cleanup_dead_servers,
        "LastContactThreshold": format_go_duration(c.last_contact_threshold_ns),
        "MaxTrailingLogs": c.max_trailing_logs,
        "MinQuorum": c.min_quorum,
        "ServerStabilizationTime": format_go_duration(c.server_stabilization_time_ns),
        "RedundancyZoneTag": c.redundancy_zone_tag,
        "DisableUpgradeMigration": c.disable_upgrade_migration,
        "UpgradeVersionTag": c.upgrade_version_tag,
        "CreateIndex": c.create_index,
        "ModifyIndex": c.modify_index,
    })
}

/// `GET|PUT /v1/operator/autopilot/configuration`.
pub async fn configuration(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    if req.method == "GET" {
        return Reply::json(&config_json(&autopilot_config(ctx, config)), req.style);
    }
    let cas = match req.query.get("cas") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => return Reply::text(400, format!("Error parsing cas value: {v:?}")),
        },
    };
    let set = match parse_configuration(&req.body) {
        Ok(config) => AutopilotSet { config, cas },
        Err(e) => return Reply::text(400, format!("Error parsing autopilot config: {e}")),
    };
    match ctx.write(Command::Autopilot(Box::new(set))).await {
        WriteOutcome::Bool(applied) => Reply::json(&applied, req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("an autopilot write answers a bool"),
    }
}

/// The PUT body, as Consul decodes `api.AutopilotConfiguration` (field names in any case,
/// durations as Go strings or nanoseconds): the whole configuration, missing fields zero.
fn parse_configuration(body: &[u8]) -> Result<AutopilotConfig, String> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())?
    };
    let Value::Object(fields) = value else {
        return Err("expected a JSON object".into());
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let flag = |name: &str| -> Result<bool, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("{name}: expected a bool")),
        }
    };
    let number = |name: &str| -> Result<u64, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("{name}: expected a number")),
        }
    };
    let text = |name: &str| -> Result<String, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{name}: expected a string")),
        }
    };
    let duration = |name: &str| -> Result<u64, String> {
        match get(name) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::String(s)) if s.is_empty() => Ok(0),
            Some(Value::String(s)) => crate::http::query::parse_go_duration(s)
                .map(|d| d.as_nanos() as u64)
                .ok_or_else(|| format!("time: invalid duration {s:?}")),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("{name}: expected a duration")),
        }
    };
    Ok(AutopilotConfig {
        cleanup_dead_servers: flag("CleanupDeadServers")?,
        last_contact_threshold_ns: duration("LastContactThreshold")?,
        max_trailing_logs: number("MaxTrailingLogs")?,
        min_quorum: number("MinQuorum")?,
        server_stabilization_time_ns: duration("ServerStabilizationTime")?,
        redundancy_zone_tag: text("RedundancyZoneTag")?,
        disable_upgrade_migration: flag("DisableUpgradeMigration")?,
        upgrade_version_tag: text("UpgradeVersionTag")?,
        create_index: 0,
        modify_index: 0,
    })
}

/// One server as autopilot judges it.
struct ServerHealth {
    id: String,
    name: String,
    address: String,
    serf_status: &'static str,
    leader: bool,
    voter: bool,
    last_index: u64,
    healthy: bool,
    last_contact_ms: Option<u64>,
}

/// Every Raft server with its health: alive in gossip and, for followers, heard from within
/// the election timeout and no more than `MaxTrailingLogs` behind the leader.
fn server_health(ctx: &ShardCtx, config: &AgentConfig) -> (Vec<ServerHealth>, u64) {
    let autopilot = autopilot_config(ctx, config);
    let status = &ctx.mesh.status;
    let leader_id = status.leader_id.load(Ordering::Relaxed);
    let leader_last = status.last_log_index.load(Ordering::Relaxed);
    let progress = status.progress.load();
    let alive: std::collections::BTreeMap<u64, bool> = ctx
        .mesh
        .cluster
        .servers
        .load()
        .iter()
        .map(|s| (s.raft_id, s.alive))
        .collect();
    let servers = ctx
        .mesh
        .cluster
        .peers
        .load()
        .iter()
        .map(|p| {
            let serf_alive = alive.get(&p.raft_id).copied().unwrap_or(false);
            let pr = progress.iter().find(|pr| pr.raft_id == p.raft_id);
            let leader = p.raft_id == leader_id;
            let last_index = match (leader, pr) {
                (true, _) => leader_last,
                (false, Some(pr)) => pr.matched,
                (false, None) => 0,
            };
            let contact = pr.and_then(|pr| pr.last_contact_ms);
            ServerHealth {
                id: p.node_id.clone(),
                name: p.name.clone(),
                address: p.rpc_addr.to_string(),
                serf_status: if serf_alive { "alive" } else { "failed" },
                leader,
                voter: p.voter,
                last_index,
                healthy: match leader {
                    true => serf_alive,
                    false => {
                        autopilot.follower_healthy(serf_alive, leader_last, last_index, contact)
                    }
                },
                last_contact_ms: if leader { Some(0) } else { contact },
            }
        })
        .collect();
    (servers, status.term.load(Ordering::Relaxed))
}

/// Consul's `LastContact` as a Go duration (`-1ns` when never heard from).
fn last_contact(s: &ServerHealth) -> String {
    match s.last_contact_ms {
        Some(ms) => format_go_duration(ms * 1_000_000),
        None => "-1ns".into(),
    }
}

/// Voters that may fail while a quorum stays: healthy voters beyond a majority.
fn failure_tolerance(servers: &[ServerHealth]) -> usize {
    let voters = servers.iter().filter(|s| s.voter).count();
    let healthy = servers.iter().filter(|s| s.voter && s.healthy).count();
    healthy.saturating_sub(voters / 2 + 1)
}

/// `GET /v1/operator/autopilot/health`: 200 when every server is healthy, else 429, with
/// the same body.
pub fn health(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let (servers, term) = server_health(ctx, config);
    let healthy = !servers.is_empty() && servers.iter().all(|s| s.healthy);
    let list: Vec<Value> = servers
        .iter()
        .map(|s| {
            json!({
                "ID": s.id,
                "Name": s.name,
                "Address": s.address,
                "SerfStatus": s.serf_status,
                "Version": crate::version::CONSUL_API_VERSION,
                "Leader": s.leader,
                "LastContact": last_contact(s),
                "LastTerm": term,
                "LastIndex": s.last_index,
                "Healthy": s.healthy,
                "Voter": s.voter,
                "StableSince": "0001-01-01T00:00:00Z",
            })
        })
        .collect();
    let body = json!({
        "Healthy": healthy,
        "FailureTolerance": failure_tolerance(&servers),
        "Servers": list,
    });
    Reply::json_status(if healthy { 200 } else { 429 }, &body, req.style)
}

/// `GET /v1/operator/autopilot/state`: Consul's `AutopilotState` (servers by ID).
pub fn state(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let (servers, term) = server_health(ctx, config);
    let healthy = !servers.is_empty() && servers.iter().all(|s| s.healthy);
    let tolerance = failure_tolerance(&servers);
    let leader = servers
        .iter()
        .find(|s| s.leader)
        .map(|s| s.id.clone())
        .unwrap_or_default();
    let voters: Vec<&str> = servers
        .iter()
        .filter(|s| s.voter)
        .map(|s| s.id.as_str())
        .collect();
    let mut by_id = serde_json::Map::new();
    for s in &servers {
        let status = if s.leader {
            "leader"
        } else if s.voter {
            "voter"
        } else {
            "non-voter"
        };
        by_id.insert(
            s.id.clone(),
            json!({
                "ID": s.id,
                "Name": s.name,
                "Address": s.address,
                "NodeStatus": s.serf_status,
                "Version": crate::version::CONSUL_API_VERSION,
                "LastContact": last_contact(s),
                "LastTerm": term,
                "LastIndex": s.last_index,
                "Healthy": s.healthy,
                "StableSince": "0001-01-01T00:00:00Z",
                "Status": status,
                "Meta": {},
                "NodeType": "voter",
            }),
        );
    }
    let body = json!({
        "Healthy": healthy,
        "FailureTolerance": tolerance,
        "OptimisticFailureTolerance": tolerance,
        "Servers": by_id,
        "Leader": leader,
        "Voters": voters,
    });
    Reply::json(&body, req.style)
}

/// `GET /v1/operator/usage`: this datacenter's services, instances and nodes.
pub async fn usage(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let nodes = ctx.catalog_nodes();
    let names = match ctx.service_tags().await {
        Ok(t) => t,
        Err(_) => return Reply::error(&crate::error::ApiError::RateLimited),
    };
    let mut instances = 0usize;
    for name in names.value.keys() {
        match ctx.service_instances(name, &[]).await {
            Ok(found) => instances += found.value.len(),
            Err(_) => return Reply::error(&crate::error::ApiError::RateLimited),
        }
    }
    let index = nodes.index.max(names.index);
    let known_leader = ctx.mesh.status.known_leader();
    let connect = json!({
        "api-gateway": 0, "connect-native": 0, "connect-proxy": 0,
        "ingress-gateway": 0, "mesh-gateway": 0, "terminating-gateway": 0,
    });
    let mut usage = serde_json::Map::new();
    usage.insert(
        config.datacenter.clone(),
        json!({
            "Services": names.value.len(),
            "ServiceInstances": instances,
            "ConnectServiceInstances": connect,
            "BillableServiceInstances": instances,
            "Nodes": nodes.value.len(),
        }),
    );
    let body = json!({
        "Usage": usage,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": known_leader,
        "ConsistencyLevel": "",
        "NotModified": false,
        "Backend": 0,
        "ResultsFilteredByACLs": false,
    });
    Reply::json(&body, req.style).with_query_meta(index, known_leader, 0)
}

/// `GET /v1/agent/host`: what Consul's gopsutil reports, from `/proc` (memory, CPUs, host,
/// the data directory's disk).
pub fn host(config: &AgentConfig, req: &ApiRequest) -> Reply {
    let info = crate::io::host::host_info(config.data_dir.as_deref());
    Reply::json(&info, req.style)
}
