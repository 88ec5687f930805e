//! `/v1/agent/services|service/...|checks|check/...|health/service/...|maintenance|members`:
//! the agent's local state. Runs on shard 0 only; other shards forward these requests there.

use crate::acl::{Need, Resource};
use crate::error::ApiError;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::agent_defs::{self, Refusal};
use super::catalog_api::{parse_bool, request_filter};
use super::catalog_json::{CheckJson, Weights};
use super::decode;
use super::filter::Filter;
use super::response::Reply;
use super::route::Route;
use super::ApiRequest;
use crate::agent::local::is_status;
use crate::agent::{CheckKind, LocalCheck, LocalService};
use crate::catalog::{Check, CRITICAL, PASSING, WARNING};
use crate::node::agent_runtime::AgentRuntime;
use crate::node::checks::cap_output;
use crate::node::ctx::ShardCtx;

/// `AgentService`, fields in Consul's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AgentServiceJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    service: &'a str,
    tags: &'a [String],
    meta: BTreeMap<&'a str, &'a str>,
    port: u32,
    address: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tagged_addresses: BTreeMap<&'a str, AddressPortJson<'a>>,
    weights: Weights,
    enable_tag_override: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_hash: Option<String>,
    datacenter: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AddressPortJson<'a> {
    address: &'a str,
    port: u32,
}

fn service_json<'a>(s: &'a LocalService, dc: &'a str, with_hash: bool) -> AgentServiceJson<'a> {
    let d = &s.def;
    let mut out = AgentServiceJson {
        id: &d.id,
        service: &d.name,
        tags: &d.tags,
        meta: d
            .meta
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        port: d.port,
        address: &d.address,
        tagged_addresses: d
            .tagged_addresses
            .iter()
            .map(|(k, a, p)| {
                (
                    k.as_str(),
                    AddressPortJson {
                        address: a,
                        port: *p,
                    },
                )
            })
            .collect(),
        weights: Weights {
            passing: d.weight_passing,
            warning: d.weight_warning,
        },
        enable_tag_override: d.enable_tag_override,
        content_hash: None,
        datacenter: dc,
    };
    if with_hash {
        let bytes = serde_json::to_vec(&out).expect("JSON into memory");
        out.content_hash = Some(format!("{:016x}", fnv1a(&bytes)));
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A local check as the catalog `HealthCheck` shape (indexes 0, as Consul's agent shows).
fn as_check(rt: &AgentRuntime, c: &LocalCheck) -> Check {
    let local = rt.local.borrow();
    let service = local.services.get(&c.spec.def.service_id);
    Check {
        def: c.spec.def.clone(),
        node: rt.config.node_name.clone(),
        service_name: service.map(|s| s.def.name.clone()).unwrap_or_default(),
        service_tags: service.map(|s| s.def.tags.clone()).unwrap_or_default(),
        create_index: 0,
        modify_index: 0,
    }
}

fn body_json(req: &ApiRequest) -> Result<Value, Reply> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&req.body)
        .map_err(|e| Reply::text(400, format!("Request decode failed: {e}")))
}

fn refused((status, text): Refusal) -> Reply {
    Reply::text(status, text)
}

/// True when `item`'s JSON passes `filter` (or there is none).
fn passes<T: Serialize>(filter: Option<&Filter>, item: &T) -> bool {
    filter.is_none_or(|f| f.passes(item))
}

fn unknown_check(id: &str) -> Reply {
    Reply::text(
        404,
        format!("Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name."),
    )
}

/// Runs a local-agent route on shard 0.
pub async fn dispatch(ctx: &ShardCtx, route: &Route, req: &ApiRequest) -> Reply {
    let rt = ctx.agent();
    if let Err(e) = local_allowed(rt, route, req) {
        return Reply::error(&e);
    }
    match route {
        Route::AgentToken(kind) => super::acl_api::set_agent_token(ctx, &rt.config, kind, req),
        Route::AgentServices => {
            let filter = match request_filter(req) {
                Ok(f) => f,
                Err(e) => return Reply::text(500, e),
            };
            let local = rt.local.borrow();
            let readable =
                |s: &&LocalService| req.allows(Resource::Service, &s.def.name, Need::Read);
            let acl_filtered = !local.services.values().all(|s| readable(&s));
            let map: BTreeMap<&str, AgentServiceJson> = local
                .services
                .iter()
                .filter(|(_, s)| readable(s))
                .map(|(id, s)| (id.as_str(), service_json(s, &rt.config.datacenter, false)))
                .filter(|(_, j)| passes(filter.as_ref(), j))
                .collect();
            super::acl_filtered(Reply::json(&map, req.style), acl_filtered)
        }
        Route::AgentService(id) => {
            let local = rt.local.borrow();
            match local.services.get(id) {
                Some(s) => {
                    let json = service_json(s, &rt.config.datacenter, true);
                    let hash = json.content_hash.clone().unwrap_or_default();
                    Reply::json(&json, req.style).with("X-Consul-ContentHash", hash)
                }
                None => Reply::text(404, format!("unknown service ID: {id}")),
            }
        }
        Route::AgentServiceRegister => register_service(ctx, rt, req),
        Route::AgentServiceDeregister(id) => {
            rt.stop_service_runners(id);
            rt.service_tokens.borrow_mut().remove(id);
            if !rt.local.borrow_mut().remove_service(id) {
                return Reply::text(404, format!("Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."));
            }
            rt.changed();
            Reply::empty(200)
        }
        Route::AgentChecks => {
            let filter = match request_filter(req) {
                Ok(f) => f,
                Err(e) => return Reply::text(500, e),
            };
            let checks: Vec<Check> = rt
                .local
                .borrow()
                .checks
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .iter()
                .map(|c| as_check(rt, c))
                .collect();
            let readable = |c: &&Check| check_access(rt, &c.def, req, Need::Read).is_ok();
            let acl_filtered = !checks.iter().all(|c| readable(&c));
            let map: BTreeMap<&str, CheckJson> = checks
                .iter()
                .filter(readable)
                .map(|c| (c.def.id.as_str(), CheckJson::new(c)))
                .filter(|(_, j)| passes(filter.as_ref(), j))
                .collect();
            super::acl_filtered(Reply::json(&map, req.style), acl_filtered)
        }
        Route::AgentCheckRegister => register_check(ctx, rt, req),
        Route::AgentCheckDeregister(id) => {
            rt.stop_runner(id);
            if !rt.local.borrow_mut().remove_check(id) {
                return unknown_check(id);
            }
            rt.changed();
            Reply::empty(200)
        }
        Route::AgentCheckPass(id) => {
            ttl_update(rt, id, PASSING, req.query.get("note").unwrap_or(""))
        }
        Route::AgentCheckWarn(id) => {
            ttl_update(rt, id, WARNING, req.query.get("note").unwrap_or(""))
        }
        Route::AgentCheckFail(id) => {
            ttl_update(rt, id, CRITICAL, req.query.get("note").unwrap_or(""))
        }
        Route::AgentCheckUpdate(id) => {
            let body = match body_json(req) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let f = match decode::fields(body, &[("Status", &[]), ("Output", &[])]) {
                Ok(f) => f,
                Err(e) => return Reply::text(400, format!("Request decode failed: {e}")),
            };
            let (status, output) = (
                f.string("Status").unwrap_or_default(),
                f.string("Output").unwrap_or_default(),
            );
            if !is_status(&status) {
                return Reply::text(400, format!("Invalid check status: '{status}'"));
            }
            ttl_update(rt, id, &status, &output)
        }
        Route::AgentHealthServiceId(id) => health_by_id(rt, id, req),
        Route::AgentHealthServiceName(name) => health_by_name(rt, name, req),
        Route::AgentMaintenance => maintenance(rt, None, req),
        Route::AgentServiceMaintenance(id) => {
            if id.is_empty() {
                return Reply::text(400, "Missing service ID");
            }
            maintenance(rt, Some(id), req)
        }
        Route::AgentMembers => members(rt, req),
        Route::OperatorKeyring => super::keyring_api::handle(ctx, rt, req).await,
        Route::AgentSelf => super::agent_api::agent_self(ctx, rt, req),
        Route::EventFire(name) => fire_event(ctx, rt, name, req),
        Route::EventList => list_events(rt, req).await,
        Route::AgentJoin(addr) => {
            let pool = match req
                .query
                .get("wan")
                .is_some_and(|v| !v.is_empty() && v != "0")
            {
                true => match rt.wan() {
                    Some(wan) => wan,
                    None => return Reply::text(500, "WAN join requires a server agent"),
                },
                false => rt.gossip(),
            };
            let (n, errors) = pool.join(ctx, std::slice::from_ref(addr)).await;
            if n == 0 {
                return Reply::text(500, errors.join("; "));
            }
            Reply::empty(200)
        }
        Route::AgentLeave => {
            if let Some(wan) = rt.wan() {
                wan.leave().await;
            }
            rt.gossip().leave().await;
            // Consul shuts the agent down after a graceful leave; answer first.
            tokio::task::spawn_local(async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                tracing::info!(target: "agent", "graceful leave complete, shutting down");
                crate::io::host::remove_pid_file();
                std::process::exit(0);
            });
            Reply::empty(200)
        }
        Route::AgentForceLeave(node) => {
            let prune = req.query.has("prune");
            let pool = match req
                .query
                .get("wan")
                .is_some_and(|v| !v.is_empty() && v != "0")
            {
                true => rt.wan().unwrap_or_else(|| rt.gossip()),
                false => rt.gossip(),
            };
            if pool.force_leave(ctx, node, prune) {
                Reply::empty(200)
            } else {
                Reply::text(500, format!("agent: No node found with name '{node}'"))
            }
        }
        _ => unreachable!("not a local-agent route: {route:?}"),
    }
}

/// Consul's event JSON (`api.UserEvent`); the payload is Go's `[]byte`: base64, or null.
fn event_json(e: &crate::gossip::wire::UserEvent) -> serde_json::Value {
    use base64::Engine;
    let payload = (!e.payload.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(&e.payload));
    serde_json::json!({
        "ID": e.id, "Name": e.name, "Payload": payload,
        "NodeFilter": e.node_filter, "ServiceFilter": e.service_filter, "TagFilter": e.tag_filter,
        "Version": 1, "LTime": e.ltime,
    })
}

/// Consul's `uuidToUint64`: the event list's `X-Consul-Index` is derived from the last ID.
fn event_index(id: &str) -> u64 {
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    if id.len() != 36 {
        return 0;
    }
    let lower = format!("{}{}{}", &id[0..8], &id[9..13], &id[14..18]);
    let upper = format!("{}{}", &id[19..23], &id[24..36]);
    hex(&lower) ^ hex(&upper)
}

/// `PUT /v1/event/fire/<name>?node=&service=&tag=` with the payload as body.
fn fire_event(ctx: &ShardCtx, rt: &AgentRuntime, name: &str, req: &ApiRequest) -> Reply {
    use crate::config::{USER_EVENT_FILTER_BYTES_MAX, USER_EVENT_PAYLOAD_MAX};
    if name.is_empty() {
        return Reply::text(400, "Missing name");
    }
    if req.body.len() > USER_EVENT_PAYLOAD_MAX {
        return Reply::text(
            400,
            format!(
                "Event payload too large: {} bytes (limit {USER_EVENT_PAYLOAD_MAX})",
                req.body.len()
            ),
        );
    }
    let filter = |k: &str| req.query.get(k).unwrap_or("").to_string();
    let (node, service, tag) = (filter("node"), filter("service"), filter("tag"));
    for f in [&node, &service, &tag] {
        if f.len() > USER_EVENT_FILTER_BYTES_MAX {
            return Reply::text(
                400,
                format!("Event filter too long (limit {USER_EVENT_FILTER_BYTES_MAX} bytes)"),
            );
        }
        if regex::Regex::new(f).is_err() {
            return Reply::text(400, format!("Invalid event filter {f:?}"));
        }
    }
    if !tag.is_empty() && service.is_empty() {
        return Reply::text(400, "Cannot provide tag filter without service filter.");
    }
    let r: [u8; 16] = rand::random();
    let h: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-4{}-8{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let ev = rt.gossip().fire_event(
        ctx,
        crate::gossip::wire::UserEvent {
            id,
            name: name.to_string(),
            payload: req.body.to_vec(),
            node_filter: node,
            service_filter: service,
            tag_filter: tag,
            ltime: 0,
        },
    );
    Reply::json(&event_json(&ev), req.style)
}

/// `GET /v1/event/list?name=`, blocking on `index` (the last event's ID as Consul hashes it).
async fn list_events(rt: &AgentRuntime, req: &ApiRequest) -> Reply {
    let opts = match super::query::read_options(&req.query, req.jitter) {
        Ok(o) => o,
        Err(e) => return Reply::text(400, e),
    };
    let gossip = rt.gossip();
    let name = req.query.get("name").unwrap_or("").to_string();
    let deadline = tokio::time::Instant::now() + opts.wait;
    loop {
        let changed = gossip.events_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (list, index) = {
            let events = gossip.events.borrow();
            let list: Vec<serde_json::Value> = events
                .iter()
                .filter(|e| name.is_empty() || e.name == name)
                .filter(|e| req.allows(Resource::Event, &e.name, Need::Read))
                .map(event_json)
                .collect();
            let index = events.back().map_or(0, |e| event_index(&e.id));
            (list, index)
        };
        let waiting = opts.min_index > 0 && index == opts.min_index;
        if !waiting || tokio::time::Instant::now() >= deadline {
            return Reply::json(&list, req.style).with("X-Consul-Index", index.to_string());
        }
        let _ = tokio::time::timeout_at(deadline, &mut changed).await;
    }
}

/// `GET /v1/agent/members`: the LAN pool (or with `?wan` the WAN pool), sorted by name.
fn members(rt: &AgentRuntime, req: &ApiRequest) -> Reply {
    let wan = req
        .query
        .get("wan")
        .is_some_and(|v| !v.is_empty() && v != "0");
    let gossip = if wan {
        if req.query.has("segment") {
            return Reply::text(400, "Cannot provide a segment with wan=true");
        }
        match rt.wan() {
            Some(wan) => wan,
            // Client agents are in no WAN pool.
            None => return Reply::json(&Vec::<serde_json::Value>::new(), req.style),
        }
    } else {
        rt.gossip()
    };
    let swim = gossip.swim.borrow();
    let mut list: Vec<&crate::gossip::Member> = swim.members().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let before = list.len();
    // A member is shown to tokens with `node:read` on it (WAN members are `<node>.<dc>`).
    list.retain(|m| {
        let node = m
            .name
            .rsplit_once('.')
            .filter(|_| wan)
            .map_or(m.name.as_str(), |(n, _)| n);
        req.allows(Resource::Node, node, Need::Read)
    });
    let acl_filtered = list.len() != before;
    let json: Vec<serde_json::Value> = list
        .into_iter()
        .map(super::agent_api::member_json)
        .collect();
    super::acl_filtered(Reply::json(&json, req.style), acl_filtered)
}

fn register_service(ctx: &ShardCtx, rt: &AgentRuntime, req: &ApiRequest) -> Reply {
    let replace = match req.query.get("replace-existing-checks") {
        None => false,
        Some("") | Some("true") => true,
        Some(_) => false,
    };
    let body = match body_json(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (def, checks) = match agent_defs::parse_service(body, rt.config.enable_script_checks) {
        Ok(p) => p,
        Err(r) => return refused(r),
    };
    // Consul's `vetServiceRegister`: write on the name registered, and on the name of the
    // service this ID replaces (so one service cannot take over another's ID).
    let replaced = rt
        .local
        .borrow()
        .services
        .get(&def.id)
        .map(|s| s.def.name.clone());
    for name in std::iter::once(&def.name).chain(replaced.as_ref()) {
        if let Err(e) = req.require(Resource::Service, name, Need::Write) {
            return Reply::error(&e);
        }
    }
    let now = rt.now_ms();
    let service_id = def.id.clone();
    // Anti-entropy writes the service with the token it was registered with.
    let mut tokens = rt.service_tokens.borrow_mut();
    match req.token() {
        Some(t) => tokens.insert(service_id.clone(), t.to_string()),
        None => tokens.remove(&service_id),
    };
    drop(tokens);
    rt.local.borrow_mut().add_service(def, checks, replace, now);
    // (Re)start probes for the service's checks as registered now.
    rt.stop_service_runners(&service_id);
    let specs: Vec<_> = {
        let local = rt.local.borrow();
        let ids = local.check_ids_of(&service_id);
        ids.filter_map(|id| local.checks.get(id).map(|c| c.spec.clone()))
            .collect()
    };
    for spec in &specs {
        rt.start_runner(ctx, spec);
    }
    rt.changed();
    Reply::empty(200)
}

fn register_check(ctx: &ShardCtx, rt: &AgentRuntime, req: &ApiRequest) -> Reply {
    let body = match body_json(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let spec = match agent_defs::parse_check(body, rt.config.enable_script_checks) {
        Ok(s) => s,
        Err(r) => return refused(r),
    };
    let sid = &spec.def.service_id;
    if !sid.is_empty() && !rt.local.borrow().services.contains_key(sid) {
        return Reply::text(404, format!("ServiceID {sid:?} does not exist"));
    }
    // Consul's `vetCheckRegister`: write on what the check belongs to, and on what the check
    // it replaces belonged to.
    let replaced = rt
        .local
        .borrow()
        .checks
        .get(&spec.def.id)
        .map(|c| c.spec.def.clone());
    for def in std::iter::once(&spec.def).chain(replaced.as_ref()) {
        if let Err(e) = check_access(rt, def, req, Need::Write) {
            return Reply::error(&e);
        }
    }
    let now = rt.now_ms();
    rt.local.borrow_mut().add_check(spec.clone(), now);
    rt.start_runner(ctx, &spec);
    rt.changed();
    Reply::empty(200)
}

fn ttl_update(rt: &AgentRuntime, id: &str, status: &str, output: &str) -> Reply {
    let kind = rt
        .local
        .borrow()
        .checks
        .get(id)
        .map(|c| c.spec.kind.clone());
    match kind {
        None => unknown_check(id),
        Some(CheckKind::Ttl { .. }) => {
            let now = rt.now_ms();
            rt.local
                .borrow_mut()
                .set_status(id, status, &cap_output(output), now);
            // Always: even an unchanged status moved the TTL deadline the TTL loop sleeps on.
            rt.changed();
            Reply::empty(200)
        }
        Some(_) => Reply::text(500, format!("CheckID {id:?} does not have associated TTL")),
    }
}

fn maintenance(rt: &AgentRuntime, service: Option<&str>, req: &ApiRequest) -> Reply {
    let enable = match req.query.get("enable") {
        None | Some("") => return Reply::text(400, "Missing value for enable"),
        Some(v) => match parse_bool(v) {
            Some(b) => b,
            None => return Reply::text(400, format!("Invalid value for enable: {v:?}")),
        },
    };
    let reason = req.query.get("reason").unwrap_or("");
    let now = rt.now_ms();
    if !rt
        .local
        .borrow_mut()
        .set_maintenance(service, enable, reason, now)
    {
        return Reply::text(
            404,
            format!("Unknown service ID {:?}", service.unwrap_or("")),
        );
    }
    rt.changed();
    Reply::empty(200)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceHealth<'a> {
    aggregated_status: &'static str,
    service: Option<AgentServiceJson<'a>>,
    checks: Option<Vec<CheckJson<'a>>>,
}

fn status_code(status: &str) -> u16 {
    match status {
        PASSING => 200,
        WARNING => 429,
        _ => 503,
    }
}

fn wants_text(req: &ApiRequest) -> bool {
    req.query.get("format") == Some("text")
}

fn health_by_id(rt: &AgentRuntime, id: &str, req: &ApiRequest) -> Reply {
    let local = rt.local.borrow();
    let Some(service) = local.services.get(id) else {
        if wants_text(req) {
            return Reply::text(404, format!("ServiceId {id} not found"));
        }
        let body = ServiceHealth {
            aggregated_status: CRITICAL,
            service: None,
            checks: None,
        };
        return Reply::json_status(404, &body, req.style);
    };
    let status = local.service_health(id);
    if wants_text(req) {
        return Reply::text(status_code(status), status);
    }
    let checks: Vec<Check> = local
        .checks
        .values()
        .filter(|c| c.spec.def.service_id == id)
        .map(|c| as_check(rt, c))
        .collect();
    let body = ServiceHealth {
        aggregated_status: status,
        service: Some(service_json(service, &rt.config.datacenter, false)),
        checks: Some(checks.iter().map(CheckJson::new).collect()),
    };
    Reply::json_status(status_code(status), &body, req.style)
}

fn health_by_name(rt: &AgentRuntime, name: &str, req: &ApiRequest) -> Reply {
    let local = rt.local.borrow();
    let ids: Vec<&String> = local
        .services
        .iter()
        .filter(|(_, s)| s.def.name == name)
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Reply::text(404, format!("ServiceName {name} Not Found"));
    }
    let worst = crate::catalog::aggregate(ids.iter().map(|id| local.service_health(id)));
    if wants_text(req) {
        return Reply::text(status_code(worst), worst);
    }
    let checks: Vec<Vec<Check>> = ids
        .iter()
        .map(|id| {
            local
                .checks
                .values()
                .filter(|c| &c.spec.def.service_id == *id)
                .map(|c| as_check(rt, c))
                .collect()
        })
        .collect();
    let body: Vec<ServiceHealth> = ids
        .iter()
        .zip(&checks)
        .map(|(id, checks)| ServiceHealth {
            aggregated_status: local.service_health(id),
            service: Some(service_json(
                &local.services[*id],
                &rt.config.datacenter,
                false,
            )),
            checks: Some(checks.iter().map(CheckJson::new).collect()),
        })
        .collect();
    Reply::json_status(status_code(worst), &body, req.style)
}

/// What a check needs: `service:<level>` on its service's name, or `node:<level>` on this
/// node for a node-level check (Consul's `vetCheckRegister`/`vetCheckUpdate`).
fn check_access(
    rt: &AgentRuntime,
    def: &crate::catalog::CheckDef,
    req: &ApiRequest,
    need: Need,
) -> Result<(), ApiError> {
    if def.service_id.is_empty() {
        return req.require(Resource::Node, &rt.config.node_name, need);
    }
    let name = match rt.local.borrow().services.get(&def.service_id) {
        Some(s) => s.def.name.clone(),
        None => def.service_id.clone(),
    };
    req.require(Resource::Service, &name, need)
}

/// The checks of local-agent routes whose permission names come from what the path's ID
/// refers to (`Permission::body` in the route table); `dispatch` checked the others, and the
/// register handlers check the definitions they decoded. A name that is not found is left
/// to the handler's own 404.
fn local_allowed(rt: &AgentRuntime, route: &Route, req: &ApiRequest) -> Result<(), ApiError> {
    if req.identity.is_none() {
        return Ok(());
    }
    let service_name = |id: &str| {
        rt.local
            .borrow()
            .services
            .get(id)
            .map(|s| s.def.name.clone())
    };
    let check_def = |id: &str| rt.local.borrow().checks.get(id).map(|c| c.spec.def.clone());
    match route {
        Route::AgentService(id) | Route::AgentHealthServiceId(id) => match service_name(id) {
            Some(name) => req.require(Resource::Service, &name, Need::Read),
            None => Ok(()),
        },
        Route::AgentServiceDeregister(id) | Route::AgentServiceMaintenance(id) => {
            match service_name(id) {
                Some(name) => req.require(Resource::Service, &name, Need::Write),
                None => Ok(()),
            }
        }
        Route::AgentCheckDeregister(id)
        | Route::AgentCheckPass(id)
        | Route::AgentCheckWarn(id)
        | Route::AgentCheckFail(id)
        | Route::AgentCheckUpdate(id) => match check_def(id) {
            Some(def) => check_access(rt, &def, req, Need::Write),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}
