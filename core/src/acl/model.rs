//! The ACL objects as the log and snapshots carry them (rkyv), in Consul's terms: policies,
//! tokens, roles, auth methods, binding rules. Their JSON shapes live in `http::acl_json`.

use rkyv::{Archive, Deserialize, Serialize};

/// The built-in `global-management` policy (everything allowed).
pub const GLOBAL_MANAGEMENT_ID: &str = "00000000-0000-0000-0000-000000000001";
pub const GLOBAL_MANAGEMENT_NAME: &str = "global-management";
/// The built-in `builtin/global-read-only` policy (read everything).
pub const GLOBAL_READ_ONLY_ID: &str = "00000000-0000-0000-0000-000000000002";
pub const GLOBAL_READ_ONLY_NAME: &str = "builtin/global-read-only";
/// The anonymous token: what a request without a token (and no agent default) is.
pub const ANONYMOUS_ACCESSOR: &str = "00000000-0000-0000-0000-000000000002";
pub const ANONYMOUS_SECRET: &str = "anonymous";
/// Policy and token IDs with this prefix are Consul's reserved built-ins.
pub const RESERVED_ID_PREFIX: &str = "00000000-0000-0000-0000-0000000000";

/// The rules of `global-management` as Consul writes them.
pub const GLOBAL_MANAGEMENT_RULES: &str = r#"
acl = "write"
agent_prefix "" {
  policy = "write"
}
event_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "write"
}
keyring = "write"
node_prefix "" {
  policy = "write"
}
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
  intentions = "write"
}
session_prefix "" {
  policy = "write"
}"#;

/// The rules of `builtin/global-read-only`.
pub const GLOBAL_READ_ONLY_RULES: &str = r#"
acl = "read"
agent_prefix "" {
  policy = "read"
}
event_prefix "" {
  policy = "read"
}
key_prefix "" {
  policy = "read"
}
keyring = "read"
node_prefix "" {
  policy = "read"
}
operator = "read"
mesh = "read"
peering = "read"
query_prefix "" {
  policy = "read"
}
service_prefix "" {
  policy = "read"
  intentions = "read"
}
session_prefix "" {
  policy = "read"
}"#;

/// A policy: named rules.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AclPolicy {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The rules text as given (HCL or JSON), parsed when an authorizer is built.
    pub rules: String,
    pub datacenters: Vec<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A token's or role's link to a policy or role: by ID; the name is looked up when shown.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub name: String,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ServiceIdentity {
    pub service_name: String,
    pub datacenters: Vec<String>,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node_name: String,
    pub datacenter: String,
}

/// A link to one of Consul's built-in policy templates (`builtin/service`, ...).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TemplatedPolicyLink {
    pub template_name: String,
    /// `TemplateVariables.Name` (the only variable Consul's templates take).
    pub name: String,
    pub datacenters: Vec<String>,
}

/// What a token or role grants besides its policies.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Grants {
    pub policies: Vec<Link>,
    pub roles: Vec<Link>,
    pub service_identities: Vec<ServiceIdentity>,
    pub node_identities: Vec<NodeIdentity>,
    pub templated_policies: Vec<TemplatedPolicyLink>,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AclToken {
    pub accessor_id: String,
    pub secret_id: String,
    pub description: String,
    /// Roles are in `grants.roles`; a role's own `grants.roles` is always empty.
    pub grants: Grants,
    pub local: bool,
    pub auth_method: String,
    /// Unix nanoseconds; 0 = never expires.
    pub expiration_time_ns: u64,
    /// As given on create (`"1h"`), shown back; empty for none.
    pub expiration_ttl: String,
    /// Unix nanoseconds, set by the server that proposed the create.
    pub create_time_ns: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AclRole {
    pub id: String,
    pub name: String,
    pub description: String,
    pub grants: Grants,
    pub create_index: u64,
    pub modify_index: u64,
}

/// An auth method. Its type-specific `Config` is kept as JSON text (validated by type when
/// written, read by login).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AclAuthMethod {
    pub name: String,
    pub kind: String,
    pub display_name: String,
    pub description: String,
    pub max_token_ttl_ns: u64,
    pub token_locality: String,
    pub config_json: String,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AclBindingRule {
    pub id: String,
    pub description: String,
    pub auth_method: String,
    pub selector: String,
    pub bind_type: String,
    pub bind_name: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Every ACL write, as one log payload (`state::Command::Acl`).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum AclCommand {
    /// The leader's ACL init: the built-in policies and the anonymous token when missing,
    /// and `acl.tokens.initial_management` (which bootstraps, as Consul's does, when the
    /// system has not been bootstrapped).
    Init {
        initial_management: Option<AclToken>,
        anonymous_create_time_ns: u64,
    },
    /// `PUT /v1/acl/bootstrap`: allowed once, or again with the reset index.
    Bootstrap {
        token: AclToken,
        reset_index: Option<u64>,
    },
    PolicySet(AclPolicy),
    PolicyDelete {
        id: String,
    },
    /// Create or update (the proposer resolved links and checked the request).
    TokenSet(AclToken),
    TokenDelete {
        accessor_id: String,
    },
    RoleSet(AclRole),
    RoleDelete {
        id: String,
    },
    AuthMethodSet(AclAuthMethod),
    /// Deletes the method, its binding rules and the tokens it issued.
    AuthMethodDelete {
        name: String,
    },
    BindingRuleSet(AclBindingRule),
    BindingRuleDelete {
        id: String,
    },
    /// The leader's reaper: tokens expired at `now_ns` (its clock, carried in the entry so
    /// every replica deletes the same ones).
    ReapExpired {
        now_ns: u64,
    },
}

/// The ACL part of a snapshot.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct AclSnapshot {
    pub policies: Vec<AclPolicy>,
    pub tokens: Vec<AclToken>,
    pub roles: Vec<AclRole>,
    pub auth_methods: Vec<AclAuthMethod>,
    pub binding_rules: Vec<AclBindingRule>,
    /// The index of the last bootstrap (0: never), Consul's reset index.
    pub bootstrap_index: u64,
    /// The table's index.
    pub index: u64,
}

/// The agent's own tokens (`acl.tokens.*`, `PUT /v1/agent/token/<kind>`). Not replicated:
/// each agent has its own, persisted in `acl-tokens.json` when `enable_token_persistence`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentTokens {
    /// Created by the leader on ACL init (never persisted by the agent).
    #[serde(skip)]
    pub initial_management: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent: String,
    /// Always has `agent:write` on this agent, even with no server in reach.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_recovery: String,
    /// Used for requests that carry no token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub replication: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_file_service_registration: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns: String,
}

impl AgentTokens {
    /// Sets the token of `kind` as `/v1/agent/token/<kind>` names it (with Consul's old
    /// names); `false` for a kind Consul does not know.
    pub fn set(&mut self, kind: &str, token: String) -> bool {
        let slot = match kind {
            "default" | "acl_token" => &mut self.default,
            "agent" | "acl_agent_token" => &mut self.agent,
            "agent_recovery" | "agent_master" | "acl_agent_master_token" => {
                &mut self.agent_recovery
            }
            "replication" | "acl_replication_token" => &mut self.replication,
            "config_file_service_registration" => &mut self.config_file_service_registration,
            "dns" => &mut self.dns,
            _ => return false,
        };
        *slot = token;
        true
    }
}
