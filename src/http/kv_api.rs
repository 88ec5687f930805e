//! `/v1/kv/<key>`: GET (recurse, keys, separator, raw, blocking), PUT (flags, cas), DELETE.

use base64::Engine;
use bytes::Bytes;
use serde::Serialize;

use super::query::read_options;
use super::response::Reply;
use super::ApiRequest;
use crate::config::{KV_KEY_BYTES_MAX, KV_VALUE_BYTES_MAX};
use crate::error::ApiError;
use crate::kv::DirEntry;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::Busy;
use crate::state::WriteOutcome;
use crate::state::{Command, KvLock};

/// `structs.DirEntry` on the wire, fields in Consul's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DirEntryJson<'a> {
    pub lock_index: u64,
    pub key: &'a str,
    pub flags: u64,
    pub value: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub session: &'a str,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> DirEntryJson<'a> {
    /// Wire form of `entry`; `with_value: false` gives `Value: null` (txn write results).
    pub fn from_entry(entry: &'a DirEntry, with_value: bool) -> DirEntryJson<'a> {
        DirEntryJson {
            lock_index: entry.lock_index,
            key: &entry.key,
            flags: entry.flags,
            value: entry
                .value
                .as_ref()
                .filter(|_| with_value)
                .map(|v| base64::engine::general_purpose::STANDARD.encode(v)),
            session: &entry.session,
            create_index: entry.create_index,
            modify_index: entry.modify_index,
        }
    }
}

/// The 413 text Consul writes for an oversized KV body.
pub fn too_large_text(bytes: u64) -> String {
    format!(
        "Request body({bytes} bytes) too large, max size: {KV_VALUE_BYTES_MAX} bytes. See \
         https://www.consul.io/docs/agent/config/config-files#kv_max_value_size."
    )
}

fn busy(busy: Busy) -> Reply {
    Reply::error(&busy.into())
}

/// Go's `strconv.ParseUint` error text, which Consul passes through with status 500.
fn parse_u64(value: &str) -> Result<u64, Reply> {
    value.parse::<u64>().map_err(|_| {
        let why = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
        Reply::text(500, format!("strconv.ParseUint: parsing {value:?}: {why}"))
    })
}

fn check_key(key: &str) -> Result<(), Reply> {
    if key.len() > KV_KEY_BYTES_MAX {
        return Err(Reply::text(
            400,
            format!("Key too long ({} > {KV_KEY_BYTES_MAX} bytes)", key.len()),
        ));
    }
    Ok(())
}

/// Entry point for every method on `/v1/kv/`.
pub async fn handle(ctx: &ShardCtx, key: &str, req: &ApiRequest) -> Reply {
    if let Err(reply) = check_key(key) {
        return reply;
    }
    match req.method.as_str() {
        "GET" => get(ctx, key, req).await,
        "PUT" => put(ctx, key, req).await,
        "DELETE" => delete(ctx, key, req).await,
        _ => unreachable!("methods are checked against the route table first"),
    }
}

/// Leaves out the items whose key the token may not read; `true` when any was.
fn retain_readable<T>(req: &ApiRequest, items: &mut Vec<T>, key: impl Fn(&T) -> &str) -> bool {
    let before = items.len();
    items.retain(|item| req.allows(crate::acl::Resource::Key, key(item), crate::acl::Need::Read));
    items.len() != before
}

/// With `acl.enable_key_list_policy`, a recursive read also needs `key:list` on the prefix.
fn list_allowed(req: &ApiRequest, prefix: &str) -> Result<(), crate::error::ApiError> {
    let key_list_policy = req.identity.as_ref().is_some_and(|i| i.key_list_policy);
    if !key_list_policy {
        return Ok(());
    }
    req.require(crate::acl::Resource::Key, prefix, crate::acl::Need::List)
}

async fn get(ctx: &ShardCtx, key: &str, req: &ApiRequest) -> Reply {
    let q = &req.query;
    let opts = match read_options(q, req.jitter) {
        Ok(o) => o,
        Err(text) => return Reply::text(400, text),
    };
    let known_leader = ctx.mesh.status.known_leader();
    let meta = |reply: Reply, index: u64| reply.with_query_meta(index, known_leader, 0);
    if q.has("keys") {
        let separator = q
            .get("separator")
            .or_else(|| q.get("seperator"))
            .unwrap_or("");
        let read = ctx
            .block_on(opts.min_index, opts.wait, || ctx.kv_keys(key, separator))
            .await;
        let mut read = match read {
            Ok(r) => r,
            Err(b) => return busy(b),
        };
        let filtered = retain_readable(req, &mut read.value, |k| k.as_str());
        if read.value.is_empty() && !key.is_empty() {
            return super::acl_filtered(meta(Reply::empty(404), read.index), filtered);
        }
        let reply = meta(Reply::json(&read.value, req.style), read.index);
        return super::acl_filtered(reply, filtered);
    }
    if q.has("recurse") {
        let read = match ctx
            .block_on(opts.min_index, opts.wait, || ctx.kv_list(key))
            .await
        {
            Ok(r) => r,
            Err(b) => return busy(b),
        };
        let mut entries = read.value;
        if let Err(e) = list_allowed(req, key) {
            return Reply::error(&e);
        }
        let filtered = retain_readable(req, &mut entries, |e| e.key.as_str());
        if entries.is_empty() {
            return super::acl_filtered(meta(Reply::empty(404), read.index), filtered);
        }
        let out: Vec<DirEntryJson> = entries
            .iter()
            .map(|e| DirEntryJson::from_entry(e, true))
            .collect();
        let reply = meta(Reply::json(&out, req.style), read.index);
        return super::acl_filtered(reply, filtered);
    }
    if key.is_empty() {
        return Reply::text(400, "Missing key name");
    }
    let read = match ctx
        .block_on(opts.min_index, opts.wait, || ctx.kv_get(key))
        .await
    {
        Ok(r) => r,
        Err(b) => return busy(b),
    };
    let Some(entry) = read.value else {
        return meta(Reply::empty(404), read.index);
    };
    if q.has("raw") {
        let reply = Reply {
            status: 200,
            content_type: Some("text/plain"),
            headers: Vec::new(),
            body: entry.value.clone().unwrap_or_default(),
            stream: None,
        }
        .with("X-Content-Type-Options", "nosniff")
        .with("Content-Security-Policy", "sandbox");
        return meta(reply, read.index);
    }
    meta(
        Reply::json(&[DirEntryJson::from_entry(&entry, true)], req.style),
        read.index,
    )
}

fn conflicting(req: &ApiRequest) -> Reply {
    Reply::text(400, format!("Conflicting flags: {}\n", req.query.raw()))
}

async fn put(ctx: &ShardCtx, key: &str, req: &ApiRequest) -> Reply {
    let q = &req.query;
    if key.is_empty() {
        return Reply::text(400, "Missing key name");
    }
    if ["cas", "acquire", "release"]
        .iter()
        .filter(|f| q.has(f))
        .count()
        > 1
    {
        return conflicting(req);
    }
    let flags = match q.get("flags") {
        Some(f) => match parse_u64(f) {
            Ok(v) => v,
            Err(reply) => return reply,
        },
        None => 0,
    };
    let cas = match q.get("cas") {
        Some(c) => match parse_u64(c) {
            Ok(v) => Some(v),
            Err(reply) => return reply,
        },
        None => None,
    };
    if req.body.len() > KV_VALUE_BYTES_MAX {
        return Reply::text(413, too_large_text(req.body.len() as u64));
    }
    let value = if req.body.is_empty() {
        None
    } else {
        Some(req.body.to_vec())
    };
    let acquire = q.get("acquire");
    if let Some(session) = acquire.or_else(|| q.get("release")) {
        if session.is_empty() {
            return Reply::error(&ApiError::Internal("missing session".into()));
        }
        if acquire.is_some() {
            // Lock-delay is wall-clock soft state, so the leader (which answers every write)
            // checks it before proposing, as Consul's `kvsPreApply` does.
            match ctx.kv_lock_delay(key, crate::io::host::unix_ms()).await {
                Ok(0) => {}
                Ok(_) => return Reply::json(&false, req.style),
                Err(b) => return busy(b),
            }
        }
        let lock = KvLock {
            key: key.to_string(),
            value,
            flags,
            session: session.to_string(),
            acquire: acquire.is_some(),
        };
        return write_bool(ctx, Command::KvLock(Box::new(lock)), req).await;
    }
    let cmd = Command::KvSet {
        key: key.to_string(),
        value,
        flags,
        cas,
    };
    write_bool(ctx, cmd, req).await
}

async fn delete(ctx: &ShardCtx, key: &str, req: &ApiRequest) -> Reply {
    let q = &req.query;
    let recurse = q.has("recurse");
    if recurse && q.has("cas") {
        return conflicting(req);
    }
    if key.is_empty() && !recurse {
        return Reply::text(400, "Missing key name");
    }
    let cmd = if recurse {
        Command::KvDeleteTree {
            prefix: key.to_string(),
        }
    } else {
        let cas = match q.get("cas") {
            Some(c) => match parse_u64(c) {
                Ok(v) => Some(v),
                Err(reply) => return reply,
            },
            None => None,
        };
        Command::KvDelete {
            key: key.to_string(),
            cas,
        }
    };
    write_bool(ctx, cmd, req).await
}

async fn write_bool(ctx: &ShardCtx, cmd: Command, req: &ApiRequest) -> Reply {
    match ctx.write(cmd).await {
        WriteOutcome::Bool(ok) => Reply::json(&ok, req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("KV writes answer with a bool"),
    }
}

/// Used by the txn API for values that arrive base64-encoded.
pub fn decode_base64(value: &str) -> Option<Bytes> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .map(Bytes::from)
}
