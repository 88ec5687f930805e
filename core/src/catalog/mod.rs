//! The catalog state machine: nodes, services and checks, with Consul's index rules.
//!
//! Pure code. Every shard applies every catalog command in Raft index order and keeps what it
//! owns: **nodes and node-level checks on every shard** (a replica, small and read by every
//! health query) and **services plus their checks on the shard that owns the service name**
//! (`shard_of(name)`). So `/v1/health/service/<name>` is answered by one shard with no second
//! hop, and `/v1/catalog/services` scatters and merges.

pub mod command;
pub mod state;

pub use command::{
    CatalogCommand, CheckDef, CoordinateUpdate, NodeDef, NodeView, RegisterRequest, ServiceDef,
};
pub use state::{CatalogShard, Check, Node, NodeCoordinate, Pickable, Service, ServiceInstance};

/// Health status of a check.
pub const PASSING: &str = "passing";
pub const WARNING: &str = "warning";
pub const CRITICAL: &str = "critical";
pub const MAINTENANCE: &str = "maintenance";

/// Worst of a set of statuses, Consul's order: maintenance > critical > warning > passing.
pub fn aggregate<'a>(statuses: impl IntoIterator<Item = &'a str>) -> &'static str {
    let mut worst = PASSING;
    for s in statuses {
        worst = match (worst, s) {
            (_, MAINTENANCE) | (MAINTENANCE, _) => MAINTENANCE,
            (_, CRITICAL) | (CRITICAL, _) => CRITICAL,
            (_, WARNING) | (WARNING, _) => WARNING,
            _ => worst,
        };
    }
    worst
}

#[cfg(test)]
mod tests;
