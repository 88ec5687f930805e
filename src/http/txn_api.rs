//! `PUT /v1/txn` with KV operations. Every transaction, reads included, goes through the Raft
//! log, so a read-only transaction is linearizable (Consul serves those without the log; ours
//! costs one group commit more).

use serde::Serialize;
use serde_json::Value;

use super::kv_api::{decode_base64, DirEntryJson};
use super::response::Reply;
use super::ApiRequest;
use crate::config::{KV_VALUE_BYTES_MAX, TXN_BODY_BYTES_MAX, TXN_OPS_MAX};
use crate::kv::{KvVerb, TxnKvOp};
use crate::node::ctx::ShardCtx;
use crate::state::Command;
use crate::state::WriteOutcome;

#[derive(Serialize)]
struct KvResult<'a> {
    #[serde(rename = "KV")]
    kv: DirEntryJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TxnError {
    op_index: usize,
    what: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TxnResponse<'a> {
    results: Option<Vec<KvResult<'a>>>,
    errors: Option<Vec<TxnError>>,
}

/// `TxnReadResponse`: the response plus the embedded `QueryMeta` fields.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TxnReadResponse<'a> {
    results: Option<Vec<KvResult<'a>>>,
    errors: Option<Vec<TxnError>>,
    index: u64,
    last_contact: u64,
    known_leader: bool,
    consistency_level: &'static str,
    not_modified: bool,
    backend: u64,
    results_filtered_by_acls: bool,
}

/// What a body failed on: 400 parse errors, 409 op errors, or 413 sizes.
pub(crate) enum Invalid {
    Parse(String),
    Ops(Vec<(usize, String)>),
    TooLarge(String),
}

fn unknown_field(name: &str) -> Invalid {
    Invalid::Parse(format!("json: unknown field {name:?}"))
}

/// Decodes Consul's txn body: an array of `{"KV": {...}}`; field names match
/// case-insensitively (Go's decoder), unknown fields are rejected.
pub(crate) fn parse_ops(body: &[u8]) -> Result<Vec<TxnKvOp>, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Invalid::Parse(e.to_string()))?;
    let Value::Array(items) = value else {
        return Err(Invalid::Parse(
            "json: cannot unmarshal object into Go value of type api.TxnOps".into(),
        ));
    };
    if items.len() > TXN_OPS_MAX {
        return Err(Invalid::TooLarge(format!(
            "Transaction contains too many operations ({} > {TXN_OPS_MAX})",
            items.len()
        )));
    }
    let mut ops = Vec::with_capacity(items.len());
    let mut verb_errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(Invalid::Parse(
                "json: cannot unmarshal into Go value of type api.TxnOp".into(),
            ));
        };
        let mut kv = None;
        for (name, value) in fields {
            match name.to_ascii_lowercase().as_str() {
                "kv" => kv = Some(value),
                "node" | "service" | "check" => {
                    return Err(Invalid::Parse(format!(
                        "{name} operations are not supported yet (the catalog arrives in its own issue)"
                    )))
                }
                _ => return Err(unknown_field(&name)),
            }
        }
        let Some(Value::Object(kv)) = kv else {
            return Err(Invalid::Parse(format!("operation {i} has no KV object")));
        };
        let mut op = TxnKvOp {
            verb: KvVerb::Get,
            key: String::new(),
            value: None,
            flags: 0,
            index: 0,
            session: String::new(),
        };
        let mut verb = String::new();
        for (name, value) in kv {
            let text = |v: &Value| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Invalid::Parse(format!(
                        "json: cannot unmarshal {v} into Go struct field .{name} of type string"
                    ))
                })
            };
            let number = |v: &Value| {
                v.as_u64().ok_or_else(|| {
                    Invalid::Parse(format!(
                        "json: cannot unmarshal {v} into Go struct field .{name} of type uint64"
                    ))
                })
            };
            match name.to_ascii_lowercase().as_str() {
                "verb" => verb = text(&value)?,
                "key" => op.key = text(&value)?,
                "value" => {
                    op.value = match &value {
                        Value::Null => None,
                        v => Some(
                            decode_base64(&text(v)?)
                                .ok_or_else(|| Invalid::Parse("illegal base64 data".into()))?
                                .to_vec(),
                        ),
                    }
                }
                "flags" => op.flags = number(&value)?,
                "index" => op.index = number(&value)?,
                "session" => op.session = text(&value)?,
                _ => return Err(unknown_field(&name)),
            }
        }
        if let Some(v) = &op.value {
            if v.len() > KV_VALUE_BYTES_MAX {
                return Err(Invalid::TooLarge(format!(
                    "Value for key {:?} is too large ({} > {KV_VALUE_BYTES_MAX} bytes)",
                    op.key,
                    v.len()
                )));
            }
        }
        match KvVerb::parse(&verb) {
            Some(v) => op.verb = v,
            None => verb_errors.push((i, format!("unknown KV verb {verb:?}"))),
        }
        ops.push(op);
    }
    if !verb_errors.is_empty() {
        return Err(Invalid::Ops(verb_errors));
    }
    Ok(ops)
}

fn failed(errors: Vec<(usize, String)>, req: &ApiRequest) -> Reply {
    let errors = errors
        .into_iter()
        .map(|(op_index, what)| TxnError { op_index, what })
        .collect();
    Reply::json_status(
        409,
        &TxnResponse {
            results: None,
            errors: Some(errors),
        },
        req.style,
    )
}

/// `PUT /v1/txn`.
pub async fn handle(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    if req.body.len() > TXN_BODY_BYTES_MAX {
        return Reply::text(413, too_large_text(req.body.len()));
    }
    let ops = match parse_ops(&req.body) {
        Ok(ops) => ops,
        Err(Invalid::Parse(why)) => {
            return Reply::text(400, format!("Failed to parse body: {why}"))
        }
        Err(Invalid::TooLarge(why)) => return Reply::text(413, why),
        Err(Invalid::Ops(errors)) => return failed(errors, req),
    };
    // As Consul's `vetKVSTxnOp`: each op is checked on its own key; denials come back as
    // the transaction's errors (409), nothing applied.
    let denied: Vec<(usize, String)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op_allowed(op, req).err().map(|e| (i, e.to_string())))
        .collect();
    if !denied.is_empty() {
        return failed(denied, req);
    }
    let read_only = ops.iter().all(|op| op.verb.is_read());
    // Lock-delay is the leader's wall-clock soft state: checked here, before proposing, as
    // Consul's `kvsPreApply` does for every `lock` op.
    let now = crate::io::host::unix_ms();
    let mut delayed = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if op.verb == KvVerb::Lock && !op.session.is_empty() {
            match ctx.kv_lock_delay(&op.key, now).await {
                Ok(0) => {}
                Ok(_) => delayed.push((
                    i,
                    format!("failed to lock key {:?} due to lock delay", op.key),
                )),
                Err(b) => return Reply::error(&b.into()),
            }
        }
    }
    if !delayed.is_empty() {
        return failed(delayed, req);
    }
    let (results, errors) = match ctx.write(Command::Txn { ops }).await {
        WriteOutcome::Txn { results, errors } => (results, errors),
        WriteOutcome::Failed(e) => return Reply::error(&e),
        WriteOutcome::Bool(_) => unreachable!("a transaction answers with results"),
    };
    if !errors.is_empty() {
        return failed(errors, req);
    }
    // Consul's `filterTxnResults`: a `get-tree` returns only the keys the token may read.
    let readable = |r: &&crate::kv::TxnOpResult| {
        req.allows(
            crate::acl::Resource::Key,
            &r.entry.key,
            crate::acl::Need::Read,
        )
    };
    let acl_filtered = !results.iter().all(|r| readable(&r));
    let results: Vec<KvResult> = results
        .iter()
        .filter(readable)
        .map(|r| KvResult {
            kv: DirEntryJson::from_entry(&r.entry, true),
        })
        .collect();
    let known_leader = ctx.mesh.status.known_leader();
    if read_only {
        let consistency_level = if req.query.has("stale") {
            "stale"
        } else if req.query.has("consistent") {
            "consistent"
        } else {
            "leader"
        };
        let body = TxnReadResponse {
            results: Some(results),
            errors: None,
            index: 0,
            last_contact: 0,
            known_leader,
            consistency_level,
            not_modified: false,
            backend: 0,
            results_filtered_by_acls: acl_filtered,
        };
        return Reply::json(&body, req.style)
            .with("X-Consul-KnownLeader", known_leader.to_string())
            .with("X-Consul-LastContact", "0");
    }
    Reply::json(
        &TxnResponse {
            results: Some(results),
            errors: None,
        },
        req.style,
    )
}

/// The permission one KV op needs: `key:read` to read, `key:write` to write, write on the
/// whole prefix for a tree delete.
fn op_allowed(op: &TxnKvOp, req: &ApiRequest) -> Result<(), crate::error::ApiError> {
    use crate::acl::{Need, Resource};
    let Some(identity) = &req.identity else {
        return Ok(());
    };
    if op.verb == KvVerb::DeleteTree {
        if identity.authorizer.key_write_prefix(&op.key) {
            return Ok(());
        }
        return Err(crate::acl::denied(
            &identity.accessor_id,
            Resource::Key,
            &op.key,
            Need::Write,
        ));
    }
    let need = if op.verb.is_read() {
        Need::Read
    } else {
        Need::Write
    };
    req.require(Resource::Key, &op.key, need)
}

fn too_large_text(bytes: usize) -> String {
    format!(
        "Request body({bytes} bytes) too large, max size: {TXN_BODY_BYTES_MAX} bytes. See \
         https://www.consul.io/docs/agent/config/config-files#txn_max_req_len."
    )
}
