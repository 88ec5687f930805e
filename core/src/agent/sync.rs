//! Anti-entropy as a pure diff (§3.7): what the agent wants its node to look like in the
//! catalog, against what the catalog holds, gives the writes that make them equal.

use std::collections::{BTreeMap, BTreeSet};

use super::local::Dirty;
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

/// The writes that turn `catalog` into `desired`, in a stable order. O(n log n) in the
/// node's services and checks: checks are grouped by service once (a scan of every check
/// for every service made 10,000 registrations quadratic).
pub fn reconcile(desired: &DesiredView, catalog: &CatalogView) -> Vec<SyncOp> {
    let mut ops = Vec::new();
    if catalog.node.as_ref() != Some(&desired.node) {
        ops.push(SyncOp::RegisterNode);
    }
    let by_service = desired.checks_by_service();
    let mut registered: BTreeSet<&str> = BTreeSet::new();
    for (id, def) in &desired.services {
        let checks_differ = by_service
            .get(id.as_str())
            .into_iter()
            .flatten()
            .any(|c| catalog.checks.get(&c.id) != Some(*c));
        if catalog.services.get(id) != Some(def) || checks_differ {
            ops.push(SyncOp::RegisterService(id.clone()));
            registered.insert(id);
        }
    }
    let mut removed: BTreeSet<&str> = BTreeSet::new();
    for id in catalog.services.keys() {
        if !desired.services.contains_key(id) && !KEPT_SERVICES.contains(&id.as_str()) {
            ops.push(SyncOp::DeregisterService(id.clone()));
            removed.insert(id);
        }
    }
    for (id, def) in &desired.checks {
        if registered.contains(def.service_id.as_str()) {
            continue; // travels with its service
        }
        if catalog.checks.get(id) != Some(def) {
            ops.push(SyncOp::RegisterCheck(id.clone()));
        }
    }
    for (id, def) in &catalog.checks {
        let goes_with_service = removed.contains(def.service_id.as_str());
        if !desired.checks.contains_key(id)
            && !KEPT_CHECKS.contains(&id.as_str())
            && !goes_with_service
        {
            ops.push(SyncOp::DeregisterCheck(id.clone()));
        }
    }
    ops
}

/// The writes for what changed locally since the last round (`LocalState::take_dirty`),
/// assuming the catalog held everything else as it was: no read of the catalog and no diff
/// of the whole node, so a change costs what it touches. The periodic full `reconcile`
/// repairs anything this assumption misses (a write lost, the catalog changed by others).
pub fn incremental(desired: &DesiredView, dirty: &Dirty) -> Vec<SyncOp> {
    let mut ops = Vec::new();
    for id in &dirty.services {
        if KEPT_SERVICES.contains(&id.as_str()) {
            continue;
        }
        ops.push(match desired.services.contains_key(id) {
            true => SyncOp::RegisterService(id.clone()),
            false => SyncOp::DeregisterService(id.clone()),
        });
    }
    for id in &dirty.checks {
        if KEPT_CHECKS.contains(&id.as_str()) {
            continue;
        }
        match desired.checks.get(id) {
            // Registered with its service above.
            Some(c) if dirty.services.contains(&c.service_id) => {}
            Some(_) => ops.push(SyncOp::RegisterCheck(id.clone())),
            None => ops.push(SyncOp::DeregisterCheck(id.clone())),
        }
    }
    ops
}

impl DesiredView {
    /// The checks of each service (node-level checks under `""`).
    pub fn checks_by_service(&self) -> BTreeMap<&str, Vec<&CheckDef>> {
        let mut by: BTreeMap<&str, Vec<&CheckDef>> = BTreeMap::new();
        for c in self.checks.values() {
            by.entry(c.service_id.as_str()).or_default().push(c);
        }
        by
    }
}

/// What the catalog looks like after `ops` (the model the property tests check against).
pub fn apply(desired: &DesiredView, catalog: &CatalogView, ops: &[SyncOp]) -> CatalogView {
    let mut out = catalog.clone();
    for op in ops {
        match op {
            SyncOp::RegisterNode => out.node = Some(desired.node.clone()),
            SyncOp::RegisterService(id) => {
                // A rename drops the service's checks in the catalog (its old name's entry
                // goes, with them); the registration brings the ones it carries.
                let renamed = out.services.get(id).is_some_and(|old| {
                    old.name.to_lowercase() != desired.services[id].name.to_lowercase()
                });
                if renamed {
                    out.checks.retain(|_, c| &c.service_id != id);
                }
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
