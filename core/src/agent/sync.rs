//! Anti-entropy as a pure diff (§3.7): what the agent wants its node to look like in the
//! catalog, against what the catalog holds, gives the writes that make them equal.

use std::collections::BTreeMap;

use crate::catalog::{CheckDef, NodeDef, ServiceDef};

/// One catalog write anti-entropy needs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SyncOp {
    RegisterNode,
    /// Register the service together with its checks.
    RegisterService(String),
    /// Register a check whose service (if any) is already right in the catalog.
    RegisterCheck(String),
    DeregisterService(String),
    DeregisterCheck(String),
}

/// What the catalog holds for this agent's node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogView {
    pub node: Option<NodeDef>,
    pub services: BTreeMap<String, ServiceDef>,
    pub checks: BTreeMap<String, CheckDef>,
}

/// The agent's own view of its node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredView {
    pub node: NodeDef,
    pub services: BTreeMap<String, ServiceDef>,
    pub checks: BTreeMap<String, CheckDef>,
}

/// Checks the agent never removes (the leader owns them), and services likewise.
const KEPT_CHECKS: &[&str] = &["serfHealth"];
const KEPT_SERVICES: &[&str] = &["consul"];

/// The writes that turn `catalog` into `desired`, in a stable order.
pub fn reconcile(desired: &DesiredView, catalog: &CatalogView) -> Vec<SyncOp> {
    let mut ops = Vec::new();
    if catalog.node.as_ref() != Some(&desired.node) {
        ops.push(SyncOp::RegisterNode);
    }
    let mut registered = Vec::new();
    for (id, def) in &desired.services {
        let checks_differ = desired
            .checks
            .values()
            .filter(|c| &c.service_id == id)
            .any(|c| catalog.checks.get(&c.id) != Some(c));
        if catalog.services.get(id) != Some(def) || checks_differ {
            ops.push(SyncOp::RegisterService(id.clone()));
            registered.push(id.clone());
        }
    }
    let mut removed = Vec::new();
    for id in catalog.services.keys() {
        if !desired.services.contains_key(id) && !KEPT_SERVICES.contains(&id.as_str()) {
            ops.push(SyncOp::DeregisterService(id.clone()));
            removed.push(id.clone());
        }
    }
    for (id, def) in &desired.checks {
        if registered.contains(&def.service_id) {
            continue; // travels with its service
        }
        if catalog.checks.get(id) != Some(def) {
            ops.push(SyncOp::RegisterCheck(id.clone()));
        }
    }
    for (id, def) in &catalog.checks {
        let goes_with_service = removed.contains(&def.service_id);
        if !desired.checks.contains_key(id)
            && !KEPT_CHECKS.contains(&id.as_str())
            && !goes_with_service
        {
            ops.push(SyncOp::DeregisterCheck(id.clone()));
        }
    }
    ops
}

/// What the catalog looks like after `ops` (the model the property tests check against).
pub fn apply(desired: &DesiredView, catalog: &CatalogView, ops: &[SyncOp]) -> CatalogView {
    let mut out = catalog.clone();
    for op in ops {
        match op {
            SyncOp::RegisterNode => out.node = Some(desired.node.clone()),
            SyncOp::RegisterService(id) => {
                out.services
                    .insert(id.clone(), desired.services[id].clone());
                for c in desired.checks.values().filter(|c| &c.service_id == id) {
                    out.checks.insert(c.id.clone(), c.clone());
                }
            }
            SyncOp::RegisterCheck(id) => {
                out.checks.insert(id.clone(), desired.checks[id].clone());
            }
            SyncOp::DeregisterService(id) => {
                out.services.remove(id);
                out.checks.retain(|_, c| &c.service_id != id);
            }
            SyncOp::DeregisterCheck(id) => {
                out.checks.remove(id);
            }
        }
    }
    out
}
