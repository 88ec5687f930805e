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
    /// `GET /` (no UI yet).
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
            "/v1/catalog/register" => Route::CatalogRegister,
            "/v1/agent/services" => Route::AgentServices,
            "/v1/agent/checks" => Route::AgentChecks,
            "/v1/agent/maintenance" => Route::AgentMaintenance,
            "/v1/agent/members" => Route::AgentMembers,
            "/v1/agent/leave" => Route::AgentLeave,
            "/v1/operator/raft/configuration" => Route::OperatorRaftConfiguration,
            "/v1/operator/raft/peer" => Route::OperatorRaftPeer,
            "/v1/operator/raft/transfer-leader" => Route::OperatorRaftTransferLeader,
            "/v1/operator/keyring" => Route::OperatorKeyring,
            "/v1/coordinate/datacenters" => Route::CoordinateDatacenters,
            "/v1/coordinate/nodes" => Route::CoordinateNodes,
            "/v1/coordinate/update" => Route::CoordinateUpdate,
            "/v1/snapshot" => Route::Snapshot,
            "/v1/event/list" => Route::EventList,
            "/v1/session/create" => Route::SessionCreate,
            "/v1/session/list" => Route::SessionList,
            "/v1/internal/acl/resolve" => Route::AclResolve,
            "/v1/catalog/deregister" => Route::CatalogDeregister,
            "/v1/catalog/datacenters" => Route::CatalogDatacenters,
            "/v1/catalog/nodes" => Route::CatalogNodes,
            "/v1/catalog/services" => Route::CatalogServices,
            "/" => Route::Root,
            p if p.contains("/v1/") => Route::UnknownApi,
            _ => Route::NotApi,
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
            Route::CatalogNodes => (GET, small, Leader, true, Permission::filter(R::Node)),
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
