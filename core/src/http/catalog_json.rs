//! Consul's catalog and health JSON shapes, fields in the order Consul emits them. Maps come
//! out with sorted keys, as Go's encoder writes them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::catalog::{Check, Node, Service, ServiceInstance};

fn map(pairs: &[(String, String)]) -> Option<BTreeMap<&str, &str>> {
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    node: &'a str,
    address: &'a str,
    datacenter: &'a str,
    tagged_addresses: Option<BTreeMap<&'a str, &'a str>>,
    meta: Option<BTreeMap<&'a str, &'a str>>,
    create_index: u64,
    modify_index: u64,
}

impl<'a> NodeJson<'a> {
    pub fn new(n: &'a Node) -> NodeJson<'a> {
        NodeJson {
            id: &n.def.id,
            node: &n.def.name,
            address: &n.def.address,
            datacenter: &n.def.datacenter,
            tagged_addresses: map(&n.def.tagged_addresses),
            meta: map(&n.def.meta),
            create_index: n.create_index,
            modify_index: n.modify_index,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressPort<'a> {
    address: &'a str,
    port: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

fn tagged(s: &Service) -> BTreeMap<&str, AddressPort<'_>> {
    s.def
        .tagged_addresses
        .iter()
        .map(|(k, a, p)| {
            (
                k.as_str(),
                AddressPort {
                    address: a,
                    port: *p,
                },
            )
        })
        .collect()
}

fn meta(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `NodeService` (health results, catalog node, node-services).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServiceJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    service: &'a str,
    tags: &'a [String],
    address: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tagged_addresses: BTreeMap<&'a str, AddressPort<'a>>,
    meta: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    port: u32,
    weights: Weights,
    enable_tag_override: bool,
    proxy: ProxyJson,
    connect: serde_json::Value,
    peer_name: &'a str,
    create_index: u64,
    modify_index: u64,
}

fn is_zero(p: &u32) -> bool {
    *p == 0
}

/// Consul's empty `ServiceProxy`, fields in its order (a `json!` map would sort them).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProxyJson {
    mode: &'static str,
    mesh_gateway: BTreeMap<(), ()>,
    expose: BTreeMap<(), ()>,
}

fn proxy() -> ProxyJson {
    ProxyJson {
        mode: "",
        mesh_gateway: BTreeMap::new(),
        expose: BTreeMap::new(),
    }
}

/// `/v1/catalog/node/<n>` (`Services` a map by ID) and `/v1/catalog/node-services/<n>` (a list).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeWithServices<'a, S: Serialize> {
    pub node: Option<NodeJson<'a>>,
    pub services: Option<S>,
}

impl<'a> NodeServiceJson<'a> {
    pub fn new(s: &'a Service) -> NodeServiceJson<'a> {
        NodeServiceJson {
            id: &s.def.id,
            service: &s.def.name,
            tags: &s.def.tags,
            address: &s.def.address,
            tagged_addresses: tagged(s),
            meta: meta(&s.def.meta),
            port: s.def.port,
            weights: Weights {
                passing: s.def.weight_passing,
                warning: s.def.weight_warning,
            },
            enable_tag_override: s.def.enable_tag_override,
            proxy: proxy(),
            connect: json!({}),
            peer_name: "",
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

/// `ServiceNode` (`/v1/catalog/service/<name>`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceNodeJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    node: &'a str,
    address: &'a str,
    datacenter: &'a str,
    tagged_addresses: Option<BTreeMap<&'a str, &'a str>>,
    node_meta: Option<BTreeMap<&'a str, &'a str>>,
    service_kind: &'a str,
    #[serde(rename = "ServiceID")]
    service_id: &'a str,
    service_name: &'a str,
    service_tags: &'a [String],
    service_address: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    service_tagged_addresses: BTreeMap<&'a str, AddressPort<'a>>,
    service_weights: Weights,
    service_meta: BTreeMap<&'a str, &'a str>,
    service_port: u32,
    service_socket_path: &'a str,
    service_enable_tag_override: bool,
    service_proxy: ProxyJson,
    service_connect: serde_json::Value,
    service_locality: Option<()>,
    create_index: u64,
    modify_index: u64,
}

impl<'a> ServiceNodeJson<'a> {
    pub fn new(i: &'a ServiceInstance) -> ServiceNodeJson<'a> {
        let (n, s) = (&i.node, &i.service);
        ServiceNodeJson {
            id: &n.def.id,
            node: &n.def.name,
            address: &n.def.address,
            datacenter: &n.def.datacenter,
            tagged_addresses: map(&n.def.tagged_addresses),
            node_meta: map(&n.def.meta),
            service_kind: "",
            service_id: &s.def.id,
            service_name: &s.def.name,
            service_tags: &s.def.tags,
            service_address: &s.def.address,
            service_tagged_addresses: tagged(s),
            service_weights: Weights {
                passing: s.def.weight_passing,
                warning: s.def.weight_warning,
            },
            service_meta: meta(&s.def.meta),
            service_port: s.def.port,
            service_socket_path: "",
            service_enable_tag_override: s.def.enable_tag_override,
            service_proxy: proxy(),
            service_connect: json!({}),
            service_locality: None,
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

/// `HealthCheck`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckJson<'a> {
    node: &'a str,
    #[serde(rename = "CheckID")]
    check_id: &'a str,
    name: &'a str,
    status: &'a str,
    notes: &'a str,
    output: &'a str,
    #[serde(rename = "ServiceID")]
    service_id: &'a str,
    service_name: &'a str,
    service_tags: &'a [String],
    #[serde(rename = "Type")]
    check_type: &'a str,
    interval: &'a str,
    timeout: &'a str,
    exposed_port: u32,
    definition: serde_json::Value,
    create_index: u64,
    modify_index: u64,
}

impl<'a> CheckJson<'a> {
    pub fn new(c: &'a Check) -> CheckJson<'a> {
        CheckJson {
            node: &c.node,
            check_id: &c.def.id,
            name: &c.def.name,
            status: &c.def.status,
            notes: &c.def.notes,
            output: &c.def.output,
            service_id: &c.def.service_id,
            service_name: &c.service_name,
            service_tags: &c.service_tags,
            check_type: &c.def.check_type,
            interval: &c.def.interval,
            timeout: &c.def.timeout,
            exposed_port: 0,
            definition: json!({}),
            create_index: c.create_index,
            modify_index: c.modify_index,
        }
    }
}

/// `CheckServiceNode` (`/v1/health/service/<name>`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceEntryJson<'a> {
    node: NodeJson<'a>,
    service: NodeServiceJson<'a>,
    checks: Vec<CheckJson<'a>>,
}

impl<'a> ServiceEntryJson<'a> {
    pub fn new(i: &'a ServiceInstance) -> ServiceEntryJson<'a> {
        ServiceEntryJson {
            node: NodeJson::new(&i.node),
            service: NodeServiceJson::new(&i.service),
            checks: i.checks.iter().map(CheckJson::new).collect(),
        }
    }
}
