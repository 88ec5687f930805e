//! `/v1/query`: prepared queries written through the log and read from the local replica;
//! `execute` runs one against the catalog (health, tags, metadata, `Near`, `limit`) and fails
//! over to other datacenters (`NearestN` by measured round-trip time, then `Datacenters`)
//! through their servers' `health/service`; `explain` shows the rendered definition. ACLs:
//! `query` rules on the query's name.

use bytes::Bytes;
use rand::seq::SliceRandom;
use serde_json::{json, Value};

use super::catalog_api::blocking;
use super::response::Reply;
use super::ApiRequest;
use std::sync::Arc;

use crate::acl::{Identity, Need, Resource};
use crate::config::AgentConfig;
use crate::error::ApiError;
use crate::http::catalog_json::ServiceEntryJson;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Indexed;
use crate::prepared_query::{self, PreparedQuery, QueryOp};
use crate::state::{Command, WriteOutcome};

fn not_found() -> Reply {
    Reply::text(404, "Query not found")
}

/// The stored definition with its ID and indexes, as Consul shows it.
fn definition_json(q: &PreparedQuery) -> Value {
    let mut v: Value = serde_json::from_str(&q.definition).unwrap_or(Value::Null);
    v["ID"] = Value::String(q.id.clone());
    v["CreateIndex"] = Value::from(q.create_index);
    v["ModifyIndex"] = Value::from(q.modify_index);
    v
}

/// The stored `Token` shown as `<hidden>` to a token without `acl:write` (Consul's
/// `redactPreparedQueryTokens`).
fn redacted(req: &ApiRequest, mut definition: Value) -> Value {
    let has_token = definition["Token"].as_str().is_some_and(|t| !t.is_empty());
    if has_token && !req.allows(Resource::Acl, "", Need::Write) {
        definition["Token"] = Value::String("<hidden>".into());
    }
    definition
}

fn record(id: &str, definition: &Value) -> PreparedQuery {
    PreparedQuery {
        id: id.to_string(),
        name: definition["Name"].as_str().unwrap_or("").to_string(),
        template: definition["Template"]["Type"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        definition: definition.to_string(),
        create_index: 0,
        modify_index: 0,
    }
}

/// Another query's name equal to `name` in any case (names resolve case-insensitively), as
/// the local replica knows them.
fn conflicting(ctx: &ShardCtx, name: &str, id: &str) -> Option<String> {
    ctx.catch_up();
    ctx.state.borrow().queries.conflicting_name(name, id)
}

async fn write(ctx: &ShardCtx, op: QueryOp) -> Result<(), Reply> {
    match ctx.write(Command::PreparedQuery(Box::new(op))).await {
        WriteOutcome::Bool(_) => Ok(()),
        WriteOutcome::Failed(e) => Err(Reply::error(&e)),
        WriteOutcome::Txn { .. } => unreachable!("a query write answers a bool"),
    }
}

/// `GET /v1/query` (the queries the token may read) and `POST /v1/query` (create).
pub async fn collection(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    if req.method == "POST" {
        let definition = match prepared_query::prepare(&req.body, "") {
            Ok(d) => d,
            Err(text) => return Reply::text(500, text),
        };
        let name = definition["Name"].as_str().unwrap_or("");
        if let Err(e) = req.require(Resource::Query, name, Need::Write) {
            return Reply::error(&e);
        }
        let id = crate::io::host::random_uuid();
        if let Some(text) = conflicting(ctx, name, &id) {
            return Reply::text(500, text);
        }
        let mut definition = definition;
        definition["ID"] = Value::String(id.clone());
        return match write(ctx, QueryOp::Create(record(&id, &definition))).await {
            Ok(()) => Reply::json(&json!({ "ID": id }), req.style),
            Err(reply) => reply,
        };
    }
    let read = || async {
        ctx.catch_up();
        let state = ctx.state.borrow();
        Ok(Indexed {
            value: state
                .queries
                .list()
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
            index: state.queries.index(),
        })
    };
    blocking(ctx, req, read, |queries: &Vec<PreparedQuery>| {
        let readable: Vec<Value> = queries
            .iter()
            .filter(|q| req.allows(Resource::Query, &q.name, Need::Read))
            .map(|q| redacted(req, definition_json(q)))
            .collect();
        let filtered = readable.len() != queries.len();
        super::acl_filtered(Reply::json(&readable, req.style), filtered)
    })
    .await
}

/// `GET|PUT|DELETE /v1/query/<id>`.
pub async fn one(ctx: &ShardCtx, id: &str, req: &ApiRequest) -> Reply {
    ctx.catch_up();
    let existing = ctx.state.borrow().queries.get(id).cloned();
    match req.method.as_str() {
        "PUT" => {
            let definition = match prepared_query::prepare(&req.body, id) {
                Ok(d) => d,
                Err(text) => return Reply::text(500, text),
            };
            for name in [definition["Name"].as_str().unwrap_or("")]
                .into_iter()
                .chain(existing.as_ref().map(|q| q.name.as_str()))
            {
                if let Err(e) = req.require(Resource::Query, name, Need::Write) {
                    return Reply::error(&e);
                }
            }
            if let Some(text) = conflicting(ctx, definition["Name"].as_str().unwrap_or(""), id) {
                return Reply::text(500, text);
            }
            match write(ctx, QueryOp::Update(record(id, &definition))).await {
                Ok(()) => Reply::empty(200),
                Err(reply) => reply,
            }
        }
        "DELETE" => {
            if let Some(q) = &existing {
                if let Err(e) = req.require(Resource::Query, &q.name, Need::Write) {
                    return Reply::error(&e);
                }
            }
            match write(ctx, QueryOp::Delete { id: id.to_string() }).await {
                Ok(()) => Reply::empty(200),
                Err(reply) => reply,
            }
        }
        _ => {
            let read = || async {
                ctx.catch_up();
                let state = ctx.state.borrow();
                Ok(Indexed {
                    value: state.queries.get(id).cloned(),
                    index: state.queries.index(),
                })
            };
            blocking(
                ctx,
                req,
                read,
                |found: &Option<PreparedQuery>| match found {
                    None => not_found(),
                    Some(q) => match req.require(Resource::Query, &q.name, Need::Read) {
                        Ok(()) => {
                            Reply::json(&json!([redacted(req, definition_json(q))]), req.style)
                        }
                        Err(e) => Reply::error(&e),
                    },
                },
            )
            .await
        }
    }
}

/// The query `id_or_name` names, rendered for that name when it is a template.
pub fn resolve(ctx: &ShardCtx, id_or_name: &str) -> Option<(PreparedQuery, Value)> {
    ctx.catch_up();
    let state = ctx.state.borrow();
    let q = state.queries.resolve(id_or_name)?.clone();
    let mut definition = definition_json(&q);
    if !q.template.is_empty() {
        definition = prepared_query::render(&definition, &q.name, id_or_name);
    }
    Some((q, definition))
}

fn query_meta(ctx: &ShardCtx, mut body: Value, index: u64) -> Value {
    let known_leader = ctx.mesh.status.known_leader();
    for (k, v) in [
        ("Index", json!(index)),
        ("LastContact", json!(0)),
        ("KnownLeader", json!(known_leader)),
        ("ConsistencyLevel", json!("leader")),
        ("NotModified", json!(false)),
        ("Backend", json!(0)),
        ("ResultsFilteredByACLs", json!(false)),
    ] {
        body[k] = v;
    }
    body
}

/// `GET /v1/query/<id or name>/explain`.
pub fn explain(ctx: &ShardCtx, id_or_name: &str, req: &ApiRequest) -> Reply {
    let Some((q, definition)) = resolve(ctx, id_or_name) else {
        return not_found();
    };
    if let Err(e) = req.require(Resource::Query, &q.name, Need::Read) {
        return Reply::error(&e);
    }
    let index = ctx.state.borrow().queries.index();
    Reply::json(
        &query_meta(ctx, json!({ "Query": redacted(req, definition) }), index),
        req.style,
    )
}

/// Tags as a query names them: each plain one required, each `!tag` refused (any case).
fn tags_match(wanted: &[String], tags: &[String]) -> bool {
    wanted.iter().all(|w| match w.strip_prefix('!') {
        Some(not) => !tags.iter().any(|t| t.eq_ignore_ascii_case(not)),
        None => tags.iter().any(|t| t.eq_ignore_ascii_case(w)),
    })
}

/// An entry (a `health/service` JSON object) the query keeps: no critical check (a warning
/// one too with `OnlyPassing`), checks in `IgnoreCheckIDs` aside; the tags and metadata asked.
pub fn keep(entry: &Value, service: &Value) -> bool {
    let strings = prepared_query::string_list;
    let ignored = strings(&service["IgnoreCheckIDs"]);
    let only_passing = service["OnlyPassing"].as_bool() == Some(true);
    let healthy = entry["Checks"].as_array().into_iter().flatten().all(|c| {
        let id = c["CheckID"].as_str().unwrap_or("");
        match c["Status"].as_str().unwrap_or("") {
            _ if ignored.iter().any(|i| i == id) => true,
            "critical" => false,
            "warning" => !only_passing,
            _ => true,
        }
    });
    let meta_ok = |wanted: &Value, have: &Value| {
        wanted
            .as_object()
            .into_iter()
            .flatten()
            .all(|(k, v)| have.get(k) == Some(v))
    };
    healthy
        && tags_match(
            &strings(&service["Tags"]),
            &strings(&entry["Service"]["Tags"]),
        )
        && meta_ok(&service["NodeMeta"], &entry["Node"]["Meta"])
        && meta_ok(&service["ServiceMeta"], &entry["Service"]["Meta"])
}

/// The same service in another datacenter, through one of its servers, read with `secret`.
async fn remote_entries(
    ctx: &ShardCtx,
    config: &AgentConfig,
    dc: &str,
    service: &str,
    run_as: &RunAs,
) -> Vec<Value> {
    let Some(addr) = ctx.mesh.cluster.server_in(dc) else {
        return Vec::new();
    };
    let headers = match &run_as.secret {
        Some(secret) => vec![("x-consul-token".to_string(), secret.clone())],
        None => Vec::new(),
    };
    let remote = ApiRequest {
        method: "GET".into(),
        path: format!("/v1/health/service/{service}"),
        query: crate::http::query::Query::parse(&format!("dc={dc}")),
        body: Bytes::new(),
        style: Default::default(),
        jitter: 0.0,
        hops: run_as.hops.saturating_add(1),
        headers,
        identity: None,
    };
    let reply = crate::node::rpc_client::forward_http(config, addr, &remote).await;
    if reply.status != 200 {
        return Vec::new();
    }
    serde_json::from_slice(&reply.body).unwrap_or_default()
}

/// Who a query runs as (Consul's `Execute`): the query's stored `Token` when it has one,
/// else the caller's. `identity` is `None` with ACLs off.
pub struct RunAs {
    pub identity: Option<Arc<Identity>>,
    /// The secret sent along when failing over to another datacenter (ACLs on).
    pub secret: Option<String>,
    /// How many agents forwarded the caller's request.
    pub hops: u8,
}

impl RunAs {
    /// The caller of an HTTP request, with ACLs on when it carries an identity.
    pub fn caller(ctx: &ShardCtx, req: &ApiRequest) -> RunAs {
        RunAs {
            identity: req.identity.clone(),
            secret: req
                .identity
                .is_some()
                .then(|| ctx.effective_token(req).into_owned()),
            hops: req.hops,
        }
    }

    fn allows(&self, resource: Resource, name: &str) -> bool {
        self.identity
            .as_ref()
            .is_none_or(|i| i.authorizer.allows(resource, name, Need::Read))
    }
}

/// A prepared query's answer, before it is shaped for HTTP or DNS.
pub struct Execution {
    /// The definition as run (a template rendered for the executed name).
    pub definition: Value,
    /// `health/service` entries kept, in answer order.
    pub nodes: Vec<Value>,
    pub datacenter: String,
    pub failovers: u64,
    pub index: u64,
    /// Some instances were dropped because the token may not read them.
    pub filtered: bool,
}

/// Runs the query `id_or_name` (Consul's `PreparedQuery.Execute`): its service's instances
/// here, health- tag- and metadata-filtered, readable by the token it runs as, shuffled and
/// sorted by `near`; none here fails over (`NearestN` datacenters by round-trip time, then
/// `Datacenters`), each through one of its servers. `Ok(None)`: no such query.
pub async fn run(
    ctx: &ShardCtx,
    config: &AgentConfig,
    id_or_name: &str,
    caller: RunAs,
    near: Option<&str>,
) -> Result<Option<Execution>, ApiError> {
    let Some((_, definition)) = resolve(ctx, id_or_name) else {
        return Ok(None);
    };
    let stored = definition["Token"].as_str().unwrap_or("");
    let run_as = match (&caller.identity, stored) {
        (Some(_), token) if !token.is_empty() => RunAs {
            identity: Some(ctx.resolve_token(config, token).await?),
            secret: Some(token.to_string()),
            hops: caller.hops,
        },
        _ => caller,
    };
    let service = &definition["Service"];
    let name = service["Service"].as_str().unwrap_or("").to_string();
    let instances = ctx
        .service_instances(&name, &[])
        .await
        .map_err(ApiError::from)?;
    // `near` wins over the definition's `Near`; `_agent` is this agent's node.
    let near = near
        .filter(|n| !n.is_empty())
        .or_else(|| service["Near"].as_str().filter(|n| !n.is_empty()))
        .map(|n| match n {
            "_agent" => config.node_name.clone(),
            other => other.to_string(),
        });
    let service_readable = run_as.allows(Resource::Service, &name);
    let mut filtered = !service_readable && !instances.value.is_empty();
    let mut entries: Vec<(String, Value)> = Vec::new();
    for i in instances.value.iter().filter(|_| service_readable) {
        if !run_as.allows(Resource::Node, &i.node.def.name) {
            filtered = true;
            continue;
        }
        let entry = serde_json::to_value(ServiceEntryJson::new(i)).unwrap_or(Value::Null);
        if keep(&entry, service) {
            entries.push((i.node.def.name.clone(), entry));
        }
    }
    // Shuffled, then nearest first when a source is named, as Consul orders them.
    entries.shuffle(&mut rand::thread_rng());
    if let Some(near) = near {
        super::coordinate_api::sort_near_to(ctx, &near, &mut entries, |(node, _)| node);
    }
    let mut nodes: Vec<Value> = entries.into_iter().map(|(_, e)| e).collect();
    let mut datacenter = config.datacenter.clone();
    let mut failovers = 0;
    if nodes.is_empty() {
        let failover = &service["Failover"];
        let nearest = failover["NearestN"].as_u64().unwrap_or(0) as usize;
        // `None` stands for a peer target: `Targets` only, in order with its datacenters.
        let mut targets: Vec<Option<String>> = ctx
            .mesh
            .cluster
            .datacenters(&config.datacenter)
            .into_iter()
            .filter(|dc| *dc != config.datacenter)
            .take(nearest)
            .map(Some)
            .collect();
        let listed = failover["Datacenters"].as_array().into_iter().flatten();
        let targets_listed = failover["Targets"].as_array().into_iter().flatten();
        for target in listed.chain(targets_listed) {
            if target["Peer"].as_str().is_some_and(|p| !p.is_empty()) {
                targets.push(None);
                continue;
            }
            let dc = target
                .as_str()
                .or_else(|| target["Datacenter"].as_str())
                .unwrap_or("")
                .to_string();
            if !dc.is_empty() && dc != config.datacenter && !targets.contains(&Some(dc.clone())) {
                targets.push(Some(dc));
            }
        }
        // Tried in order until one answers; each attempt counts, as in Consul. A peer target
        // finds nothing here (no cluster peering).
        for target in targets {
            failovers += 1;
            let Some(dc) = target else {
                continue;
            };
            let mut found: Vec<Value> = remote_entries(ctx, config, &dc, &name, &run_as)
                .await
                .into_iter()
                .filter(|e| keep(e, service))
                .collect();
            if !found.is_empty() {
                found.shuffle(&mut rand::thread_rng());
                nodes = found;
                datacenter = dc;
                break;
            }
        }
    }
    Ok(Some(Execution {
        definition,
        nodes,
        datacenter,
        failovers,
        index: instances.index,
        filtered,
    }))
}

/// `GET /v1/query/<id or name>/execute[?near=][&limit=]`. Executing needs no `query` rule
/// (Consul's): what the token it runs as may read is what it returns.
pub async fn execute(
    ctx: &ShardCtx,
    config: &AgentConfig,
    id_or_name: &str,
    req: &ApiRequest,
) -> Reply {
    let caller = RunAs::caller(ctx, req);
    let ran = run(ctx, config, id_or_name, caller, req.query.get("near")).await;
    let mut done = match ran {
        Ok(Some(done)) => done,
        Ok(None) => return not_found(),
        Err(e) => return Reply::error(&e),
    };
    if let Some(limit) = req.query.get("limit").and_then(|l| l.parse::<usize>().ok()) {
        done.nodes.truncate(limit);
    }
    let body = json!({
        "Service": done.definition["Service"]["Service"],
        "Nodes": done.nodes,
        "DNS": {"TTL": done.definition["DNS"]["TTL"]},
        "Datacenter": done.datacenter,
        "Failovers": done.failovers,
    });
    let mut body = query_meta(ctx, body, done.index);
    body["ResultsFilteredByACLs"] = json!(done.filtered);
    super::acl_filtered(Reply::json(&body, req.style), done.filtered)
}
