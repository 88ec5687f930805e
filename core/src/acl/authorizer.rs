//! The authorizer: a token's merged rules, answering "may this token do that?" as Consul
//! 1.21's chained authorizer does (`acl/policy_merger.go`, `acl/policy_authorizer.go`,
//! `acl/chained_authorizer.go`, `acl/static_authorizer.go`).
//!
//! Consul chains a token's compiled policies to `RootAuthorizer(acl.default_policy)`: a
//! rule that matches decides; where none matches, the default decides. Two quirks of that
//! chain are kept here: the default "allow" (`AllowAll`) still denies `acl` read and write,
//! and `mesh`/`peering` fall back to the `operator` rule before the default.

use std::collections::BTreeMap;

use super::rules::{Level, Resource, Rules};

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    Read,
    List,
    Write,
}

/// A policy authorizer's answer before the default policy (Consul's
/// `EnforcementDecision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
    /// No rule matched: the chain's next authorizer (the default policy) decides.
    Default,
}

/// Consul's `enforce`: write grants read, list and write; list grants read and list; read
/// grants read; deny grants nothing.
fn enforce(level: Level, need: Need) -> Decision {
    let allowed = match level {
        Level::Write => true,
        Level::List => matches!(need, Need::List | Need::Read),
        Level::Read => need == Need::Read,
        Level::Deny => false,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

/// Consul's `takesPrecedenceOver` as a rank: deny > write > list > read.
fn rank(level: Level) -> u8 {
    match level {
        Level::Read => 0,
        Level::List => 1,
        Level::Write => 2,
        Level::Deny => 3,
    }
}

fn merge(a: Level, b: Level) -> Level {
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// An unset level loses to any level (Consul merges the empty string this way).
fn merge_opt(a: Option<Level>, b: Option<Level>) -> Option<Level> {
    match (a, b) {
        (Some(a), Some(b)) => Some(merge(a, b)),
        (a, b) => a.or(b),
    }
}

/// The exact-match and prefix-match rules for one name (Consul's radix leaf).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Leaf {
    exact: Option<Level>,
    prefix: Option<Level>,
}

/// One resource's rules, sorted by name, standing in for Consul's radix tree.
///
/// Lookups are O(p · log n) comparisons, p the number of distinct prefix-rule name
/// lengths (a handful in practice) and n the number of names, and allocate nothing.
#[derive(Debug, Clone, Default)]
struct Tree {
    entries: Vec<(Box<str>, Leaf)>,
    /// The distinct lengths of prefix-rule names, longest first: the only lengths at which
    /// a prefix rule can match.
    prefix_lens: Vec<usize>,
}

impl Tree {
    fn build(leaves: BTreeMap<&str, Leaf>) -> Tree {
        let mut prefix_lens: Vec<usize> = leaves
            .iter()
            .filter(|(_, l)| l.prefix.is_some())
            .map(|(k, _)| k.len())
            .collect();
        prefix_lens.sort_unstable_by(|a, b| b.cmp(a));
        prefix_lens.dedup();
        let entries = leaves.into_iter().map(|(k, l)| (Box::from(k), l)).collect();
        Tree {
            entries,
            prefix_lens,
        }
    }

    fn get(&self, name: &str) -> Option<&Leaf> {
        self.entries
            .binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// The longest prefix rule whose name is a prefix of `name` (`name` itself included).
    fn longest_prefix(&self, name: &str) -> Option<Level> {
        self.prefix_lens
            .iter()
            .filter(|&&len| len <= name.len() && name.is_char_boundary(len))
            .find_map(|&len| self.get(&name[..len]).and_then(|l| l.prefix))
    }

    /// Consul's `getPolicy`: the exact rule for `name`, else the longest prefix rule.
    fn lookup(&self, name: &str) -> Option<Level> {
        self.get(name)
            .and_then(|l| l.exact)
            .or_else(|| self.longest_prefix(name))
    }

    /// The entries whose names start with `prefix` (a contiguous run of the sorted list).
    fn under<'t>(&'t self, prefix: &'t str) -> impl Iterator<Item = &'t Leaf> + 't {
        let start = self.entries.partition_point(|(k, _)| **k < *prefix);
        self.entries[start..]
            .iter()
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, l)| l)
    }

    /// Consul's `anyAllowed`: Allow if any rule grants `need`; else Deny if the catch-all
    /// prefix rule (`""`) denies; else Default.
    fn any_allowed(&self, need: Need) -> Decision {
        let mut decision = Decision::Default;
        if let Some(prefix) = self.get("").and_then(|l| l.prefix) {
            decision = enforce(prefix, need);
            if decision == Decision::Allow {
                return Decision::Allow;
            }
        }
        let grants = |l: Option<Level>| l.is_some_and(|l| enforce(l, need) == Decision::Allow);
        if self
            .entries
            .iter()
            .any(|(_, l)| grants(l.prefix) || grants(l.exact))
        {
            return Decision::Allow;
        }
        decision
    }

    /// Consul's `allAllowed`: Deny if the catch-all prefix rule or any rule denies `need`;
    /// else the catch-all prefix rule's decision (Allow), or Default without one.
    fn all_allowed(&self, need: Need) -> Decision {
        let mut decision = Decision::Default;
        if let Some(prefix) = self.get("").and_then(|l| l.prefix) {
            decision = enforce(prefix, need);
            if decision == Decision::Deny {
                return Decision::Deny;
            }
        }
        let denies = |l: &Leaf| {
            let prefix = l.prefix.map_or(Decision::Default, |p| enforce(p, need));
            let d = match l.exact {
                Some(e) if prefix != Decision::Deny => enforce(e, need),
                _ => prefix,
            };
            d == Decision::Deny
        };
        if self.entries.iter().any(|(_, l)| denies(l)) {
            return Decision::Deny;
        }
        decision
    }
}

/// The named resources' trees, by index.
const AGENT: usize = 0;
const EVENT: usize = 1;
const KEY: usize = 2;
const NODE: usize = 3;
const QUERY: usize = 4;
const SERVICE: usize = 5;
const SESSION: usize = 6;
/// Service intentions: derived from service rules, looked up like them.
const INTENTION: usize = 7;
const TREES: usize = 8;

fn tree_index(resource: Resource) -> Option<usize> {
    match resource {
        Resource::Agent => Some(AGENT),
        Resource::Event => Some(EVENT),
        Resource::Key => Some(KEY),
        Resource::Node => Some(NODE),
        Resource::Query => Some(QUERY),
        Resource::Service => Some(SERVICE),
        Resource::Session => Some(SESSION),
        _ => None,
    }
}

/// The scalars, by index.
fn scalar_index(resource: Resource) -> Option<usize> {
    match resource {
        Resource::Acl => Some(0),
        Resource::Keyring => Some(1),
        Resource::Mesh => Some(2),
        Resource::Operator => Some(3),
        Resource::Peering => Some(4),
        _ => None,
    }
}

/// A token's merged rules, built once per token, chained to the agent's default policy.
#[derive(Debug, Clone)]
pub struct Authorizer {
    management: bool,
    default_allow: bool,
    trees: [Tree; TREES],
    scalars: [Option<Level>; 5],
}

impl Authorizer {
    /// Merges every policy's rules (several `Rules`, e.g. a token's policies, its roles'
    /// policies and synthetic identity policies), as Consul's `MergePolicies` does: rules
    /// for the same resource, match kind and name merge by precedence deny > write > list >
    /// read (a service rule's intentions merge the same way, separately). `default_allow`:
    /// the agent's `acl.default_policy` is "allow".
    pub fn new(rules: &[&Rules], default_allow: bool) -> Authorizer {
        // (resource, prefix, name) -> (policy, intentions)
        let mut merged: BTreeMap<(Resource, bool, &str), (Level, Option<Level>)> = BTreeMap::new();
        let mut scalars = [None; 5];
        for r in rules {
            for rule in &r.named {
                merged
                    .entry((rule.resource, rule.prefix, rule.name.as_str()))
                    .and_modify(|(p, i)| {
                        *p = merge(*p, rule.policy);
                        *i = merge_opt(*i, rule.intentions);
                    })
                    .or_insert((rule.policy, rule.intentions));
            }
            for &(resource, level) in &r.scalars {
                if let Some(i) = scalar_index(resource) {
                    scalars[i] = merge_opt(scalars[i], Some(level));
                }
            }
        }

        let mut leaves: [BTreeMap<&str, Leaf>; TREES] = Default::default();
        let mut set = |tree: usize, name, prefix: bool, level| {
            let leaf = leaves[tree].entry(name).or_default();
            if prefix {
                leaf.prefix = Some(level);
            } else {
                leaf.exact = Some(level);
            }
        };
        for ((resource, prefix, name), (policy, intentions)) in merged {
            let Some(tree) = tree_index(resource) else {
                continue;
            };
            set(tree, name, prefix, policy);
            if tree == SERVICE {
                // Unset intentions follow the policy: read or write gives read, else deny
                // (`loadRules`), decided after merging.
                let derived = match policy {
                    Level::Read | Level::Write => Level::Read,
                    Level::Deny | Level::List => Level::Deny,
                };
                set(INTENTION, name, prefix, intentions.unwrap_or(derived));
            }
        }
        Authorizer {
            management: false,
            default_allow,
            trees: leaves.map(Tree::build),
            scalars,
        }
    }

    /// The global-management policy's authorizer: everything allowed.
    ///
    /// A shortcut: Consul compiles `global-management` like any policy, so a token holding
    /// it and also a policy with a deny rule is denied there. Callers that need that merge
    /// pass the builtin rules to [`Authorizer::new`] instead.
    pub fn management() -> Authorizer {
        Authorizer {
            management: true,
            default_allow: true,
            trees: Default::default(),
            scalars: [None; 5],
        }
    }

    /// Whether this is [`Authorizer::management`].
    pub fn is_management(&self) -> bool {
        self.management
    }

    /// Whether `need` on `resource` named `name` is allowed (scalars ignore `name`).
    ///
    /// Named resources: the exact rule for `name`, else the longest prefix rule, else the
    /// default policy. `Need::List` is Consul's `KeyList` on keys (whether
    /// `acl.enable_key_list_policy` is on is the caller's business). Scalars: the rule, else
    /// (mesh, peering) the operator rule, else the default, except that `acl` is denied
    /// without a rule even when the default is allow.
    pub fn allows(&self, resource: Resource, name: &str, need: Need) -> bool {
        if self.management {
            return true;
        }
        let decision = match tree_index(resource) {
            Some(tree) => self.trees[tree]
                .lookup(name)
                .map_or(Decision::Default, |l| enforce(l, need)),
            None => self
                .scalar(resource)
                .map_or(Decision::Default, |l| enforce(l, need)),
        };
        self.chain(resource, decision)
    }

    /// Intentions on `service:<name>` (Consul's `IntentionRead`/`IntentionWrite`): a
    /// service rule's `intentions`, or read where its policy is read or write and deny
    /// where it is deny. `name` `"*"` asks about every intention: read (or list) needs any
    /// rule granting it, write needs no rule denying it and the catch-all `service_prefix
    /// ""` (or the default) granting it.
    pub fn intention_allows(&self, name: &str, need: Need) -> bool {
        if self.management {
            return true;
        }
        let tree = &self.trees[INTENTION];
        let decision = match (name, need) {
            ("*", Need::Write) => tree.all_allowed(need),
            ("*", _) => tree.any_allowed(need),
            _ => tree
                .lookup(name)
                .map_or(Decision::Default, |l| enforce(l, need)),
        };
        self.chain(Resource::Service, decision)
    }

    /// Whether some rule grants `need` on some name of `resource` (Consul's `anyAllowed`,
    /// e.g. `ServiceWriteAny`); without one, a denying catch-all prefix rule (`""`) denies
    /// and otherwise the default decides. Scalars: as [`Authorizer::allows`].
    pub fn allows_any(&self, resource: Resource, need: Need) -> bool {
        match tree_index(resource) {
            Some(_) if self.management => true,
            Some(tree) => self.chain(resource, self.trees[tree].any_allowed(need)),
            None => self.allows(resource, "", need),
        }
    }

    /// Whether `need` is granted on every name of `resource` (Consul's `allAllowed`, e.g.
    /// `NodeReadAll`, `ServiceReadAll`): no rule denies it, and the catch-all prefix rule
    /// (`""`) or, without one, the default grants it. Scalars: as [`Authorizer::allows`].
    pub fn allows_all(&self, resource: Resource, need: Need) -> bool {
        match tree_index(resource) {
            Some(_) if self.management => true,
            Some(tree) => self.chain(resource, self.trees[tree].all_allowed(need)),
            None => self.allows(resource, "", need),
        }
    }

    /// Consul's `KeyWritePrefix`: write on every key under `prefix` (a recursive delete).
    /// The longest prefix rule covering `prefix` (or, without one, the default) grants
    /// write, and no rule (exact or prefix) whose name starts with `prefix` has a level
    /// other than write. O(p · log n + m), m the rules under `prefix`.
    pub fn key_write_prefix(&self, prefix: &str) -> bool {
        if self.management {
            return true;
        }
        let tree = &self.trees[KEY];
        let base = tree.longest_prefix(prefix);
        if base.is_some_and(|l| l != Level::Write) {
            return false;
        }
        let not_write = |l: Option<Level>| l.is_some_and(|l| l != Level::Write);
        if tree
            .under(prefix)
            .any(|l| not_write(l.exact) || not_write(l.prefix))
        {
            return false;
        }
        base.is_some() || self.default_allow
    }

    fn scalar(&self, resource: Resource) -> Option<Level> {
        let own = scalar_index(resource).and_then(|i| self.scalars[i]);
        match resource {
            // `MeshRead`/`PeeringRead` and their writes default to the operator rule.
            Resource::Mesh | Resource::Peering => own.or(self.scalars[3]),
            _ => own,
        }
    }

    /// The chain's end: `RootAuthorizer(default_policy)`. Its "allow" is `AllowAll`, which
    /// still denies `acl` (only `ManageAll` allows it).
    fn chain(&self, resource: Resource, decision: Decision) -> bool {
        match decision {
            Decision::Allow => true,
            Decision::Deny => false,
            Decision::Default => self.default_allow && resource != Resource::Acl,
        }
    }
}
