//! Consul's HTTP API: query parsing, the route table, JSON shapes and the handlers.
//!
//! `query`, `route` and `response` are pure. Handlers (`kv_api`, `txn_api`, `agent_api`)
//! are async functions of a shard context; the hyper glue lives in `shard::http_server`.

pub mod acl_api;
pub mod agent_api;
pub mod agent_local_api;
pub mod catalog_api;
pub mod config_api;
pub mod coordinate_api;
pub mod keyring_api;
pub mod kv_api;
pub mod operator_api;
pub mod ops_api;
pub mod query_api;
pub mod session_api;
pub mod snapshot_api;
pub mod txn_api;
pub mod ui;
pub mod ui_api;

// The pure parts (route table, queries, JSON shapes, decoding) live in `tribune-core`.
pub use tribune_core::http::{
    acl_json, agent_defs, body_cache, catalog_json, decode, filter, query, request, response,
    route, session_json,
};

#[cfg(test)]
mod tests;

use crate::config::AgentConfig;
use crate::node::ctx::ShardCtx;
use response::Reply;
use route::Route;

pub use request::{carried_headers, ApiRequest, CARRIED_HEADERS};

/// Largest body a route reads; anything above gets 413 before the body is read.
pub fn body_limit(route: &Route) -> usize {
    route.spec().body_limit
}

/// The 413 answer for a body over `body_limit`, in the route's own words.
pub fn too_large(route: &Route, bytes: u64) -> Reply {
    match route {
        Route::Txn => Reply::text(
            413,
            format!(
                "Request body({bytes} bytes) too large, max size: {} bytes. See \
             https://www.consul.io/docs/agent/config/config-files#txn_max_req_len.",
                crate::config::TXN_BODY_BYTES_MAX
            ),
        ),
        _ => Reply::text(413, kv_api::too_large_text(bytes)),
    }
}

/// Answers everything that needs no body and no shard: unknown paths, OPTIONS, 405.
/// `None` means the request goes on to `dispatch`.
pub fn preflight(route: &Route, method: &str) -> Option<Reply> {
    match route {
        Route::UnknownApi => {
            return Some(Reply::text(404, "Invalid URL path: not a recognized HTTP API endpoint\n"))
        }
        Route::NotApi => {
            return Some(Reply::text(
                404,
                "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n",
            ))
        }
        Route::Root => {
            return Some(Reply::text(
                200,
                "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent \
                 configuration and restart.",
            ))
        }
        _ => {}
    }
    if method == "OPTIONS" {
        return Some(Reply::empty(200).with("Allow", route.allow_header()));
    }
    if !route.methods().contains(&method) {
        return Some(
            Reply::text(405, format!("method {method} not allowed"))
                .with("Allow", route.allow_header()),
        );
    }
    None
}

/// Runs the handler for an API route (after `preflight` let it through).
pub async fn dispatch(
    ctx: &ShardCtx,
    config: &AgentConfig,
    route: &Route,
    mut req: ApiRequest,
) -> Reply {
    if config.disable_coordinates && route.is_coordinate() {
        return coordinate_api::disabled();
    }
    if req.query.get("near") == Some("_agent") {
        // Consul resolves `_agent` on the agent that received the request, before it is
        // forwarded: the sort is from this agent's node, not the answering server's.
        req.query = req.query.with_value("near", &config.node_name);
    }
    if matches!(route, Route::CatalogRegister | Route::CatalogDeregister) && !req.query.has("dc") {
        // Consul routes a catalog write by its body's `Datacenter` (the agent's own when
        // empty): another datacenter's is forwarded there, an unknown one has no path.
        if let Some(dc) = body_datacenter(&req.body).filter(|dc| *dc != config.datacenter) {
            req.query = req.query.with_value("dc", &dc);
        }
    }
    let other_dc = req
        .query
        .get("dc")
        .is_some_and(|dc| !dc.is_empty() && dc != config.datacenter);
    if *route == Route::SessionCreate && !config.server && other_dc {
        // As Consul: a client agent's node is not in the other datacenter's catalog.
        let text = "cross datacenter lock must be created at server agent";
        return Reply::error(&crate::error::ApiError::Internal(text.into()));
    }
    if *route == Route::SessionCreate {
        // As `_agent` above: a session's node defaults to the agent that got the request,
        // not to the server that answers it.
        req.body = session_json::with_default_node(&req.body, &config.node_name);
    }
    if config.acl_enabled && req.token().is_none() && req.hops == 0 {
        // A request without a token acts with the default token of the agent it was sent
        // to, wherever it is answered (Consul's client agents send theirs along); one that
        // was forwarded to us without a token stays anonymous.
        let default = ctx.mesh.agent_tokens.load().default.clone();
        if !default.is_empty() {
            req.headers.push(("x-consul-token".into(), default));
        }
    }
    if let Some(target) = crate::node::rpc_client::forward_target(ctx, config, route, &req) {
        return match target {
            Ok(addr) => crate::node::rpc_client::forward_http(config, addr, &req).await,
            Err(reply) => reply,
        };
    }
    if let Err(reply) = acl_gate(ctx, config, route, &mut req).await {
        return reply;
    }
    if req.query.has("consistent")
        && matches!(req.method.as_str(), "GET" | "HEAD")
        && !route.is_agent_local()
    {
        // Consul's consistent mode: leadership confirmed by a quorum before the read.
        let (tx, rx) = tokio::sync::oneshot::channel();
        if ctx
            .mesh
            .raft
            .try_send(crate::mesh::RaftInput::ReadIndex { reply: tx })
            .is_err()
        {
            return Reply::text(500, "No cluster leader");
        }
        match rx.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Reply::text(500, e),
            Err(_) => return Reply::text(500, "No cluster leader"),
        }
    }
    if route.is_agent_local() {
        if ctx.id == 0 {
            return agent_local_api::dispatch(ctx, route, &req).await;
        }
        return ctx.forward_to_agent(route.clone(), req).await;
    }
    let req = &req;
    match route {
        Route::Kv(key) if req.method != "GET" => {
            timed("kvs.apply", kv_api::handle(ctx, key, req)).await
        }
        Route::Kv(key) => kv_api::handle(ctx, key, req).await,
        Route::Txn => timed("txn.apply", txn_api::handle(ctx, req)).await,
        Route::StatusLeader => agent_api::status_leader(ctx, config, req),
        Route::StatusPeers => agent_api::status_peers(ctx, req),
        Route::OperatorRaftConfiguration => agent_api::raft_configuration(ctx, req),
        Route::OperatorRaftPeer => agent_api::remove_peer(ctx, req).await,
        Route::OperatorRaftTransferLeader => agent_api::transfer_leader(ctx, req).await,
        Route::OperatorAutopilotConfiguration => {
            operator_api::configuration(ctx, config, req).await
        }
        Route::OperatorAutopilotHealth => operator_api::health(ctx, config, req),
        Route::OperatorAutopilotState => operator_api::state(ctx, config, req),
        Route::OperatorUsage => operator_api::usage(ctx, config, req).await,
        Route::AgentHost => operator_api::host(config, req),
        Route::ConfigWrite => config_api::apply(ctx, req).await,
        Route::ConfigEntry(kind, name) => config_api::entry(ctx, kind, name, req).await,
        Route::ConfigList(kind) => config_api::list(ctx, kind, req).await,
        Route::Queries => query_api::collection(ctx, req).await,
        Route::Query(id) => query_api::one(ctx, id, req).await,
        Route::QueryExecute(q) => query_api::execute(ctx, config, q, req).await,
        Route::QueryExplain(q) => query_api::explain(ctx, q, req),
        Route::Snapshot if req.method == "PUT" => snapshot_api::restore(ctx, req).await,
        Route::Snapshot => snapshot_api::save(ctx, req).await,

        Route::AgentVersion => agent_api::version(req),
        Route::AgentReload => ops_api::reload(ctx).await,
        Route::AgentMonitor => ops_api::monitor(req),
        Route::AgentMetrics => ops_api::metrics(config, req),
        Route::AgentMetricsStream => ops_api::metrics_stream(config),
        Route::CatalogRegister => {
            timed("catalog.register", catalog_api::register(ctx, config, req)).await
        }
        Route::CatalogDeregister => {
            timed("catalog.deregister", catalog_api::deregister(ctx, req)).await
        }
        Route::CatalogDatacenters => catalog_api::datacenters(ctx, config, req),
        Route::CatalogNodes => catalog_api::nodes(ctx, req).await,
        Route::UiServices => ui_api::services(ctx, config, req).await,
        Route::UiNodes => ui_api::nodes(ctx, req).await,
        Route::CatalogServices => catalog_api::services(ctx, req).await,
        Route::CatalogService(name) => catalog_api::service(ctx, name, req).await,
        Route::CatalogNode(name) => catalog_api::node(ctx, name, req).await,
        Route::CatalogNodeServices(name) => catalog_api::node_services(ctx, name, req).await,
        Route::HealthNode(name) => catalog_api::health_node(ctx, name, req).await,
        Route::HealthChecks(name) => catalog_api::health_checks(ctx, name, req).await,
        Route::HealthState(state) => catalog_api::health_state(ctx, state, req).await,
        Route::HealthService(name) => catalog_api::health_service(ctx, name, req).await,
        Route::CoordinateDatacenters => coordinate_api::datacenters(ctx, req),
        Route::CoordinateNodes => coordinate_api::nodes(ctx, req).await,
        Route::CoordinateNode(name) => coordinate_api::node(ctx, name, req).await,
        Route::CoordinateUpdate => coordinate_api::update(ctx, req).await,
        Route::SessionCreate => session_api::create(ctx, config, req).await,
        Route::SessionDestroy(id) => session_api::destroy(ctx, id, req).await,
        Route::SessionRenew(id) => session_api::renew(ctx, id, req).await,
        Route::SessionInfo(id) => session_api::info(ctx, id, req).await,
        Route::SessionNode(node) => session_api::node(ctx, node, req).await,
        Route::SessionList => session_api::list(ctx, req).await,
        Route::Acl(endpoint) => acl_api::handle(ctx, config, endpoint, req).await,
        Route::AclResolve => acl_api::resolve(ctx, config, req).await,
        Route::Root | Route::UnknownApi | Route::NotApi => unreachable!("answered by preflight"),
        _ => unreachable!("local-agent routes are handled above"),
    }
}

/// Answers `reply` and records how long it took as the sample `name` (Consul's endpoint
/// timers: `consul.kvs.apply`, `consul.txn.apply`, `consul.catalog.register`, ...).
async fn timed(name: &'static str, reply: impl std::future::Future<Output = Reply>) -> Reply {
    let started = std::time::Instant::now();
    let reply = reply.await;
    crate::node::telemetry::measure_since(crate::metrics::Key::plain(name), started);
    reply
}

/// The one point of ACL enforcement, on the agent that answers (after forwarding): resolves
/// the request's token (403 `ACL not found` for an unknown one), keeps the identity on the
/// request for handlers that check names from the body or filter lists, and checks the
/// permission the route table declares. With ACLs off it does nothing.
async fn acl_gate(
    ctx: &ShardCtx,
    config: &AgentConfig,
    route: &Route,
    req: &mut ApiRequest,
) -> Result<(), Reply> {
    use crate::acl::Need;
    use route::{Access, NameFrom};
    if !config.acl_enabled {
        return Ok(());
    }
    let permission = route.spec().permission;
    let secret = ctx.effective_token(req);
    let resolved = ctx.resolve_token(config, &secret).await;
    let Some(resource) = permission.resource else {
        // Open routes (status, bootstrap, login, token/self) answer whatever the token is, as
        // Consul's do: one that does not resolve acts as anonymous for what they show.
        let identity = match resolved {
            Ok(identity) => identity,
            Err(_) => ctx
                .resolve_token(config, crate::acl::model::ANONYMOUS_SECRET)
                .await
                .map_err(|e| Reply::error(&e))?,
        };
        req.identity = Some(identity);
        return Ok(());
    };
    let identity = resolved.map_err(|e| Reply::error(&e))?;
    req.identity = Some(identity.clone());
    let reading = matches!(req.method.as_str(), "GET" | "HEAD");
    let need = match permission.access {
        Access::Read => Need::Read,
        Access::Write => Need::Write,
        Access::ByMethod if reading => Need::Read,
        Access::ByMethod => Need::Write,
        Access::Filter => return Ok(()), // the handler leaves out what may not be read
    };
    let name = match permission.name {
        NameFrom::Global => "",
        NameFrom::Path => route.path_arg(),
        NameFrom::AgentName => config.node_name.as_str(),
        NameFrom::Body => return Ok(()), // the handler checks the names it finds
    };
    if let Route::Kv(key) = route {
        if reading && (req.query.has("recurse") || req.query.has("keys")) {
            return Ok(()); // a listing: entries the token may not read are left out
        }
        if req.method == "DELETE" && req.query.has("recurse") {
            if identity.authorizer.key_write_prefix(key) {
                return Ok(());
            }
            let e = crate::acl::denied(&identity.accessor_id, resource, key, Need::Write);
            return Err(Reply::error(&e));
        }
    }
    req.require(resource, name, need)
        .map_err(|e| Reply::error(&e))
}

/// Marks an answer some of whose items the token could not read (Consul's
/// `X-Consul-Results-Filtered-By-ACLs`).
pub fn acl_filtered(reply: Reply, filtered: bool) -> Reply {
    if filtered {
        reply.with("X-Consul-Results-Filtered-By-ACLs", "true")
    } else {
        reply
    }
}

/// A write body's `Datacenter` field (matched as Go's decoder matches field names), if any.
fn body_datacenter(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v.as_object()?;
    let dc = m.get("Datacenter").or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("datacenter"))
            .map(|(_, v)| v)
    })?;
    dc.as_str().filter(|dc| !dc.is_empty()).map(str::to_string)
}
