//! `/v1/config`: config entries written through the log (with `cas`), read from the local
//! replica (blocking on the table's index). ACLs by kind: `service` rules on the entry's name
//! for the service-* kinds, `mesh` rules (which fall back to `operator`) for the others.

use serde_json::Value;

use super::catalog_api::blocking;
use super::response::Reply;
use super::ApiRequest;
use crate::acl::{Need, Resource};
use crate::config_entry::{self, ConfigEntry, ConfigEntryOp};
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Indexed;
use crate::state::{Command, WriteOutcome};

/// The rule guarding a kind's entries (Consul's `CanRead`/`CanWrite`), and the name it is
/// checked on: `service` rules on the name for service-* kinds, `mesh` rules (which fall back
/// to `operator`) for the others; `None` where Consul checks nothing (reading proxy-defaults
/// and mesh). Intentions use `service` rules here (Consul's `intentions` level is not kept).
fn guard<'a>(kind: &str, name: &'a str, need: Need) -> Option<(Resource, &'a str)> {
    match (kind, need) {
        _ if config_entry::is_service_kind(kind) => Some((Resource::Service, name)),
        ("ingress-gateway" | "terminating-gateway", Need::Read) => Some((Resource::Service, name)),
        ("proxy-defaults" | "mesh", Need::Read) => None,
        _ => Some((Resource::Mesh, "")),
    }
}

fn allowed(
    req: &ApiRequest,
    kind: &str,
    name: &str,
    need: Need,
) -> Result<(), crate::error::ApiError> {
    match guard(kind, name, need) {
        Some((resource, guarded)) => req.require(resource, guarded, need),
        None => Ok(()),
    }
}

fn cas_of(req: &ApiRequest) -> Result<Option<u64>, Reply> {
    match req.query.get("cas") {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            Reply::text(
                500,
                format!("strconv.ParseUint: parsing {v:?}: invalid syntax"),
            )
        }),
    }
}

async fn write(ctx: &ShardCtx, op: ConfigEntryOp, req: &ApiRequest) -> Reply {
    match ctx.write(Command::ConfigEntry(Box::new(op))).await {
        WriteOutcome::Bool(applied) => Reply::json(&applied, req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("a config entry write answers a bool"),
    }
}

/// `PUT /v1/config[?cas=]`: `true` when written, `false` on a `cas` mismatch. A body that does
/// not decode is Consul's 400; one that breaks a kind's rule its 500.
pub async fn apply(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let entry = match config_entry::prepare(&req.body) {
        Ok(e) => e,
        Err(config_entry::Refusal::Decode(text)) => return Reply::text(400, text),
        Err(config_entry::Refusal::Invalid(text)) => return Reply::text(500, text),
    };
    if let Err(e) = allowed(req, &entry.kind, &entry.name, Need::Write) {
        return Reply::error(&e);
    }
    let cas = match cas_of(req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    write(ctx, ConfigEntryOp::Set { entry, cas }, req).await
}

/// `GET|DELETE /v1/config/<kind>/<name>`.
pub async fn entry(ctx: &ShardCtx, kind: &str, name: &str, req: &ApiRequest) -> Reply {
    let delete = req.method == "DELETE";
    if !config_entry::KINDS.contains(&kind) {
        // Consul refuses it before its RPC on a delete (400), inside it on a read (500).
        let status = if delete { 400 } else { 500 };
        return Reply::text(status, format!("invalid config entry kind: {kind}"));
    }
    let need = if delete { Need::Write } else { Need::Read };
    if let Err(e) = allowed(req, kind, name, need) {
        return Reply::error(&e);
    }
    if delete {
        if kind == "proxy-defaults" && name != "global" {
            return Reply::text(
                500,
                format!("invalid name ({name:?}), only \"global\" is supported"),
            );
        }
        let cas = match cas_of(req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let name = if kind == "mesh" { "mesh" } else { name };
        let op = ConfigEntryOp::Delete {
            kind: kind.to_string(),
            name: name.to_string(),
            cas,
        };
        return match (cas, write(ctx, op, req).await) {
            // Without `cas` Consul answers an empty object, with it the outcome.
            (None, reply) if reply.status == 200 => Reply::json(&serde_json::json!({}), req.style),
            (_, reply) => reply,
        };
    }
    let read = || async {
        ctx.catch_up();
        let state = ctx.state.borrow();
        let table = &state.config_entries;
        Ok(Indexed {
            value: table.get(kind, name).cloned(),
            index: table.index(),
        })
    };
    let missing = format!("Config entry not found for {kind:?} / {name:?}");
    blocking(ctx, req, read, |found: &Option<ConfigEntry>| match found {
        Some(e) => Reply::json(&config_entry::to_json(e), req.style),
        None => Reply::text(404, missing),
    })
    .await
}

/// `GET /v1/config/<kind>`: the entries of a kind the token may read, by name.
pub async fn list(ctx: &ShardCtx, kind: &str, req: &ApiRequest) -> Reply {
    if !config_entry::KINDS.contains(&kind) {
        return Reply::text(500, format!("invalid config entry kind: {kind}"));
    }
    let read = || async {
        ctx.catch_up();
        let state = ctx.state.borrow();
        let table = &state.config_entries;
        Ok(Indexed {
            value: table.list(kind).into_iter().cloned().collect::<Vec<_>>(),
            index: table.index(),
        })
    };
    blocking(ctx, req, read, |entries: &Vec<ConfigEntry>| {
        let readable: Vec<Value> = entries
            .iter()
            .filter(|e| match guard(&e.kind, &e.name, Need::Read) {
                Some((resource, name)) => req.allows(resource, name, Need::Read),
                None => true,
            })
            .map(config_entry::to_json)
            .collect();
        let filtered = readable.len() != entries.len();
        super::acl_filtered(
            Reply::json(&super::catalog_api::filtered(req, readable), req.style),
            filtered,
        )
    })
    .await
}
