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

/// The rule a kind's entries are guarded by, and the name it is checked on.
fn guard<'a>(kind: &str, name: &'a str) -> (Resource, &'a str) {
    match config_entry::is_service_kind(kind) {
        true => (Resource::Service, name),
        false => (Resource::Mesh, ""),
    }
}

fn cas_of(req: &ApiRequest) -> Result<Option<u64>, Reply> {
    match req.query.get("cas") {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| Reply::text(400, format!("Error parsing cas value: {v:?}"))),
    }
}

async fn write(ctx: &ShardCtx, op: ConfigEntryOp, req: &ApiRequest) -> Reply {
    match ctx.write(Command::ConfigEntry(Box::new(op))).await {
        WriteOutcome::Bool(applied) => Reply::json(&applied, req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("a config entry write answers a bool"),
    }
}

/// `PUT /v1/config[?cas=]`: `true` when written, `false` on a `cas` mismatch.
pub async fn apply(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let entry = match config_entry::prepare(&req.body) {
        Ok(e) => e,
        Err(text) => return Reply::text(400, text),
    };
    let (resource, name) = guard(&entry.kind, &entry.name);
    if let Err(e) = req.require(resource, name, Need::Write) {
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
    if !config_entry::KINDS.contains(&kind) {
        return Reply::text(400, format!("invalid config entry kind: {kind}"));
    }
    let (resource, guarded) = guard(kind, name);
    let need = if req.method == "DELETE" {
        Need::Write
    } else {
        Need::Read
    };
    if let Err(e) = req.require(resource, guarded, need) {
        return Reply::error(&e);
    }
    if req.method == "DELETE" {
        let cas = match cas_of(req) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let (kind, name) = (kind.to_string(), name.to_string());
        return write(ctx, ConfigEntryOp::Delete { kind, name, cas }, req).await;
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
        return Reply::text(400, format!("invalid config entry kind: {kind}"));
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
            .filter(|e| {
                let (resource, name) = guard(&e.kind, &e.name);
                req.allows(resource, name, Need::Read)
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
