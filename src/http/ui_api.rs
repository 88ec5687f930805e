//! `/v1/internal/ui/services` and `/v1/internal/ui/nodes`: the summaries Consul's UI reads (a
//! service's instance count and check counts; each node with its services and checks), in one
//! request instead of one per service or node. Blocking; filtered by what the token may read.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::catalog_api::blocking;
use super::catalog_json::{CheckJson, NodeJson};
use super::response::Reply;
use super::ApiRequest;
use crate::acl::{Need, Resource};
use crate::catalog::{Check, Node, ServiceInstance};
use crate::config::AgentConfig;
use crate::node::ctx::ShardCtx;
use crate::node::kv_frontend::{Busy, Indexed};

/// Every instance of every service (one question to each service's owner shard).
async fn all_instances(ctx: &ShardCtx) -> Result<Indexed<Vec<ServiceInstance>>, Busy> {
    let names = ctx.service_tags().await?;
    let mut index = names.index;
    let mut all = Vec::new();
    for name in names.value.keys() {
        let found = ctx.service_instances(name, &[]).await?;
        index = index.max(found.index);
        all.extend(found.value);
    }
    Ok(Indexed { value: all, index })
}

/// `GET /v1/internal/ui/services`: Consul's `ServiceListingSummary` per service.
pub async fn services(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    blocking(
        ctx,
        req,
        || all_instances(ctx),
        |instances: &Vec<ServiceInstance>| {
            let mut by_name: BTreeMap<&str, Vec<&ServiceInstance>> = BTreeMap::new();
            let mut filtered = false;
            for i in instances {
                let readable = req.allows(Resource::Service, &i.service.def.name, Need::Read)
                    && req.allows(Resource::Node, &i.node.def.name, Need::Read);
                if readable {
                    by_name.entry(&i.service.def.name).or_default().push(i);
                } else {
                    filtered = true;
                }
            }
            let out: Vec<Value> = by_name
                .into_iter()
                .map(|(name, list)| summary(name, &config.datacenter, &list))
                .collect();
            super::acl_filtered(Reply::json(&out, req.style), filtered)
        },
    )
    .await
}

fn summary(name: &str, datacenter: &str, instances: &[&ServiceInstance]) -> Value {
    let mut tags: Vec<&str> = Vec::new();
    let mut nodes: Vec<&str> = Vec::new();
    let (mut passing, mut warning, mut critical) = (0, 0, 0);
    for i in instances {
        for t in &i.service.def.tags {
            if !tags.contains(&t.as_str()) {
                tags.push(t);
            }
        }
        if !nodes.contains(&i.node.def.name.as_str()) {
            nodes.push(&i.node.def.name);
        }
        // Node checks count for every instance on the node, as in Consul's summary.
        for c in &i.checks {
            match c.def.status.as_str() {
                "passing" => passing += 1,
                "warning" => warning += 1,
                _ => critical += 1,
            }
        }
    }
    tags.sort_unstable();
    json!({
        "Kind": "",
        "Name": name,
        "Datacenter": datacenter,
        "Tags": tags,
        "Nodes": nodes,
        "ExternalSources": null,
        "InstanceCount": instances.len(),
        "ChecksPassing": passing,
        "ChecksWarning": warning,
        "ChecksCritical": critical,
        "GatewayConfig": {},
        "TransparentProxy": false,
        "ConnectNative": false,
        "PeerName": "",
        "ConnectedWithProxy": false,
        "ConnectedWithGateway": false,
    })
}

/// `GET /v1/internal/ui/nodes`: every node with its services and all its checks (Consul's
/// `NodeDump` entries), by node name.
pub async fn nodes(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let read = || async {
        let nodes = ctx.catalog_nodes();
        let checks = ctx.checks_in_state("any").await?;
        let instances = all_instances(ctx).await?;
        let index = nodes.index.max(checks.index).max(instances.index);
        Ok(Indexed {
            value: (nodes.value, checks.value, instances.value),
            index,
        })
    };
    blocking(
        ctx,
        req,
        read,
        |(nodes, checks, instances): &(Vec<Node>, Vec<Check>, Vec<ServiceInstance>)| {
            let readable = |n: &Node| req.allows(Resource::Node, &n.def.name, Need::Read);
            let filtered = !nodes.iter().all(readable);
            // Grouped once by node (names compare in any case): O(nodes + instances + checks).
            let mut services: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for i in instances {
                if req.allows(Resource::Service, &i.service.def.name, Need::Read) {
                    services
                        .entry(i.node.def.name.to_lowercase())
                        .or_default()
                        .push(json!({
                            "ID": i.service.def.id,
                            "Service": i.service.def.name,
                            "Tags": i.service.def.tags,
                            "Port": i.service.def.port,
                        }));
                }
            }
            let mut by_node: BTreeMap<String, Vec<CheckJson>> = BTreeMap::new();
            let shown = |c: &&Check| {
                c.service_name.is_empty()
                    || req.allows(Resource::Service, &c.service_name, Need::Read)
            };
            for c in checks.iter().filter(shown) {
                by_node
                    .entry(c.node.to_lowercase())
                    .or_default()
                    .push(CheckJson::new(c));
            }
            let out: Vec<Value> = nodes
                .iter()
                .filter(|n| readable(n))
                .map(|n| {
                    let name = n.def.name.to_lowercase();
                    let mut v = serde_json::to_value(NodeJson::new(n)).unwrap_or(Value::Null);
                    v["Services"] = json!(services.remove(&name).unwrap_or_default());
                    v["Checks"] = json!(by_node.remove(&name).unwrap_or_default());
                    v
                })
                .collect();
            super::acl_filtered(Reply::json(&out, req.style), filtered)
        },
    )
    .await
}
