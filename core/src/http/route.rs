//! The one table of HTTP routes, as code: `Route::resolve` names the endpoint, `Route::spec`
//! declares everything about it (methods, body limit, where it is served, blocking, the ACL
//! permission it needs) in one exhaustive match.

use crate::config::{
    BODY_BYTES_DEFAULT_MAX, KV_VALUE_BYTES_MAX, SNAPSHOT_BYTES_MAX, TXN_BODY_BYTES_MAX,
};

/// What a route needs; see `Route::spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// Methods it accepts (an empty list: not an API route).
    pub methods: &'static [&'static str],
    /// Largest body it reads; anything above gets 413 before the body is read.
    pub body_limit: usize,
    /// Which agent answers it.
    pub serve: Serve,
    /// Whether it answers blocking queries (`?index=&wait=`, or `?hash=` on agent routes).
    pub blocking: bool,
    /// The ACL permission it needs (enforced in one place once ACLs exist).
    pub permission: Permission,
}

/// Which agent answers a route (`node::rpc_client::forward_target` reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// This agent's own state on shard 0 (services, checks, members, events); never
    /// forwarded.
    AgentLocal,
    /// This agent, on whichever shard took the request (`agent/version`, non-API paths).
    ThisAgent,
    /// Any server of the datacenter asked (`?dc=`) from its own state (`status/*`).
    AnyServer,
    /// Any server, whatever `?dc=` says: the WAN pool knows every datacenter.
    AnyServerWanWide,
    /// The leader of the datacenter asked; reads with `?stale` by any server.
    Leader,
}

/// An ACL resource kind, as Consul's rules name them.
pub use crate::acl::Resource;

/// Where the resource's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFrom {
    /// The route's path argument (`/v1/kv/<key>`, `/v1/health/service/<name>`).
    Path,
    /// The request body or the state it names (register bodies, txn ops, a service by ID):
    /// checked by the handler, which alone knows the names.
    Body,
    /// The answering agent's own node name (`agent` rules, or `node` for maintenance).
    AgentName,
    /// A global resource with no name (`operator`, `keyring`, `acl`).
    Global,
}

/// What the request does to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Read for GET/HEAD, write for the rest.
    ByMethod,
    /// A list: every item is checked for read and the ones denied are left out
    /// (`X-Consul-Results-Filtered-By-ACLs`).
    Filter,
}

/// The permission a route needs: `None` resource for routes open to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub resource: Option<Resource>,
    pub name: NameFrom,
    pub access: Access,
}

impl Permission {
    /// Open to every token (`status/*`, `agent/version`, datacenters).
    pub const NONE: Permission = Permission {
        resource: None,
        name: NameFrom::Global,
        access: Access::Read,
    };

    fn path(resource: Resource, access: Access) -> Permission {
        let (resource, name) = (Some(resource), NameFrom::Path);
        Permission {
            resource,
            name,
            access,
        }
    }

    fn body(resource: Resource) -> Permission {
        let (resource, name, access) = (Some(resource), NameFrom::Body, Access::ByMethod);
        Permission {
            resource,
            name,
            access,
        }
    }

    fn filter(resource: Resource) -> Permission {
        let (resource, name, access) = (Some(resource), NameFrom::Body, Access::Filter);
        Permission {
            resource,
            name,
            access,
        }
    }

    fn agent(access: Access) -> Permission {
        let (resource, name) = (Some(Resource::Agent), NameFrom::AgentName);
        Permission {
            resource,
            name,
            access,
        }
    }

    /// On this agent's own node (`node` rules).
    fn own_node(access: Access) -> Permission {
        let (resource, name) = (Some(Resource::Node), NameFrom::AgentName);
        Permission {
            resource,
            name,
            access,
        }
    }

    fn global(resource: Resource, access: Access) -> Permission {
        let (resource, name) = (Some(resource), NameFrom::Global);
        Permission {
            resource,
            name,
            access,
        }
    }
}

/// A recognised endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v1/kv/<key>` (key may be empty).
    Kv(String),
    Txn,
    StatusLeader,
    StatusPeers,
    AgentSelf,
    AgentVersion,
    /// `PUT /v1/agent/reload`: the config sources re-read.
    AgentReload,
    /// `GET /v1/agent/monitor`: the agent's log, streamed.
    AgentMonitor,
    /// `GET /v1/agent/metrics` (JSON, or Prometheus text).
    AgentMetrics,
    /// `GET /v1/agent/metrics/stream`: a summary every interval.
    AgentMetricsStream,
    CatalogRegister,
    CatalogDeregister,
    CatalogDatacenters,
    CatalogNodes,
    CatalogServices,
    /// `/v1/catalog/service/<name>`
    CatalogService(String),
    /// `/v1/catalog/node/<node>`
    CatalogNode(String),
    /// `/v1/catalog/node-services/<node>`
    CatalogNodeServices(String),
    /// `/v1/health/node/<node>`
    HealthNode(String),
    /// `/v1/health/checks/<service>`
    HealthChecks(String),
    /// `/v1/health/state/<state>`
    HealthState(String),
    /// `/v1/health/service/<service>`
    HealthService(String),
    AgentServices,
    AgentService(String),
    AgentServiceRegister,
    AgentServiceDeregister(String),
    AgentServiceMaintenance(String),
    AgentChecks,
    AgentCheckRegister,
    AgentCheckDeregister(String),
    AgentCheckPass(String),
    AgentCheckWarn(String),
    AgentCheckFail(String),
    AgentCheckUpdate(String),
    AgentHealthServiceId(String),
    AgentHealthServiceName(String),
    AgentMaintenance,
    AgentMembers,
    AgentJoin(String),
    AgentLeave,
    AgentForceLeave(String),
    OperatorRaftConfiguration,
    OperatorRaftPeer,
    /// `/v1/operator/raft/transfer-leader`
    OperatorRaftTransferLeader,
    /// `/v1/operator/autopilot/configuration` (GET, PUT with `cas`).
    OperatorAutopilotConfiguration,
    OperatorAutopilotHealth,
    OperatorAutopilotState,
    /// `/v1/operator/usage`: counts of services, instances and nodes.
    OperatorUsage,
    /// `/v1/agent/host`: the host the agent runs on.
    AgentHost,
    /// `PUT /v1/config`: write a config entry.
    ConfigWrite,
    /// `GET|DELETE /v1/config/<kind>/<name>`.
    ConfigEntry(String, String),
    /// `GET /v1/config/<kind>`.
    ConfigList(String),
    /// `GET|POST /v1/query`: list, create.
    Queries,
    /// `GET|PUT|DELETE /v1/query/<id>`.
    Query(String),
    /// `GET /v1/query/<id or name>/execute`.
    QueryExecute(String),
    /// `GET /v1/query/<id or name>/explain`.
    QueryExplain(String),
    OperatorKeyring,
    CoordinateDatacenters,
    CoordinateNodes,
    /// `/v1/coordinate/node/<node>`
    CoordinateNode(String),
    CoordinateUpdate,
    Snapshot,
    EventFire(String),
    EventList,
    SessionCreate,
    /// `/v1/session/destroy/<id>`
    SessionDestroy(String),
    /// `/v1/session/renew/<id>`
    SessionRenew(String),
    /// `/v1/session/info/<id>`
    SessionInfo(String),
    /// `/v1/session/node/<node>`
    SessionNode(String),
    SessionList,
    /// `/v1/acl/*`.
    Acl(AclEndpoint),
    /// `/v1/agent/token/<kind>`.
    AgentToken(String),
    /// `/v1/internal/acl/resolve`: what a client agent asks a server for a token it must
    /// check itself (its accessor and rules); the presented token alone is the credential.
    AclResolve,
    /// `/v1/internal/ui/services` and `/v1/internal/ui/nodes`: the web UI's summaries.
    UiServices,
    UiNodes,
    /// `GET /` when the UI is off (with it on, `http::ui` answers first).
    Root,
    /// Under `/v1/` but not an endpoint we serve.
    UnknownApi,
    /// Anywhere else.
    NotApi,
}

/// An endpoint under `/v1/acl/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclEndpoint {
    Bootstrap,
    PolicyCreate,
    /// `/v1/acl/policy/<id>`
    Policy(String),
    /// `/v1/acl/policy/name/<name>`
    PolicyByName(String),
    Policies,
    TokenCreate,
    TokenSelf,
    /// `/v1/acl/token/<accessor>`
    Token(String),
    /// `/v1/acl/token/<accessor>/clone`
    TokenClone(String),
    Tokens,
    RoleCreate,
    Role(String),
    RoleByName(String),
    Roles,
    AuthMethodCreate,
    AuthMethod(String),
    AuthMethods,
    BindingRuleCreate,
    BindingRule(String),
    BindingRules,
    Login,
    Logout,
    TemplatedPolicies,
    /// `/v1/acl/templated-policy/name/<name>` (names hold a slash: `builtin/service`)
    TemplatedPolicy(String),
    /// `/v1/acl/templated-policy/preview/<name>`
    TemplatedPreview(String),
}

impl AclEndpoint {
    fn resolve(rest: &str) -> Option<AclEndpoint> {
        use AclEndpoint::*;
        let arg = |p: &str| rest.strip_prefix(p).map(str::to_string);
        Some(match rest {
            "bootstrap" => Bootstrap,
            "policy" => PolicyCreate,
            "policies" => Policies,
            "token" => TokenCreate,
            "token/self" => TokenSelf,
            "tokens" => Tokens,
            "role" => RoleCreate,
            "roles" => Roles,
            "auth-method" => AuthMethodCreate,
            "auth-methods" => AuthMethods,
            "binding-rule" => BindingRuleCreate,
            "binding-rules" => BindingRules,
            "login" => Login,
            "logout" => Logout,
            "templated-policies" => TemplatedPolicies,
            _ => {
                if let Some(name) = arg("policy/name/") {
                    PolicyByName(name)
                } else if let Some(id) = arg("policy/") {
                    Policy(id)
                } else if let Some(id) = rest
                    .strip_prefix("token/")
                    .and_then(|r| r.strip_suffix("/clone"))
                {
                    TokenClone(id.to_string())
                } else if let Some(id) = arg("token/") {
                    Token(id)
                } else if let Some(name) = arg("role/name/") {
                    RoleByName(name)
                } else if let Some(id) = arg("role/") {
                    Role(id)
                } else if let Some(name) = arg("auth-method/") {
                    AuthMethod(name)
                } else if let Some(id) = arg("binding-rule/") {
                    BindingRule(id)
                } else if let Some(name) = arg("templated-policy/name/") {
                    TemplatedPolicy(name)
                } else if let Some(name) = arg("templated-policy/preview/") {
                    TemplatedPreview(name)
                } else {
                    return None;
                }
            }
        })
    }

    /// Methods, and the permission: reads need `acl:read`, writes `acl:write`; bootstrap,
    /// login, logout and token/self need only what they carry.
    fn spec(&self) -> (&'static [&'static str], Permission) {
        use Access::*;
        use AclEndpoint::*;
        let acl = |a| Permission::global(Resource::Acl, a);
        const CRUD: &[&str] = &["GET", "PUT", "DELETE"];
        match self {
            Bootstrap => (&["PUT"], Permission::NONE),
            Login | Logout => (&["POST"], Permission::NONE),
            TokenSelf => (&["GET"], Permission::NONE),
            PolicyCreate | TokenCreate | RoleCreate | AuthMethodCreate | BindingRuleCreate
            | TokenClone(_) => (&["PUT"], acl(Write)),
            Policy(_) | Token(_) | Role(_) | AuthMethod(_) | BindingRule(_) => {
                (CRUD, acl(ByMethod))
            }
            PolicyByName(_) | RoleByName(_) | Policies | Tokens | Roles | AuthMethods
            | BindingRules | TemplatedPolicies | TemplatedPolicy(_) => (&["GET"], acl(Read)),
            TemplatedPreview(_) => (&["POST"], acl(Read)),
        }
    }
}

impl Route {
    /// Resolves a percent-decoded path.
    pub fn resolve(path: &str) -> Route {
        if let Some(key) = path.strip_prefix("/v1/kv/") {
            return Route::Kv(key.to_string());
        }
        if let Some(rest) = path.strip_prefix("/v1/acl/") {
            return AclEndpoint::resolve(rest).map_or(Route::UnknownApi, Route::Acl);
        }
        if path == "/v1/query" {
            return Route::Queries;
        }
        if let Some(rest) = path.strip_prefix("/v1/query/") {
            if let Some(q) = rest.strip_suffix("/execute") {
                return Route::QueryExecute(q.to_string());
            }
            if let Some(q) = rest.strip_suffix("/explain") {
                return Route::QueryExplain(q.to_string());
            }
            return Route::Query(rest.to_string());
        }
        if path == "/v1/config" {
            return Route::ConfigWrite;
        }
        if let Some(rest) = path.strip_prefix("/v1/config/") {
            return match rest.split_once('/') {
                Some((kind, name)) => Route::ConfigEntry(kind.to_string(), name.to_string()),
                None => Route::ConfigList(rest.to_string()),
            };
        }
        match path {
            "/v1/agent/service/register" => return Route::AgentServiceRegister,
            "/v1/agent/check/register" => return Route::AgentCheckRegister,
            _ => {}
        }
        type Make = fn(String) -> Route;
        const PREFIXED: &[(&str, Make)] = &[
            ("/v1/catalog/service/", Route::CatalogService),
            ("/v1/catalog/node/", Route::CatalogNode),
            ("/v1/catalog/node-services/", Route::CatalogNodeServices),
            ("/v1/health/node/", Route::HealthNode),
            ("/v1/health/checks/", Route::HealthChecks),
            ("/v1/health/state/", Route::HealthState),
            ("/v1/health/service/", Route::HealthService),
            // Longer prefixes first: "/v1/agent/service/" would swallow these.
            (
                "/v1/agent/service/deregister/",
                Route::AgentServiceDeregister,
            ),
            (
                "/v1/agent/service/maintenance/",
                Route::AgentServiceMaintenance,
            ),
            ("/v1/agent/service/", Route::AgentService),
            ("/v1/agent/join/", Route::AgentJoin),
            ("/v1/agent/token/", Route::AgentToken),
            ("/v1/event/fire/", Route::EventFire),
            ("/v1/session/destroy/", Route::SessionDestroy),
            ("/v1/session/renew/", Route::SessionRenew),
            ("/v1/session/info/", Route::SessionInfo),
            ("/v1/session/node/", Route::SessionNode),
            ("/v1/coordinate/node/", Route::CoordinateNode),
            ("/v1/agent/force-leave/", Route::AgentForceLeave),
            ("/v1/agent/check/deregister/", Route::AgentCheckDeregister),
            ("/v1/agent/check/pass/", Route::AgentCheckPass),
            ("/v1/agent/check/warn/", Route::AgentCheckWarn),
            ("/v1/agent/check/fail/", Route::AgentCheckFail),
            ("/v1/agent/check/update/", Route::AgentCheckUpdate),
            ("/v1/agent/health/service/id/", Route::AgentHealthServiceId),
            (
                "/v1/agent/health/service/name/",
                Route::AgentHealthServiceName,
            ),
        ];
        for (prefix, make) in PREFIXED {
            if let Some(rest) = path.strip_prefix(prefix) {
                return make(rest.to_string());
            }
        }
        match path {
            "/v1/txn" => Route::Txn,
            "/v1/status/leader" => Route::StatusLeader,
            "/v1/status/peers" => Route::StatusPeers,
            "/v1/agent/self" => Route::AgentSelf,
            "/v1/agent/version" => Route::AgentVersion,
            "/v1/agent/reload" => Route::AgentReload,
            "/v1/agent/monitor" => Route::AgentMonitor,
            "/v1/agent/metrics" => Route::AgentMetrics,
            "/v1/agent/metrics/stream" => Route::AgentMetricsStream,
            "/v1/catalog/register" => Route::CatalogRegister,
            "/v1/agent/services" => Route::AgentServices,
            "/v1/agent/checks" => Route::AgentChecks,
            "/v1/agent/maintenance" => Route::AgentMaintenance,
            "/v1/agent/members" => Route::AgentMembers,
            "/v1/agent/leave" => Route::AgentLeave,
            "/v1/operator/raft/configuration" => Route::OperatorRaftConfiguration,
            "/v1/operator/raft/peer" => Route::OperatorRaftPeer,
            "/v1/operator/raft/transfer-leader" => Route::OperatorRaftTransferLeader,
            "/v1/operator/autopilot/configuration" => Route::OperatorAutopilotConfiguration,
            "/v1/operator/autopilot/health" => Route::OperatorAutopilotHealth,
            "/v1/operator/autopilot/state" => Route::OperatorAutopilotState,
            "/v1/operator/usage" => Route::OperatorUsage,
            "/v1/agent/host" => Route::AgentHost,
            "/v1/operator/keyring" => Route::OperatorKeyring,
            "/v1/coordinate/datacenters" => Route::CoordinateDatacenters,
            "/v1/coordinate/nodes" => Route::CoordinateNodes,
            "/v1/coordinate/update" => Route::CoordinateUpdate,
            "/v1/snapshot" => Route::Snapshot,
            "/v1/event/list" => Route::EventList,
            "/v1/session/create" => Route::SessionCreate,
            "/v1/session/list" => Route::SessionList,
            "/v1/internal/acl/resolve" => Route::AclResolve,
            "/v1/internal/ui/services" => Route::UiServices,
            "/v1/internal/ui/nodes" => Route::UiNodes,
            "/v1/catalog/deregister" => Route::CatalogDeregister,
            "/v1/catalog/datacenters" => Route::CatalogDatacenters,
            "/v1/catalog/nodes" => Route::CatalogNodes,
            "/v1/catalog/services" => Route::CatalogServices,
            "/" => Route::Root,
            p if p.contains("/v1/") => Route::UnknownApi,
            _ => Route::NotApi,
        }
    }

    /// The `path` label of `consul.api.http`: the route's registered pattern in Consul's
    /// HTTP mux, without its leading `/`, slashes made `_` (`/v1/kv/` → `v1_kv_`).
    pub fn metric_path(&self) -> &'static str {
        use AclEndpoint as E;
        match self {
            Route::Kv(_) => "v1_kv_",
            Route::Txn => "v1_txn",
            Route::StatusLeader => "v1_status_leader",
            Route::StatusPeers => "v1_status_peers",
            Route::AgentSelf => "v1_agent_self",
            Route::AgentVersion => "v1_agent_version",
            Route::AgentReload => "v1_agent_reload",
            Route::AgentMonitor => "v1_agent_monitor",
            Route::AgentMetrics => "v1_agent_metrics",
            Route::AgentMetricsStream => "v1_agent_metrics_stream",
            Route::CatalogRegister => "v1_catalog_register",
            Route::CatalogDeregister => "v1_catalog_deregister",
            Route::CatalogDatacenters => "v1_catalog_datacenters",
            Route::CatalogNodes => "v1_catalog_nodes",
            Route::CatalogServices => "v1_catalog_services",
            Route::CatalogService(_) => "v1_catalog_service_",
            Route::CatalogNode(_) => "v1_catalog_node_",
            Route::CatalogNodeServices(_) => "v1_catalog_node-services_",
            Route::HealthNode(_) => "v1_health_node_",
            Route::HealthChecks(_) => "v1_health_checks_",
            Route::HealthState(_) => "v1_health_state_",
            Route::HealthService(_) => "v1_health_service_",
            Route::AgentServices => "v1_agent_services",
            Route::AgentService(_) => "v1_agent_service_",
            Route::AgentServiceRegister => "v1_agent_service_register",
            Route::AgentServiceDeregister(_) => "v1_agent_service_deregister_",
            Route::AgentServiceMaintenance(_) => "v1_agent_service_maintenance_",
            Route::AgentChecks => "v1_agent_checks",
            Route::AgentCheckRegister => "v1_agent_check_register",
            Route::AgentCheckDeregister(_) => "v1_agent_check_deregister_",
            Route::AgentCheckPass(_) => "v1_agent_check_pass_",
            Route::AgentCheckWarn(_) => "v1_agent_check_warn_",
            Route::AgentCheckFail(_) => "v1_agent_check_fail_",
            Route::AgentCheckUpdate(_) => "v1_agent_check_update_",
            Route::AgentHealthServiceId(_) => "v1_agent_health_service_id_",
            Route::AgentHealthServiceName(_) => "v1_agent_health_service_name_",
            Route::AgentMaintenance => "v1_agent_maintenance",
            Route::AgentMembers => "v1_agent_members",
            Route::AgentJoin(_) => "v1_agent_join_",
            Route::AgentLeave => "v1_agent_leave",
            Route::AgentForceLeave(_) => "v1_agent_force-leave_",
            Route::OperatorRaftConfiguration => "v1_operator_raft_configuration",
            Route::OperatorRaftPeer => "v1_operator_raft_peer",
            Route::OperatorRaftTransferLeader => "v1_operator_raft_transfer-leader",
            Route::OperatorAutopilotConfiguration => "v1_operator_autopilot_configuration",
            Route::OperatorAutopilotHealth => "v1_operator_autopilot_health",
            Route::OperatorAutopilotState => "v1_operator_autopilot_state",
            Route::OperatorUsage => "v1_operator_usage",
            Route::AgentHost => "v1_agent_host",
            Route::ConfigWrite => "v1_config",
            Route::ConfigEntry(..) | Route::ConfigList(_) => "v1_config_",
            Route::Queries => "v1_query",
            Route::Query(_) | Route::QueryExecute(_) | Route::QueryExplain(_) => "v1_query_",
            Route::OperatorKeyring => "v1_operator_keyring",
            Route::CoordinateDatacenters => "v1_coordinate_datacenters",
            Route::CoordinateNodes => "v1_coordinate_nodes",
            Route::CoordinateNode(_) => "v1_coordinate_node_",
            Route::CoordinateUpdate => "v1_coordinate_update",
            Route::Snapshot => "v1_snapshot",
            Route::EventFire(_) => "v1_event_fire_",
            Route::EventList => "v1_event_list",
            Route::SessionCreate => "v1_session_create",
            Route::SessionDestroy(_) => "v1_session_destroy_",
            Route::SessionRenew(_) => "v1_session_renew_",
            Route::SessionInfo(_) => "v1_session_info_",
            Route::SessionNode(_) => "v1_session_node_",
            Route::SessionList => "v1_session_list",
            Route::AgentToken(_) => "v1_agent_token_",
            Route::AclResolve => "v1_internal_acl_resolve",
            Route::UiServices => "v1_internal_ui_services",
            Route::UiNodes => "v1_internal_ui_nodes",
            Route::Root => "",
            Route::UnknownApi | Route::NotApi => "unknown",
            Route::Acl(e) => match e {
                E::Bootstrap => "v1_acl_bootstrap",
                E::PolicyCreate => "v1_acl_policy",
                E::Policy(_) => "v1_acl_policy_",
                E::PolicyByName(_) => "v1_acl_policy_name_",
                E::Policies => "v1_acl_policies",
                E::TokenCreate => "v1_acl_token",
                E::TokenSelf => "v1_acl_token_self",
                E::Token(_) | E::TokenClone(_) => "v1_acl_token_",
                E::Tokens => "v1_acl_tokens",
                E::RoleCreate => "v1_acl_role",
                E::Role(_) => "v1_acl_role_",
                E::RoleByName(_) => "v1_acl_role_name_",
                E::Roles => "v1_acl_roles",
                E::AuthMethodCreate => "v1_acl_auth-method",
                E::AuthMethod(_) => "v1_acl_auth-method_",
                E::AuthMethods => "v1_acl_auth-methods",
                E::BindingRuleCreate => "v1_acl_binding-rule",
                E::BindingRule(_) => "v1_acl_binding-rule_",
                E::BindingRules => "v1_acl_binding-rules",
                E::Login => "v1_acl_login",
                E::Logout => "v1_acl_logout",
                E::TemplatedPolicies => "v1_acl_templated-policies",
                E::TemplatedPolicy(_) => "v1_acl_templated-policy_name_",
                E::TemplatedPreview(_) => "v1_acl_templated-policy_preview_",
            },
        }
    }

    /// Everything the route needs, declared once: its methods (in Consul's registration
    /// order, for `Allow`), body limit, where it is served, whether it blocks, and the ACL
    /// permission it will need. One exhaustive match, so a new route cannot forget one.
    pub fn spec(&self) -> RouteSpec {
        use Access::*;
        use Resource as R;
        use Serve::*;
        const GET: &[&str] = &["GET"];
        const PUT: &[&str] = &["PUT"];
        let small = BODY_BYTES_DEFAULT_MAX;
        let (methods, body_limit, serve, blocking, permission) = match self {
            Route::Kv(_) => (
                &["GET", "PUT", "DELETE"][..],
                KV_VALUE_BYTES_MAX,
                Leader,
                true,
                Permission::path(R::Key, ByMethod),
            ),
            // Each op is checked on its own key (the txn handler, against the body).
            Route::Txn => (
                PUT,
                TXN_BODY_BYTES_MAX,
                Leader,
                false,
                Permission::body(R::Key),
            ),
            Route::CatalogRegister => (
                PUT,
                TXN_BODY_BYTES_MAX,
                Leader,
                false,
                Permission::body(R::Node),
            ),
            Route::CatalogDeregister => (PUT, small, Leader, false, Permission::body(R::Node)),
            Route::CatalogDatacenters => (GET, small, AnyServerWanWide, false, Permission::NONE),
            Route::CatalogNodes | Route::UiNodes => {
                (GET, small, Leader, true, Permission::filter(R::Node))
            }
            Route::UiServices => (GET, small, Leader, true, Permission::filter(R::Service)),
            Route::CatalogServices => (GET, small, Leader, true, Permission::filter(R::Service)),
            Route::CatalogService(_) | Route::HealthService(_) | Route::HealthChecks(_) => {
                (GET, small, Leader, true, Permission::path(R::Service, Read))
            }
            Route::CatalogNode(_) | Route::CatalogNodeServices(_) | Route::HealthNode(_) => {
                (GET, small, Leader, true, Permission::path(R::Node, Read))
            }
            Route::HealthState(_) => (GET, small, Leader, true, Permission::filter(R::Service)),
            Route::StatusLeader | Route::StatusPeers => {
                (GET, small, AnyServer, false, Permission::NONE)
            }
            Route::AgentSelf => (GET, small, AgentLocal, false, Permission::agent(Read)),
            Route::AgentVersion => (GET, small, ThisAgent, false, Permission::NONE),
            Route::AgentReload => (PUT, small, ThisAgent, false, Permission::agent(Write)),
            Route::AgentMonitor => (GET, small, ThisAgent, false, Permission::agent(Read)),
            Route::AgentMetrics | Route::AgentMetricsStream => {
                (GET, small, ThisAgent, false, Permission::agent(Read))
            }
            Route::OperatorRaftConfiguration => (
                GET,
                small,
                Leader,
                false,
                Permission::global(R::Operator, Read),
            ),
            Route::OperatorRaftPeer => (
                &["DELETE"][..],
                small,
                Leader,
                false,
                Permission::global(R::Operator, Write),
            ),
            Route::OperatorRaftTransferLeader => (
                &["POST"][..],
                small,
                Leader,
                false,
                Permission::global(R::Operator, Write),
            ),
            Route::OperatorAutopilotConfiguration => (
                &["GET", "PUT"][..],
                small,
                Leader,
                false,
                Permission::global(R::Operator, ByMethod),
            ),
            Route::OperatorAutopilotHealth
            | Route::OperatorAutopilotState
            | Route::OperatorUsage => (
                GET,
                small,
                Leader,
                false,
                Permission::global(R::Operator, Read),
            ),
            Route::AgentHost => (
                GET,
                small,
                ThisAgent,
                false,
                Permission::global(R::Operator, Read),
            ),
            // Checked by the handler: the resource depends on the kind (`service` rules for
            // service-* kinds, `mesh` for the others).
            Route::ConfigWrite => (PUT, small, Leader, false, Permission::body(R::Service)),
            Route::ConfigEntry(..) => (
                &["GET", "DELETE"][..],
                small,
                Leader,
                true,
                Permission::body(R::Service),
            ),
            Route::ConfigList(_) => (GET, small, Leader, true, Permission::filter(R::Service)),
            // Checked by the handler on the query's name (`query` rules); lists filtered.
            Route::Queries => (
                &["GET", "POST"][..],
                small,
                Leader,
                true,
                Permission::body(R::Query),
            ),
            Route::Query(_) => (
                &["GET", "PUT", "DELETE"][..],
                small,
                Leader,
                true,
                Permission::body(R::Query),
            ),
            Route::QueryExplain(_) => (GET, small, Leader, false, Permission::body(R::Query)),
            // No `query` rule: the answer is what the query's token (else the caller's) may
            // read of the service and its nodes, as Consul's `Execute`.
            Route::QueryExecute(_) => (GET, small, Leader, false, Permission::filter(R::Service)),
            Route::OperatorKeyring => (
                &["GET", "POST", "PUT", "DELETE"][..],
                small,
                AgentLocal,
                false,
                Permission::global(R::Keyring, ByMethod),
            ),
            Route::CoordinateDatacenters => (GET, small, AnyServerWanWide, false, Permission::NONE),
            Route::CoordinateNodes => (GET, small, Leader, true, Permission::filter(R::Node)),
            Route::CoordinateNode(_) => (GET, small, Leader, true, Permission::path(R::Node, Read)),
            Route::CoordinateUpdate => (PUT, small, Leader, false, Permission::body(R::Node)),
            Route::Snapshot => (
                &["GET", "PUT"][..],
                SNAPSHOT_BYTES_MAX,
                Leader,
                false,
                Permission::global(R::Acl, Write), // Consul: a management token
            ),
            Route::EventFire(_) => (
                PUT,
                small,
                AgentLocal,
                false,
                Permission::path(R::Event, Write),
            ),
            Route::EventList => (GET, small, AgentLocal, true, Permission::filter(R::Event)),
            Route::AgentServices | Route::AgentChecks => (
                GET,
                small,
                AgentLocal,
                false,
                Permission::filter(R::Service),
            ),
            Route::AgentService(_) | Route::AgentHealthServiceId(_) => (
                GET,
                small,
                AgentLocal,
                matches!(self, Route::AgentService(_)), // hash-based blocking
                Permission::body(R::Service),           // the service's name, once found
            ),
            Route::AgentHealthServiceName(_) => (
                GET,
                small,
                AgentLocal,
                false,
                Permission::path(R::Service, Read),
            ),
            Route::AgentServiceRegister
            | Route::AgentServiceDeregister(_)
            | Route::AgentServiceMaintenance(_)
            | Route::AgentCheckRegister
            | Route::AgentCheckDeregister(_)
            | Route::AgentCheckPass(_)
            | Route::AgentCheckWarn(_)
            | Route::AgentCheckFail(_)
            | Route::AgentCheckUpdate(_) => {
                (PUT, small, AgentLocal, false, Permission::body(R::Service))
            }
            // Consul: node maintenance needs `node:write` on this agent's node.
            Route::AgentMaintenance => (PUT, small, AgentLocal, false, Permission::own_node(Write)),
            Route::AgentJoin(_) | Route::AgentLeave => {
                (PUT, small, AgentLocal, false, Permission::agent(Write))
            }
            Route::AgentForceLeave(_) => (
                PUT,
                small,
                AgentLocal,
                false,
                Permission::global(R::Operator, Write),
            ),
            Route::AgentMembers => (GET, small, AgentLocal, false, Permission::filter(R::Node)),
            // `session:write` on the session's node (from the body, or the session's record).
            Route::SessionCreate | Route::SessionDestroy(_) | Route::SessionRenew(_) => {
                (PUT, small, Leader, false, Permission::body(R::Session))
            }
            Route::SessionInfo(_) => (GET, small, Leader, true, Permission::filter(R::Session)),
            Route::SessionNode(_) => (GET, small, Leader, true, Permission::path(R::Session, Read)),
            Route::SessionList => (GET, small, Leader, true, Permission::filter(R::Session)),
            Route::Acl(endpoint) => {
                let (methods, permission) = endpoint.spec();
                (methods, small, Leader, false, permission)
            }
            // Consul: updating an agent's tokens needs `acl:write`.
            Route::AgentToken(_) => (
                PUT,
                small,
                AgentLocal,
                false,
                Permission::global(R::Acl, Write),
            ),
            Route::AclResolve => (GET, small, AnyServer, false, Permission::NONE),
            Route::Root | Route::UnknownApi | Route::NotApi => {
                (&[][..], 0, ThisAgent, false, Permission::NONE)
            }
        };
        RouteSpec {
            methods,
            body_limit,
            serve,
            blocking,
            permission,
        }
    }

    /// The path argument a `NameFrom::Path` permission names (a key, a service, a node).
    pub fn path_arg(&self) -> &str {
        match self {
            Route::Kv(s)
            | Route::CatalogService(s)
            | Route::HealthService(s)
            | Route::HealthChecks(s)
            | Route::CatalogNode(s)
            | Route::CatalogNodeServices(s)
            | Route::HealthNode(s)
            | Route::CoordinateNode(s)
            | Route::EventFire(s)
            | Route::AgentHealthServiceName(s)
            | Route::SessionNode(s) => s,
            _ => "",
        }
    }

    /// Methods the route accepts, in Consul's registration order (for `Allow`).
    pub fn methods(&self) -> &'static [&'static str] {
        self.spec().methods
    }

    /// True for routes wrapped by Consul's API handler (they get the common headers, OPTIONS
    /// and 405 handling).
    pub fn is_api(&self) -> bool {
        !self.methods().is_empty()
    }

    /// Routes served from the agent's local state, which lives on shard 0.
    pub fn is_agent_local(&self) -> bool {
        self.spec().serve == Serve::AgentLocal
    }

    /// `/v1/coordinate/*` (all answer 401 with `disable_coordinates`).
    pub fn is_coordinate(&self) -> bool {
        matches!(
            self,
            Route::CoordinateDatacenters
                | Route::CoordinateNodes
                | Route::CoordinateNode(_)
                | Route::CoordinateUpdate
        )
    }

    /// The `Allow` header value.
    pub fn allow_header(&self) -> String {
        let mut allow = String::from("OPTIONS");
        for m in self.methods() {
            allow.push(',');
            allow.push_str(m);
        }
        allow
    }
}

/// Percent-decodes a request path as Go's `url.URL.Path` does. `Err` when the result is not
/// UTF-8 or holds control characters (Consul rejects unprintable characters with 400).
pub fn decode_path(raw: &str) -> Result<String, &'static str> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "Invalid URL path: not valid UTF-8")?;
    if decoded.chars().any(|c| c.is_control()) {
        // Consul's exact wording here is not confirmed; the status (400) is.
        return Err("Invalid URL path: contains unprintable characters");
    }
    Ok(decoded.into_owned())
}
