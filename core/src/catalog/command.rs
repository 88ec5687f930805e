//! Catalog commands as written to the Raft log (rkyv). Add variants and fields only at the end.

use rkyv::{Archive, Deserialize, Serialize};

use crate::gossip::vivaldi::Coordinate;

/// A node as registered.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeDef {
    pub id: String,
    pub name: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: Vec<(String, String)>,
    pub meta: Vec<(String, String)>,
}

/// A service instance as registered (Consul `NodeService`).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ServiceDef {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    /// (name, address, port)
    pub tagged_addresses: Vec<(String, String, u32)>,
    pub meta: Vec<(String, String)>,
    pub port: u32,
    pub weight_passing: u32,
    pub weight_warning: u32,
    pub enable_tag_override: bool,
}

/// A check as registered (Consul `HealthCheck`, without indexes).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckDef {
    pub id: String,
    pub name: String,
    pub status: String,
    pub notes: String,
    pub output: String,
    /// Empty for node-level checks.
    pub service_id: String,
    pub check_type: String,
    pub interval: String,
    pub timeout: String,
}

/// `PUT /v1/catalog/register` and the agent's anti-entropy writes.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RegisterRequest {
    pub node: NodeDef,
    pub skip_node_update: bool,
    pub service: Option<ServiceDef>,
    pub checks: Vec<CheckDef>,
}

/// One catalog write.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CatalogCommand {
    Register(Box<RegisterRequest>),
    /// Node only: the node and everything on it; with a service: that service and its checks;
    /// with a check: that check.
    Deregister {
        node: String,
        service_id: Option<String>,
        check_id: Option<String>,
    },
    /// Agents' network coordinates (Consul's `Coordinate.Update`, batched as its servers do).
    /// Updates for nodes the catalog does not hold are dropped when applied.
    CoordinateBatch(Vec<CoordinateUpdate>),
}

/// One node's network coordinate as written to the log: the `f64`s as bits, so that
/// commands stay `Eq` and a NaN can never be told apart from itself.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CoordinateUpdate {
    pub node: String,
    /// Network segment (always "" outside Consul Enterprise).
    pub segment: String,
    /// The vector, then error, adjustment and height (`f64::to_bits`).
    pub bits: [u64; 11],
}

impl CoordinateUpdate {
    pub fn new(node: &str, c: &Coordinate) -> CoordinateUpdate {
        CoordinateUpdate {
            node: node.to_string(),
            segment: String::new(),
            bits: c.components().map(f64::to_bits),
        }
    }

    pub fn coordinate(&self) -> Coordinate {
        Coordinate::from_components(self.bits.map(f64::from_bits))
    }
}

/// What the catalog holds for one node: a client agent's anti-entropy reads it from a server
/// (RPC `NodeView`) to diff against its local state.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeView {
    pub node: Option<NodeDef>,
    pub services: Vec<ServiceDef>,
    pub checks: Vec<CheckDef>,
}

impl NodeView {
    pub fn encode(&self) -> Vec<u8> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .expect("serialising into memory cannot fail")
            .into_vec()
    }

    /// Validates before use: the bytes come from the network.
    pub fn decode(bytes: &[u8]) -> Result<NodeView, String> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        rkyv::from_bytes::<NodeView, rkyv::rancor::Error>(&aligned).map_err(|e| e.to_string())
    }
}
