//! `/v1/operator/keyring`: list (GET), install (POST), use (PUT) and remove (DELETE) gossip
//! encryption keys across every pool, as Consul's `Internal.KeyringOperation` does.
//!
//! Runs on shard 0, beside the gossip runtimes. A client agent forwards to a server of its
//! datacenter. A server runs the operation on the WAN pool and on its own LAN pool, and asks
//! one server of every other datacenter (over RPC, marked `FORWARDED_PARAM`) for that
//! datacenter's LAN pool. Each pool's operation is a gossip query (`gossip::keyring_query`).
//!
//! Not done: `relay-factor` is validated but answers are not relayed through other members
//! (they go straight to the origin), and there are no network segments or partitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::response::Reply;
use super::ApiRequest;
use crate::gossip::keyring_query::{KeyOp, PoolTally};
use crate::node::agent_runtime::AgentRuntime;
use crate::node::ctx::ShardCtx;
use crate::node::rpc_client as rpc;

/// Marks a server-to-server request for one datacenter's LAN pool only.
const FORWARDED_PARAM: &str = "tribune-keyring-lan-only";

/// Consul's `structs.KeyringResponse`, fields in its order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct KeyringResponse {
    #[serde(rename = "WAN")]
    pub wan: bool,
    pub datacenter: String,
    pub segment: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, String>,
    pub keys: BTreeMap<String, usize>,
    pub primary_keys: BTreeMap<String, usize>,
    pub num_nodes: usize,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

impl KeyringResponse {
    fn from_tally(wan: bool, datacenter: &str, t: PoolTally) -> KeyringResponse {
        KeyringResponse {
            wan,
            datacenter: datacenter.to_string(),
            segment: String::new(),
            error: t.error().unwrap_or_default(),
            messages: t.messages,
            keys: t.keys,
            primary_keys: t.primary_keys,
            num_nodes: t.num_nodes,
        }
    }

    /// `?local-only`: this agent's own keyring, as one member of the pool.
    fn local(wan: bool, datacenter: &str, keys: &[String]) -> KeyringResponse {
        KeyringResponse {
            wan,
            datacenter: datacenter.to_string(),
            segment: String::new(),
            messages: BTreeMap::new(),
            keys: keys.iter().map(|k| (k.clone(), 1)).collect(),
            primary_keys: keys.first().map(|k| (k.clone(), 1)).into_iter().collect(),
            num_nodes: 1,
            error: String::new(),
        }
    }

    fn pool_name(&self) -> String {
        match self.wan {
            true => "WAN".into(),
            false => format!("{} (LAN)", self.datacenter),
        }
    }
}

/// Consul's `keyringErrorsOrNil`, formatted as go-multierror prints it.
pub fn errors_text(responses: &[KeyringResponse]) -> Option<String> {
    let mut errs = Vec::new();
    for r in responses.iter().filter(|r| !r.error.is_empty()) {
        errs.push(format!("{} error: {}", r.pool_name(), r.error));
        errs.extend(r.messages.iter().map(|(node, m)| format!("{node}: {m}")));
    }
    if errs.is_empty() {
        return None;
    }
    let head = match errs.len() {
        1 => "1 error occurred:".to_string(),
        n => format!("{n} errors occurred:"),
    };
    let items: String = errs.iter().map(|e| format!("\n\t* {e}")).collect();
    Some(format!("{head}{items}\n\n"))
}

#[derive(Deserialize)]
struct KeyBody {
    #[serde(rename = "Key", default)]
    key: String,
}

pub async fn handle(ctx: &ShardCtx, rt: &AgentRuntime, req: &ApiRequest) -> Reply {
    let op = match req.method.as_str() {
        "GET" => KeyOp::List,
        "POST" => KeyOp::Install,
        "PUT" => KeyOp::Use,
        _ => KeyOp::Remove,
    };
    let key = match op {
        KeyOp::List => String::new(),
        _ => match serde_json::from_slice::<KeyBody>(&req.body) {
            Ok(b) => b.key,
            Err(e) if e.is_eof() => return Reply::text(400, "Request decode failed: EOF"),
            Err(e) => return Reply::text(400, format!("Request decode failed: {e}")),
        },
    };
    if let Some(relay) = req.query.get("relay-factor").filter(|v| !v.is_empty()) {
        match relay.parse::<i64>() {
            Err(_) => {
                let why = format!("strconv.Atoi: parsing {relay:?}: invalid syntax");
                return Reply::text(400, format!("Error parsing relay factor: {why}"));
            }
            Ok(n) if !(0..=5).contains(&n) => {
                return Reply::text(
                    400,
                    "Invalid relay-factor: Relay factor must be in range: [0, 5]",
                )
            }
            Ok(_) => {}
        }
    }
    let mut local_only = false;
    if let Some(v) = req.query.get("local-only").filter(|v| !v.is_empty()) {
        local_only = match super::catalog_api::parse_bool(v) {
            Some(b) => b,
            None => {
                return Reply::text(
                    400,
                    format!(
                    "Error parsing local-only: strconv.ParseBool: parsing \"{v}\": invalid syntax"
                ),
                )
            }
        };
        if local_only && op != KeyOp::List {
            return Reply::text(
                400,
                "Invalid use of local-only: local-only can only be set for list requests",
            );
        }
    }
    let config = &rt.config;
    if local_only {
        let mut out = Vec::new();
        if let Some(wan) = rt.wan() {
            out.push(KeyringResponse::local(
                true,
                &config.datacenter,
                &wan.local_keys(),
            ));
        }
        let lan = rt.gossip().local_keys();
        out.push(KeyringResponse::local(false, &config.datacenter, &lan));
        return Reply::json(&out, req.style);
    }
    // Checked once here rather than by every member (serf decodes the key at the origin too;
    // a key of the wrong size would fail on every member).
    if op != KeyOp::List {
        if let Err(e) = crate::gossip::crypto::Key::parse(&key) {
            return Reply::text(500, e);
        }
    }
    if !config.server {
        return match rpc::pick_server(ctx) {
            Some(addr) => rpc::forward_http(config, addr, req).await,
            None => Reply::text(500, "No known Consul servers"),
        };
    }
    let lan = rt.gossip();
    if req.query.has(FORWARDED_PARAM) {
        let tally = lan.key_operation(ctx, op, &key).await;
        let one = [KeyringResponse::from_tally(
            false,
            &config.datacenter,
            tally,
        )];
        return Reply::json(&one, req.style);
    }

    // Every pool at once: the WAN pool, our LAN pool, and each other datacenter's LAN pool.
    let wan_op = async {
        match rt.wan() {
            Some(wan) => {
                let t = wan.key_operation(ctx, op, &key).await;
                vec![KeyringResponse::from_tally(true, &config.datacenter, t)]
            }
            None => vec![],
        }
    };
    let lan_op = async {
        let t = lan.key_operation(ctx, op, &key).await;
        vec![KeyringResponse::from_tally(false, &config.datacenter, t)]
    };
    // Other datacenters one after another (there are few; each answers within its own
    // query timeout), alongside our two pools.
    let remote_ops = async {
        let mut out = Vec::new();
        for dc in ctx.mesh.cluster.datacenters(&config.datacenter) {
            if dc != config.datacenter {
                out.extend(remote_lan(ctx, config, req, dc).await);
            }
        }
        out
    };
    let (wan_part, lan_part, remote_part) = tokio::join!(wan_op, lan_op, remote_ops);
    let mut responses = wan_part;
    responses.extend(lan_part);
    responses.extend(remote_part);

    match (op, errors_text(&responses)) {
        (_, Some(errors)) => Reply::text(500, errors),
        (KeyOp::List, None) => Reply::json(&responses, req.style),
        (_, None) => Reply::empty(200),
    }
}

/// Another datacenter's LAN pool, through one of its servers.
async fn remote_lan(
    ctx: &ShardCtx,
    config: &crate::config::AgentConfig,
    req: &ApiRequest,
    dc: String,
) -> Vec<KeyringResponse> {
    let failed = |e: String| {
        vec![KeyringResponse {
            wan: false,
            datacenter: dc.clone(),
            segment: String::new(),
            messages: BTreeMap::new(),
            keys: BTreeMap::new(),
            primary_keys: BTreeMap::new(),
            num_nodes: 0,
            error: e,
        }]
    };
    let Some(addr) = ctx.mesh.cluster.server_in(&dc) else {
        return failed("No path to datacenter".into());
    };
    let mut forwarded = ApiRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        query: super::query::Query::parse(&format!("{FORWARDED_PARAM}=1")),
        body: req.body.clone(),
        style: req.style,
        jitter: req.jitter,
        hops: req.hops,
        headers: req.headers.clone(),
        identity: None,
    };
    forwarded.style.indent = false;
    let reply = rpc::forward_http(config, addr, &forwarded).await;
    if reply.status != 200 {
        return failed(String::from_utf8_lossy(&reply.body).trim().to_string());
    }
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| failed(format!("bad answer from {dc}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_consul_prints_them() {
        let ok = KeyringResponse::local(false, "dc1", &["k1".into()]);
        assert_eq!(errors_text(std::slice::from_ref(&ok)), None);
        let mut bad = KeyringResponse::local(true, "dc1", &[]);
        bad.error = "1/3 nodes reported failure".into();
        bad.messages.insert(
            "s2.dc1".into(),
            "Requested key is not in the keyring".into(),
        );
        assert_eq!(
            errors_text(&[bad, ok]).unwrap(),
            "2 errors occurred:\n\t* WAN error: 1/3 nodes reported failure\
             \n\t* s2.dc1: Requested key is not in the keyring\n\n"
        );
    }

    #[test]
    fn the_json_has_consuls_fields() {
        let r = KeyringResponse::local(false, "dc1", &["k1".into(), "k2".into()]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"WAN": false, "Datacenter": "dc1", "Segment": "",
                "Keys": {"k1": 1, "k2": 1}, "PrimaryKeys": {"k1": 1}, "NumNodes": 1})
        );
    }
}
