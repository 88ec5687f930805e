//! `AclTable`: the ACL state one server keeps (replicated on every shard, as the session
//! table is), changed only by committed `AclCommand`s, and the resolution of a secret into
//! an `Authorizer`.
//!
//! The proposer (the leader's HTTP handler) checks a request against this table and turns
//! names into IDs before it proposes (`prepare_*` in `acl::request`); `apply` checks again
//! what a concurrent write could have changed meanwhile (a name taken, a bootstrap done), so
//! every replica reaches the same answer from the same entries.

use std::collections::BTreeMap;

use super::authorizer::Authorizer;
use super::model::*;
use super::rules::{parse_rules, Rules};
use super::templates;
use crate::error::ApiError;

/// The replicated ACL state.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AclTable {
    policies: BTreeMap<String, AclPolicy>,
    tokens: BTreeMap<String, AclToken>,
    /// SecretID → AccessorID.
    secrets: BTreeMap<String, String>,
    roles: BTreeMap<String, AclRole>,
    auth_methods: BTreeMap<String, AclAuthMethod>,
    binding_rules: BTreeMap<String, AclBindingRule>,
    /// The index of the last bootstrap; 0 = never bootstrapped.
    bootstrap_index: u64,
    /// The last index that changed anything here (reads' `X-Consul-Index`, cache keys).
    index: u64,
}

/// Why a secret does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// Unknown or expired secret: 403 `ACL not found`.
    NotFound,
}

/// A resolved token: who it is (for 403 texts) and what it may do.
#[derive(Debug)]
pub struct Identity {
    pub accessor_id: String,
    pub authorizer: Authorizer,
    /// The agent's `acl.enable_key_list_policy`: recursive KV reads also need `key:list`.
    pub key_list_policy: bool,
}

impl AclTable {
    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn bootstrap_index(&self) -> u64 {
        self.bootstrap_index
    }

    pub fn policy(&self, id: &str) -> Option<&AclPolicy> {
        self.policies.get(id)
    }

    pub fn policy_by_name(&self, name: &str) -> Option<&AclPolicy> {
        self.policies.values().find(|p| p.name == name)
    }

    pub fn policies(&self) -> impl Iterator<Item = &AclPolicy> {
        self.policies.values()
    }

    pub fn token(&self, accessor_id: &str) -> Option<&AclToken> {
        self.tokens.get(accessor_id)
    }

    pub fn token_by_secret(&self, secret: &str) -> Option<&AclToken> {
        self.secrets.get(secret).and_then(|a| self.tokens.get(a))
    }

    pub fn tokens(&self) -> impl Iterator<Item = &AclToken> {
        self.tokens.values()
    }

    pub fn role(&self, id: &str) -> Option<&AclRole> {
        self.roles.get(id)
    }

    pub fn role_by_name(&self, name: &str) -> Option<&AclRole> {
        self.roles.values().find(|r| r.name == name)
    }

    pub fn roles(&self) -> impl Iterator<Item = &AclRole> {
        self.roles.values()
    }

    pub fn auth_method(&self, name: &str) -> Option<&AclAuthMethod> {
        self.auth_methods.get(name)
    }

    pub fn auth_methods(&self) -> impl Iterator<Item = &AclAuthMethod> {
        self.auth_methods.values()
    }

    pub fn binding_rule(&self, id: &str) -> Option<&AclBindingRule> {
        self.binding_rules.get(id)
    }

    pub fn binding_rules(&self) -> impl Iterator<Item = &AclBindingRule> {
        self.binding_rules.values()
    }

    /// Applies a committed ACL write at `index`. `Err` carries Consul's status and text;
    /// nothing changes then.
    pub fn apply(&mut self, index: u64, cmd: &AclCommand) -> Result<(), ApiError> {
        assert!(
            index > self.index || index == 0,
            "ACL entry {index} after {}",
            self.index
        );
        let internal = |t: String| Err(ApiError::Internal(t));
        match cmd {
            AclCommand::Init {
                initial_management,
                anonymous_create_time_ns,
            } => {
                self.init_builtins(index, *anonymous_create_time_ns);
                if let Some(token) = initial_management {
                    if self.secrets.contains_key(&token.secret_id) {
                        self.index = index; // the built-ins above may have changed
                        return Ok(());
                    }
                    if self.bootstrap_index == 0 {
                        self.bootstrap_index = index;
                    }
                    self.put_token(index, token.clone());
                }
            }
            AclCommand::Bootstrap { token, reset_index } => {
                if self.bootstrap_index != 0 && *reset_index != Some(self.bootstrap_index) {
                    return Err(match reset_index {
                        Some(given) => ApiError::Internal(format!(
                            "Invalid bootstrap reset index (specified {given}, reset index: {})",
                            self.bootstrap_index
                        )),
                        None => ApiError::PermissionDenied(format!(
                            "ACL bootstrap no longer allowed (reset index: {})",
                            self.bootstrap_index
                        )),
                    });
                }
                self.init_builtins(index, token.create_time_ns);
                self.bootstrap_index = index;
                self.put_token(index, token.clone());
            }
            AclCommand::PolicySet(policy) => {
                if let Some(other) = self.policy_by_name(&policy.name) {
                    if other.id != policy.id {
                        return internal(format!(
                            "Invalid Policy: A Policy with Name {:?} already exists",
                            policy.name
                        ));
                    }
                }
                let mut policy = policy.clone();
                policy.create_index = self
                    .policies
                    .get(&policy.id)
                    .map_or(index, |p| p.create_index);
                policy.modify_index = index;
                self.policies.insert(policy.id.clone(), policy);
            }
            AclCommand::PolicyDelete { id } => {
                if id == GLOBAL_MANAGEMENT_ID {
                    return internal(
                        "Delete operation not permitted on the builtin global-management policy"
                            .into(),
                    );
                }
                if self.policies.remove(id).is_none() {
                    return Err(ApiError::NotFound("Cannot find policy to delete".into()));
                }
            }
            AclCommand::TokenSet(token) => {
                if let Some(owner) = self.secrets.get(&token.secret_id) {
                    if *owner != token.accessor_id {
                        return internal("Invalid Token: SecretID is already in use".into());
                    }
                }
                self.put_token(index, token.clone());
            }
            AclCommand::TokenDelete { accessor_id } => {
                if accessor_id == ANONYMOUS_ACCESSOR {
                    return internal(
                        "Delete operation not permitted on the anonymous token".into(),
                    );
                }
                let Some(token) = self.tokens.remove(accessor_id) else {
                    return Err(ApiError::NotFound("Cannot find token to delete".into()));
                };
                self.secrets.remove(&token.secret_id);
            }
            AclCommand::RoleSet(role) => {
                if let Some(other) = self.role_by_name(&role.name) {
                    if other.id != role.id {
                        return internal(format!(
                            "Invalid Role: A Role with Name {:?} already exists",
                            role.name
                        ));
                    }
                }
                let mut role = role.clone();
                role.create_index = self.roles.get(&role.id).map_or(index, |r| r.create_index);
                role.modify_index = index;
                self.roles.insert(role.id.clone(), role);
            }
            AclCommand::RoleDelete { id } => {
                if self.roles.remove(id).is_none() {
                    return Err(ApiError::NotFound("Cannot find role to delete".into()));
                }
            }
            AclCommand::AuthMethodSet(method) => {
                let mut method = method.clone();
                method.create_index = self
                    .auth_methods
                    .get(&method.name)
                    .map_or(index, |m| m.create_index);
                method.modify_index = index;
                self.auth_methods.insert(method.name.clone(), method);
            }
            AclCommand::AuthMethodDelete { name } => {
                if self.auth_methods.remove(name).is_none() {
                    return Err(ApiError::NotFound(
                        "Cannot find auth method to delete".into(),
                    ));
                }
                self.binding_rules.retain(|_, r| r.auth_method != *name);
                let issued: Vec<String> = (self.tokens.values())
                    .filter(|t| t.auth_method == *name)
                    .map(|t| t.accessor_id.clone())
                    .collect();
                for accessor in issued {
                    if let Some(t) = self.tokens.remove(&accessor) {
                        self.secrets.remove(&t.secret_id);
                    }
                }
            }
            AclCommand::BindingRuleSet(rule) => {
                if !self.auth_methods.contains_key(&rule.auth_method) {
                    return internal(format!(
                        "Invalid Binding Rule: AuthMethod is not found: {:?}",
                        rule.auth_method
                    ));
                }
                let mut rule = rule.clone();
                rule.create_index = self
                    .binding_rules
                    .get(&rule.id)
                    .map_or(index, |r| r.create_index);
                rule.modify_index = index;
                self.binding_rules.insert(rule.id.clone(), rule);
            }
            AclCommand::BindingRuleDelete { id } => {
                if self.binding_rules.remove(id).is_none() {
                    return Err(ApiError::NotFound(
                        "Cannot find binding rule to delete".into(),
                    ));
                }
            }
            AclCommand::ReapExpired { now_ns } => {
                let expired: Vec<String> = (self.tokens.values())
                    .filter(|t| t.expiration_time_ns != 0 && t.expiration_time_ns <= *now_ns)
                    .map(|t| t.accessor_id.clone())
                    .collect();
                for accessor in expired {
                    if let Some(t) = self.tokens.remove(&accessor) {
                        self.secrets.remove(&t.secret_id);
                    }
                }
            }
        }
        self.index = index;
        Ok(())
    }

    /// The built-in policies and the anonymous token, where missing.
    fn init_builtins(&mut self, index: u64, now_ns: u64) {
        for (id, name, rules, description) in [
            (
                GLOBAL_MANAGEMENT_ID,
                GLOBAL_MANAGEMENT_NAME,
                GLOBAL_MANAGEMENT_RULES,
                "Builtin Policy that grants unlimited access",
            ),
            (
                GLOBAL_READ_ONLY_ID,
                GLOBAL_READ_ONLY_NAME,
                GLOBAL_READ_ONLY_RULES,
                "Builtin Policy that grants unlimited read-only access to all components",
            ),
        ] {
            self.policies.entry(id.into()).or_insert_with(|| AclPolicy {
                id: id.into(),
                name: name.into(),
                description: description.into(),
                rules: rules.into(),
                datacenters: Vec::new(),
                create_index: index,
                modify_index: index,
            });
        }
        if !self.tokens.contains_key(ANONYMOUS_ACCESSOR) {
            self.put_token(
                index,
                AclToken {
                    accessor_id: ANONYMOUS_ACCESSOR.into(),
                    secret_id: ANONYMOUS_SECRET.into(),
                    description: "Anonymous Token".into(),
                    grants: Grants::default(),
                    local: false,
                    auth_method: String::new(),
                    expiration_time_ns: 0,
                    expiration_ttl: String::new(),
                    create_time_ns: now_ns,
                    create_index: index,
                    modify_index: index,
                },
            );
        }
    }

    fn put_token(&mut self, index: u64, mut token: AclToken) {
        if let Some(old) = self.tokens.get(&token.accessor_id) {
            token.create_index = old.create_index;
            self.secrets.remove(&old.secret_id);
        } else {
            token.create_index = index;
        }
        token.modify_index = index;
        self.secrets
            .insert(token.secret_id.clone(), token.accessor_id.clone());
        self.tokens.insert(token.accessor_id.clone(), token);
    }

    /// Resolves `secret` into the token's authorizer, chained to the agent's default policy.
    /// `now_ns`: an expired token no longer resolves even before the leader reaps it.
    pub fn resolve(
        &self,
        secret: &str,
        datacenter: &str,
        default_allow: bool,
        now_ns: u64,
    ) -> Result<Identity, ResolveError> {
        let token = self.token_by_secret(secret).ok_or(ResolveError::NotFound)?;
        if token.expiration_time_ns != 0 && token.expiration_time_ns <= now_ns {
            return Err(ResolveError::NotFound);
        }
        let authorizer = self.authorizer_of(&token.grants, datacenter, default_allow);
        Ok(Identity {
            accessor_id: token.accessor_id.clone(),
            authorizer,
            key_list_policy: false,
        })
    }

    /// The merged authorizer of a token's (or role's) grants: its policies, its roles'
    /// grants, and the synthetic policies of identities and templates for `datacenter`.
    pub fn authorizer_of(
        &self,
        grants: &Grants,
        datacenter: &str,
        default_allow: bool,
    ) -> Authorizer {
        let (management, texts) = self.rules_of(grants, datacenter);
        authorizer_from_texts(management, &texts, default_allow)
    }

    /// What `grants` amount to in `datacenter`: whether they include `global-management`,
    /// and every rules text (policies, roles' policies, synthetic policies). A client agent
    /// gets this from a server (`/v1/internal/acl/resolve`) and builds the same authorizer.
    pub fn rules_of(&self, grants: &Grants, datacenter: &str) -> (bool, Vec<String>) {
        let mut texts: Vec<String> = Vec::new();
        let mut management = false;
        let mut collect = |grants: &Grants, texts: &mut Vec<String>| {
            for link in &grants.policies {
                let Some(policy) = self.policies.get(&link.id) else {
                    continue; // deleted since: grants nothing
                };
                let here = policy.datacenters.is_empty()
                    || policy.datacenters.iter().any(|d| d == datacenter);
                if !here {
                    continue;
                }
                management |= policy.id == GLOBAL_MANAGEMENT_ID;
                texts.push(policy.rules.clone());
            }
            texts.extend(templates::synthetic_rules(grants, datacenter));
        };
        collect(grants, &mut texts);
        for link in &grants.roles {
            if let Some(role) = self.roles.get(&link.id) {
                collect(&role.grants, &mut texts);
            }
        }
        (management, texts)
    }

    /// The table as a snapshot part.
    pub fn export(&self) -> AclSnapshot {
        AclSnapshot {
            policies: self.policies.values().cloned().collect(),
            tokens: self.tokens.values().cloned().collect(),
            roles: self.roles.values().cloned().collect(),
            auth_methods: self.auth_methods.values().cloned().collect(),
            binding_rules: self.binding_rules.values().cloned().collect(),
            bootstrap_index: self.bootstrap_index,
            index: self.index,
        }
    }

    /// Replaces the table with a snapshot's, restored at `index`.
    pub fn restore(&mut self, index: u64, snap: &AclSnapshot) {
        *self = AclTable::default();
        for p in &snap.policies {
            self.policies.insert(p.id.clone(), p.clone());
        }
        for t in &snap.tokens {
            self.secrets
                .insert(t.secret_id.clone(), t.accessor_id.clone());
            self.tokens.insert(t.accessor_id.clone(), t.clone());
        }
        for r in &snap.roles {
            self.roles.insert(r.id.clone(), r.clone());
        }
        for m in &snap.auth_methods {
            self.auth_methods.insert(m.name.clone(), m.clone());
        }
        for r in &snap.binding_rules {
            self.binding_rules.insert(r.id.clone(), r.clone());
        }
        self.bootstrap_index = snap.bootstrap_index;
        // The snapshot's own index, so that export → restore is the identity (the simulator
        // and the state tests compare whole states), but never past the entry restoring it: a
        // snapshot from another cluster may carry a higher one, and later entries must still
        // come after it.
        self.index = match index {
            0 => snap.index,
            _ => snap.index.min(index),
        };
    }
}

/// The authorizer of resolved rules (see `AclTable::rules_of`). Rules were parsed when they
/// were written; a text that no longer parses grants nothing.
pub fn authorizer_from_texts(
    management: bool,
    texts: &[String],
    default_allow: bool,
) -> Authorizer {
    if management {
        return Authorizer::management();
    }
    let parsed: Vec<Rules> = texts.iter().filter_map(|t| parse_rules(t).ok()).collect();
    let refs: Vec<&Rules> = parsed.iter().collect();
    Authorizer::new(&refs, default_allow)
}
