//! `/v1/catalog/*` and `/v1/health/*`.

use crate::acl::{Need, Resource};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::body_cache::{self, BodyCache};
use super::catalog_json::{
    CheckJson, NodeJson, NodeServiceJson, NodeWithServices, ServiceEntryJson, ServiceNodeJson,
};
use super::coordinate_api::sort_near;
use super::decode::{self, tagged_addresses, Field};
use super::filter::{self, Filter};
use super::query::{read_options, Consistency, ReadOptions};
use super::response::Reply;
use super::ApiRequest;
use crate::catalog::{
    CatalogCommand, Check, CheckDef, Node, NodeDef, RegisterRequest, Service, ServiceDef,
    ServiceInstance, CRITICAL, PASSING, WARNING,
};
use crate::config::AgentConfig;
use crate::error::ApiError;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::{Busy, Indexed};
use crate::state::Command;
use crate::state::WriteOutcome;

const REGISTER_FIELDS: &[Field] = &[
    ("Datacenter", &[]),
    ("ID", &[]),
    ("Node", &[]),
    ("Address", &[]),
    ("TaggedAddresses", &[]),
    ("NodeMeta", &[]),
    ("Service", &[]),
    ("Check", &[]),
    ("Checks", &[]),
    ("SkipNodeUpdate", &[]),
    ("Locality", &[]),
    ("Token", &[]),
    ("PeerName", &[]),
    ("CreateIndex", &[]),
    ("ModifyIndex", &[]),
];
const SERVICE_FIELDS: &[Field] = &[
    ("Kind", &[]),
    ("ID", &[]),
    ("Service", &[]),
    ("Tags", &[]),
    ("Address", &[]),
    ("TaggedAddresses", &["tagged_addresses"]),
    ("Meta", &[]),
    ("Port", &[]),
    ("SocketPath", &[]),
    ("Weights", &[]),
    ("EnableTagOverride", &["enable_tag_override"]),
    ("Proxy", &[]),
    ("Connect", &[]),
    ("PeerName", &[]),
    ("Locality", &[]),
    ("CreateIndex", &[]),
    ("ModifyIndex", &[]),
];
const CHECK_FIELDS: &[Field] = &[
    ("Node", &[]),
    ("CheckID", &[]),
    ("Name", &[]),
    ("Status", &[]),
    ("Notes", &[]),
    ("Output", &[]),
    ("ServiceID", &[]),
    ("ServiceName", &[]),
    ("ServiceTags", &[]),
    ("Type", &[]),
    ("Definition", &[]),
    ("Interval", &[]),
    ("Timeout", &[]),
    ("ExposedPort", &[]),
    ("CreateIndex", &[]),
    ("ModifyIndex", &[]),
    ("PeerName", &[]),
];
const DEREGISTER_FIELDS: &[Field] = &[
    ("Datacenter", &[]),
    ("Node", &[]),
    ("ServiceID", &[]),
    ("CheckID", &[]),
    ("Token", &[]),
    ("Address", &[]),
];

fn decode_failed(e: String) -> Reply {
    Reply::text(400, format!("Request decode failed: {e}"))
}

fn parse_body(req: &ApiRequest) -> Result<Value, Reply> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&req.body).map_err(|e| decode_failed(e.to_string()))
}

/// Parses a service object as Consul's `NodeService` (used by catalog register).
pub fn parse_service(v: Value) -> Result<ServiceDef, String> {
    let f = decode::fields(v, SERVICE_FIELDS)?;
    let name = f.string("Service")?;
    let mut id = f.string("ID")?;
    if id.is_empty() {
        id = name.clone();
    }
    let weights = match f.get("Weights") {
        Some(w) => {
            let w = decode::fields(w.clone(), &[("Passing", &[]), ("Warning", &[])])?;
            (w.uint("Passing")? as u32, w.uint("Warning")? as u32)
        }
        None => (1, 1),
    };
    Ok(ServiceDef {
        id,
        name,
        tags: f.strings("Tags")?,
        address: f.string("Address")?,
        tagged_addresses: tagged_addresses(&f)?,
        meta: f.string_map("Meta")?,
        port: f.uint("Port")? as u32,
        weight_passing: weights.0,
        weight_warning: weights.1,
        enable_tag_override: f.boolean("EnableTagOverride")?,
    })
}

fn parse_check(v: Value) -> Result<(String, CheckDef), String> {
    let f = decode::fields(v, CHECK_FIELDS)?;
    let name = f.string("Name")?;
    let mut id = f.string("CheckID")?;
    if id.is_empty() {
        id = name.clone();
    }
    let mut status = f.string("Status")?;
    if status.is_empty() {
        status = CRITICAL.into();
    }
    let def = CheckDef {
        id,
        name,
        status,
        notes: f.string("Notes")?,
        output: f.string("Output")?,
        service_id: f.string("ServiceID")?,
        check_type: f.string("Type")?,
        interval: f.string("Interval").unwrap_or_default(),
        timeout: f.string("Timeout").unwrap_or_default(),
    };
    Ok((f.string("Node")?, def))
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `PUT /v1/catalog/register`.
pub async fn register(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let body = match parse_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let parsed = (|| -> Result<(RegisterRequest, Vec<String>), String> {
        let mut f = decode::fields(body, REGISTER_FIELDS)?;
        let node = NodeDef {
            id: f.string("ID")?,
            name: f.string("Node")?,
            address: f.string("Address")?,
            datacenter: config.datacenter.clone(),
            tagged_addresses: f.string_map("TaggedAddresses")?,
            meta: f.string_map("NodeMeta")?,
        };
        let service = f.take("Service").map(parse_service).transpose()?;
        let mut checks = Vec::new();
        let mut check_nodes = Vec::new();
        if let Some(c) = f.take("Check") {
            let (n, def) = parse_check(c)?;
            check_nodes.push(n);
            checks.push(def);
        }
        if let Some(Value::Array(list)) = f.take("Checks") {
            for c in list {
                let (n, def) = parse_check(c)?;
                check_nodes.push(n);
                checks.push(def);
            }
        }
        let skip = f.boolean("SkipNodeUpdate")?;
        Ok((
            RegisterRequest {
                node,
                skip_node_update: skip,
                service,
                checks,
            },
            check_nodes,
        ))
    })();
    let (reg, check_nodes) = match parsed {
        Ok(p) => p,
        Err(e) => return decode_failed(e),
    };
    if let Err(e) = validate_register(ctx, &reg, &check_nodes).await {
        return Reply::error(&e);
    }
    if let Err(e) = register_allowed(ctx, &reg, req).await {
        return Reply::error(&e);
    }
    write_bool(
        ctx,
        Command::Catalog(CatalogCommand::Register(Box::new(reg))),
        req,
    )
    .await
}

/// Consul's `vetRegisterWithACL`: `node:write` to write the node (unless `SkipNodeUpdate`)
/// or a node-level check; `service:write` on the service registered, on the service whose ID
/// it replaces, and on the service of each service check in the request.
async fn register_allowed(
    ctx: &ShardCtx,
    reg: &RegisterRequest,
    req: &ApiRequest,
) -> Result<(), ApiError> {
    if req.identity.is_none() {
        return Ok(());
    }
    let node_checks = reg.checks.iter().any(|c| c.service_id.is_empty());
    if !reg.skip_node_update || node_checks || reg.service.is_none() {
        req.require(Resource::Node, &reg.node.name, Need::Write)?;
    }
    let existing = ctx
        .node_view(&reg.node.name)
        .await
        .map(|v| v.services)
        .unwrap_or_default();
    let name_of = |id: &str| -> Option<String> {
        match &reg.service {
            Some(s) if s.id.eq_ignore_ascii_case(id) => Some(s.name.clone()),
            _ => existing
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .map(|s| s.name.clone()),
        }
    };
    if let Some(s) = &reg.service {
        req.require(Resource::Service, &s.name, Need::Write)?;
        if let Some(old) = existing.iter().find(|e| e.id.eq_ignore_ascii_case(&s.id)) {
            req.require(Resource::Service, &old.name, Need::Write)?;
        }
    }
    for check in reg.checks.iter().filter(|c| !c.service_id.is_empty()) {
        let name = name_of(&check.service_id).unwrap_or_else(|| check.service_id.clone());
        req.require(Resource::Service, &name, Need::Write)?;
    }
    Ok(())
}

async fn validate_register(
    ctx: &ShardCtx,
    reg: &RegisterRequest,
    check_nodes: &[String],
) -> Result<(), ApiError> {
    if reg.node.name.is_empty() {
        return Err(ApiError::Internal("Must provide node".into()));
    }
    if reg.node.address.is_empty() && !reg.skip_node_update {
        return Err(ApiError::Internal(
            "Must provide address if SkipNodeUpdate is not set".into(),
        ));
    }
    if !reg.node.id.is_empty() && !is_uuid(&reg.node.id) {
        return Err(ApiError::Internal(format!(
            "Bad node ID: uuid string is wrong length: {:?}",
            reg.node.id
        )));
    }
    if let Some(s) = &reg.service {
        if s.name.is_empty() {
            return Err(ApiError::Internal(
                "Must provide service name (Service.Service) when service ID is provided".into(),
            ));
        }
        if s.address == "0.0.0.0" || s.address == "::" || s.address == "[::]" {
            return Err(ApiError::Internal("Invalid service address".into()));
        }
    }
    for (check, node) in reg.checks.iter().zip(check_nodes) {
        if !node.is_empty() && !node.eq_ignore_ascii_case(&reg.node.name) {
            return Err(ApiError::Internal(format!(
                "Node '{node}' for check '{}' doesn't match register request node '{}'",
                check.id, reg.node.name
            )));
        }
        if check.service_id.is_empty() {
            continue;
        }
        let in_request = reg
            .service
            .as_ref()
            .is_some_and(|s| s.id.eq_ignore_ascii_case(&check.service_id));
        if !in_request
            && !ctx
                .service_exists(&reg.node.name, &check.service_id)
                .await
                .map_err(ApiError::from)?
        {
            return Err(ApiError::Internal(format!(
                "Unknown service ID '{}' for check ID '{}'",
                check.service_id, check.id
            )));
        }
    }
    Ok(())
}

/// `PUT /v1/catalog/deregister`.
pub async fn deregister(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let body = match parse_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let f = match decode::fields(body, DEREGISTER_FIELDS) {
        Ok(f) => f,
        Err(e) => return decode_failed(e),
    };
    let (node, service_id, check_id) =
        match (f.string("Node"), f.string("ServiceID"), f.string("CheckID")) {
            (Ok(n), Ok(s), Ok(c)) => (n, s, c),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return decode_failed(e),
        };
    if node.is_empty() {
        return Reply::text(500, "Must provide node");
    }
    // Consul: `node:write` (a service's own `service:write` also suffices there; not yet).
    if let Err(e) = req.require(Resource::Node, &node, Need::Write) {
        return Reply::error(&e);
    }
    let cmd = CatalogCommand::Deregister {
        node,
        service_id: (!service_id.is_empty()).then_some(service_id),
        check_id: (!check_id.is_empty()).then_some(check_id),
    };
    write_bool(ctx, Command::Catalog(cmd), req).await
}

async fn write_bool(ctx: &ShardCtx, cmd: Command, req: &ApiRequest) -> Reply {
    match ctx.write(cmd).await {
        WriteOutcome::Bool(ok) => Reply::json(&ok, req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("catalog writes answer with a bool"),
    }
}

/// Read options plus the checks every catalog/health read shares: a bad `filter` is a 500
/// with the evaluator's text, as in Consul.
fn catalog_read_options(req: &ApiRequest) -> Result<ReadOptions, Reply> {
    request_filter(req).map_err(|e| Reply::text(500, e))?;
    read_options(&req.query, req.jitter).map_err(|t| Reply::text(400, t))
}

/// The request's `?filter=`, if any.
pub fn request_filter(req: &ApiRequest) -> Result<Option<Filter>, String> {
    match req.query.get("filter") {
        Some(f) if !f.is_empty() => filter::parse(f).map(Some),
        _ => Ok(None),
    }
}

/// Applies the request's filter (already validated) to the items about to be returned.
pub fn filtered<T: serde::Serialize>(req: &ApiRequest, items: Vec<T>) -> Vec<T> {
    match request_filter(req) {
        Ok(Some(f)) => f.keep(items),
        _ => items,
    }
}

fn with_meta(ctx: &ShardCtx, reply: Reply, index: u64, opts: &ReadOptions) -> Reply {
    let consistency = match opts.consistency {
        Consistency::Default => "leader",
        Consistency::Stale => "stale",
        Consistency::Consistent => "consistent",
    };
    reply
        .with_query_meta(index, ctx.mesh.status.known_leader(), 0)
        .with("X-Consul-Effective-Consistency", consistency)
}

fn busy(busy: Busy) -> Reply {
    Reply::error(&busy.into())
}

/// Repeated `?tag=` values.
fn tags(req: &ApiRequest) -> Vec<String> {
    req.query
        .all("tag")
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// `node-meta=k:v` filters (all must match).
fn node_meta_filters(req: &ApiRequest) -> Vec<(String, String)> {
    req.query
        .all("node-meta")
        .into_iter()
        .map(|kv| match kv.split_once(':') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

fn meta_matches(meta: &[(String, String)], filters: &[(String, String)]) -> bool {
    filters
        .iter()
        .all(|(k, v)| meta.iter().any(|(mk, mv)| mk == k && mv == v))
}

/// Runs a blocking read and renders it with the common headers.
pub(super) async fn blocking<T, F, Fut>(
    ctx: &ShardCtx,
    req: &ApiRequest,
    read: F,
    render: impl FnOnce(&T) -> Reply,
) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Indexed<T>, Busy>>,
{
    let opts = match catalog_read_options(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    match ctx.block_on(opts.min_index, opts.wait, read).await {
        Ok(r) => with_meta(ctx, render(&r.value), r.index, &opts),
        Err(b) => busy(b),
    }
}

thread_local! {
    /// This shard's rendered answers of the hot reads (`cached_blocking`).
    static BODIES: std::cell::RefCell<BodyCache> = std::cell::RefCell::new(BodyCache::default());
}

/// What a catalog read would be computed under now (see `body_cache`); `None` while any shard
/// has not applied a write that may already have been acknowledged, when nothing is served
/// from the cache or kept in it.
fn body_stamp(ctx: &ShardCtx) -> Option<body_cache::Stamp> {
    use std::sync::atomic::Ordering;
    // The indexes first, then the lag check: an entry for every shard is marked sent on all
    // of them before any applies it, so if one shard's index already shows it, a shard that
    // has not applied it yet fails the check below.
    let catalog = ctx
        .mesh
        .catalog_indexes
        .iter()
        .map(|i| i.load(Ordering::Acquire))
        .max()
        .unwrap_or(0);
    if !ctx.mesh.shards.iter().all(|s| s.caught_up_on_every()) {
        return None;
    }
    let acl = ctx.state.borrow().acl.index();
    Some(body_cache::Stamp { catalog, acl })
}

/// A read's answer: rendered now, or taken from this shard's cache.
enum Answer<T> {
    Read(T, Option<body_cache::Stamp>),
    Cached(Reply),
}

/// `blocking` for the hot reads (`health/service`, `catalog/service`, `catalog/services`),
/// through this shard's rendered answers: a read of an unchanged catalog, and every blocking
/// reader after the first woken by one change, gets the answer already rendered.
pub(super) async fn cached_blocking<T, F, Fut>(
    ctx: &ShardCtx,
    req: &ApiRequest,
    mut read: F,
    render: impl FnOnce(&T) -> Reply,
) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Indexed<T>, Busy>>,
{
    let who = req.identity.as_ref().map_or("", |i| i.accessor_id.as_str());
    let Some(key) = body_cache::key(&req.path, &req.query, req.style, who) else {
        return blocking(ctx, req, read, render).await;
    };
    let opts = match catalog_read_options(req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    // The request's token was resolved against the ACL table as it stands now; once the
    // table moves (a blocking read may wait minutes), its answers render the old rights, so
    // they are neither served from nor kept under the new table's stamps.
    let acl_resolved_at = ctx.state.borrow().acl.index();
    let read_or_hit = || {
        // The stamp is taken before the read: a read that sees later writes is then kept
        // under an older stamp and never served, never the other way round.
        let stamp = body_stamp(ctx).filter(|s| s.acl == acl_resolved_at);
        let hit = stamp.and_then(|s| BODIES.with_borrow(|cache| cache.get(&key, s)));
        let hit_or_read = hit.ok_or_else(&mut read);
        async move {
            match hit_or_read {
                Ok((index, reply)) => Ok(Indexed {
                    index,
                    value: Answer::Cached(reply),
                }),
                Err(fresh) => fresh.await.map(|r| Indexed {
                    index: r.index,
                    value: Answer::Read(r.value, stamp),
                }),
            }
        }
    };
    let got = match ctx.block_on(opts.min_index, opts.wait, read_or_hit).await {
        Ok(got) => got,
        Err(b) => return busy(b),
    };
    let reply = match got.value {
        Answer::Cached(reply) => {
            // Tribune's own metric (`consul.api.http.cache_hit`): Consul has no such cache.
            crate::node::telemetry::incr(crate::metrics::Key::plain("api.http.cache_hit"), 1.0);
            reply
        }
        Answer::Read(value, stamp) => {
            let reply = render(&value);
            if let Some(stamp) = stamp {
                BODIES.with_borrow_mut(|cache| cache.put(key, stamp, got.index, &reply));
            }
            reply
        }
    };
    with_meta(ctx, reply, got.index, &opts)
}

/// `GET /v1/catalog/datacenters`: ours first, then the WAN pool's by measured round-trip
/// time (`cluster::sort_by_rtt`).
pub fn datacenters(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    Reply::json(&ctx.mesh.cluster.datacenters(&config.datacenter), req.style)
}

/// `GET /v1/catalog/nodes`.
pub async fn nodes(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let filters = node_meta_filters(req);
    blocking(
        ctx,
        req,
        || async { Ok(ctx.catalog_nodes()) },
        |nodes| {
            let readable = |n: &&Node| req.allows(Resource::Node, &n.def.name, Need::Read);
            let acl_filtered = !nodes.iter().all(|n| readable(&n));
            let mut nodes: Vec<&Node> = nodes
                .iter()
                .filter(readable)
                .filter(|n| meta_matches(&n.def.meta, &filters))
                .collect();
            sort_near(ctx, req, &mut nodes, |n| &n.def.name);
            let out: Vec<NodeJson> = nodes.into_iter().map(NodeJson::new).collect();
            super::acl_filtered(Reply::json(&filtered(req, out), req.style), acl_filtered)
        },
    )
    .await
}

/// `GET /v1/catalog/services`. With `?filter=`, as Consul: the expression is evaluated on
/// every instance (the `catalog/service` entry shape), and a service is listed with the tags
/// of its instances that match.
pub async fn services(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let filter = match request_filter(req) {
        Ok(f) => f,
        Err(e) => return Reply::text(500, e),
    };
    let filter = &filter;
    cached_blocking(
        ctx,
        req,
        || async move {
            let tags = ctx.service_tags().await?;
            let Some(f) = filter else {
                return Ok(tags);
            };
            let mut matched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for name in tags.value.keys() {
                let instances = ctx.service_instances(name, &[]).await?;
                for i in instances
                    .value
                    .iter()
                    .filter(|i| f.passes(&ServiceNodeJson::new(i)))
                {
                    let entry = matched.entry(name.clone()).or_default();
                    entry.extend(i.service.def.tags.iter().cloned());
                }
            }
            Ok(Indexed {
                value: matched,
                index: tags.index,
            })
        },
        |tags| {
            let out: BTreeMap<&str, Vec<&str>> = tags
                .iter()
                .filter(|(name, _)| req.allows(Resource::Service, name, Need::Read))
                .map(|(name, t)| (name.as_str(), t.iter().map(String::as_str).collect()))
                .collect();
            super::acl_filtered(Reply::json(&out, req.style), out.len() != tags.len())
        },
    )
    .await
}

/// `GET /v1/catalog/service/<name>`.
pub async fn service(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing service name");
    }
    let (tags, filters) = (tags(req), node_meta_filters(req));
    cached_blocking(
        ctx,
        req,
        || ctx.service_instances(name, &tags),
        |instances| {
            // `?peer=`: instances imported from a cluster peer. This agent has no peerings,
            // so a peer name finds none (Consul CE answers the same for an unknown peer).
            let instances: &[ServiceInstance] = match peer_named(req) {
                true => &[],
                false => instances,
            };
            // Consul also needs `node:read` on each instance's node.
            let node_ok =
                |i: &&ServiceInstance| req.allows(Resource::Node, &i.node.def.name, Need::Read);
            let acl_filtered = !instances.iter().all(|i| node_ok(&i));
            let mut instances: Vec<&ServiceInstance> = instances
                .iter()
                .filter(node_ok)
                .filter(|i| meta_matches(&i.node.def.meta, &filters))
                .collect();
            sort_near(ctx, req, &mut instances, |i| &i.node.def.name);
            let out: Vec<ServiceNodeJson> =
                instances.into_iter().map(ServiceNodeJson::new).collect();
            super::acl_filtered(Reply::json(&filtered(req, out), req.style), acl_filtered)
        },
    )
    .await
}

/// `GET /v1/catalog/node/<node>`: `null` for an unknown node.
pub async fn node(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing node name");
    }
    blocking(
        ctx,
        req,
        || ctx.catalog_node(name),
        |found| match found {
            None => Reply::json(&Value::Null, req.style),
            Some((node, services)) => {
                // The filter applies to the Services map's values.
                let filter = request_filter(req).ok().flatten();
                let passes = |j: &NodeServiceJson| filter.as_ref().is_none_or(|f| f.passes(j));
                // A node's services need `service:read` each.
                let readable =
                    |s: &&Service| req.allows(Resource::Service, &s.def.name, Need::Read);
                let acl_filtered = !services.iter().all(|s| readable(&s));
                let map: BTreeMap<&str, NodeServiceJson> = services
                    .iter()
                    .filter(readable)
                    .map(|s| (s.def.id.as_str(), NodeServiceJson::new(s)))
                    .filter(|(_, j)| passes(j))
                    .collect();
                let reply = Reply::json(
                    &NodeWithServices {
                        node: Some(NodeJson::new(node)),
                        services: Some(map),
                    },
                    req.style,
                );
                super::acl_filtered(reply, acl_filtered)
            }
        },
    )
    .await
}

/// `GET /v1/catalog/node-services/<node>`.
pub async fn node_services(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing node name");
    }
    blocking(
        ctx,
        req,
        || ctx.catalog_node(name),
        |found| match found {
            None => Reply::json(
                &NodeWithServices::<Vec<NodeServiceJson>> {
                    node: None,
                    services: None,
                },
                req.style,
            ),
            Some((node, services)) => {
                let readable =
                    |s: &&Service| req.allows(Resource::Service, &s.def.name, Need::Read);
                let acl_filtered = !services.iter().all(|s| readable(&s));
                let list: Vec<NodeServiceJson> = filtered(
                    req,
                    services
                        .iter()
                        .filter(readable)
                        .map(NodeServiceJson::new)
                        .collect(),
                );
                let reply = Reply::json(
                    &NodeWithServices {
                        node: Some(NodeJson::new(node)),
                        services: Some(list),
                    },
                    req.style,
                );
                super::acl_filtered(reply, acl_filtered)
            }
        },
    )
    .await
}

/// A list of checks, sorted by `?near=` when given.
fn checks_reply(ctx: &ShardCtx, checks: &[Check], req: &ApiRequest) -> Reply {
    let mut checks: Vec<&Check> = checks.iter().collect();
    let before = checks.len();
    // Consul's filter: a check needs `node:read` on its node, and `service:read` on its
    // service when it has one.
    checks.retain(|c| {
        req.allows(Resource::Node, &c.node, Need::Read)
            && (c.service_name.is_empty()
                || req.allows(Resource::Service, &c.service_name, Need::Read))
    });
    let acl_filtered = checks.len() != before;
    sort_near(ctx, req, &mut checks, |c| &c.node);
    let out: Vec<CheckJson> = checks.into_iter().map(CheckJson::new).collect();
    super::acl_filtered(Reply::json(&filtered(req, out), req.style), acl_filtered)
}

/// `GET /v1/health/node/<node>`.
pub async fn health_node(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing node name");
    }
    blocking(
        ctx,
        req,
        || ctx.node_checks(name),
        |c| checks_reply(ctx, c, req),
    )
    .await
}

/// `GET /v1/health/checks/<service>`.
pub async fn health_checks(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing service name");
    }
    blocking(
        ctx,
        req,
        || ctx.service_checks(name),
        |c| checks_reply(ctx, c, req),
    )
    .await
}

/// `GET /v1/health/state/<state>`: never validates the state; `any` means all.
pub async fn health_state(ctx: &ShardCtx, state: &str, req: &ApiRequest) -> Reply {
    if state.is_empty() {
        return Reply::text(400, "Missing check state");
    }
    blocking(
        ctx,
        req,
        || ctx.checks_in_state(state),
        |c| checks_reply(ctx, c, req),
    )
    .await
}

/// Whether the request names a cluster peer (`?peer=`, non-empty).
fn peer_named(req: &ApiRequest) -> bool {
    req.query.get("peer").is_some_and(|p| !p.is_empty())
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `GET /v1/health/service/<service>` (`passing` drops entries with any non-passing check).
pub async fn health_service(ctx: &ShardCtx, name: &str, req: &ApiRequest) -> Reply {
    if name.is_empty() {
        return Reply::text(400, "Missing service name");
    }
    let passing = match req.query.get("passing") {
        None => false,
        Some("") => true,
        Some(v) => match parse_bool(v) {
            Some(b) => b,
            None => return Reply::text(400, "Invalid value for ?passing"),
        },
    };
    let (tags, filters) = (tags(req), node_meta_filters(req));
    cached_blocking(
        ctx,
        req,
        || ctx.service_instances(name, &tags),
        |instances| {
            // `?peer=`: instances imported from a cluster peer. This agent has no peerings,
            // so a peer name finds none (Consul CE answers the same for an unknown peer).
            let instances: &[ServiceInstance] = match peer_named(req) {
                true => &[],
                false => instances,
            };
            // Consul also needs `node:read` on each instance's node.
            let node_ok =
                |i: &&ServiceInstance| req.allows(Resource::Node, &i.node.def.name, Need::Read);
            let acl_filtered = !instances.iter().all(|i| node_ok(&i));
            let mut instances: Vec<&ServiceInstance> = instances
                .iter()
                .filter(node_ok)
                .filter(|i| meta_matches(&i.node.def.meta, &filters))
                .filter(|i| !passing || i.checks.iter().all(|c| c.def.status == PASSING))
                .collect();
            sort_near(ctx, req, &mut instances, |i| &i.node.def.name);
            let out: Vec<ServiceEntryJson> =
                instances.into_iter().map(ServiceEntryJson::new).collect();
            super::acl_filtered(Reply::json(&filtered(req, out), req.style), acl_filtered)
        },
    )
    .await
}

/// Statuses a check may be set to.
pub fn valid_status(s: &str) -> bool {
    s == PASSING || s == WARNING || s == CRITICAL
}
