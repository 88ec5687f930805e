//! The one table of HTTP routes, as code.

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
    OperatorKeyring,
    CoordinateDatacenters,
    CoordinateNodes,
    /// `/v1/coordinate/node/<node>`
    CoordinateNode(String),
    CoordinateUpdate,
    Snapshot,
    EventFire(String),
    EventList,
    /// `GET /` (no UI yet).
    Root,
    /// Under `/v1/` but not an endpoint we serve.
    UnknownApi,
    /// Anywhere else.
    NotApi,
}

impl Route {
    /// Resolves a percent-decoded path.
    pub fn resolve(path: &str) -> Route {
        if let Some(key) = path.strip_prefix("/v1/kv/") {
            return Route::Kv(key.to_string());
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
            ("/v1/event/fire/", Route::EventFire),
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
            "/v1/catalog/register" => Route::CatalogRegister,
            "/v1/agent/services" => Route::AgentServices,
            "/v1/agent/checks" => Route::AgentChecks,
            "/v1/agent/maintenance" => Route::AgentMaintenance,
            "/v1/agent/members" => Route::AgentMembers,
            "/v1/agent/leave" => Route::AgentLeave,
            "/v1/operator/raft/configuration" => Route::OperatorRaftConfiguration,
            "/v1/operator/raft/peer" => Route::OperatorRaftPeer,
            "/v1/operator/keyring" => Route::OperatorKeyring,
            "/v1/coordinate/datacenters" => Route::CoordinateDatacenters,
            "/v1/coordinate/nodes" => Route::CoordinateNodes,
            "/v1/coordinate/update" => Route::CoordinateUpdate,
            "/v1/snapshot" => Route::Snapshot,
            "/v1/event/list" => Route::EventList,
            "/v1/catalog/deregister" => Route::CatalogDeregister,
            "/v1/catalog/datacenters" => Route::CatalogDatacenters,
            "/v1/catalog/nodes" => Route::CatalogNodes,
            "/v1/catalog/services" => Route::CatalogServices,
            "/" => Route::Root,
            p if p.contains("/v1/") => Route::UnknownApi,
            _ => Route::NotApi,
        }
    }

    /// Methods the route accepts, in Consul's registration order (for `Allow`).
    pub fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Kv(_) => &["GET", "PUT", "DELETE"],
            Route::Txn | Route::CatalogRegister | Route::CatalogDeregister => &["PUT"],
            Route::AgentServiceRegister
            | Route::AgentServiceDeregister(_)
            | Route::AgentServiceMaintenance(_)
            | Route::AgentCheckRegister
            | Route::AgentCheckDeregister(_)
            | Route::AgentCheckPass(_)
            | Route::AgentCheckWarn(_)
            | Route::AgentCheckFail(_)
            | Route::AgentCheckUpdate(_)
            | Route::AgentMaintenance
            | Route::AgentJoin(_)
            | Route::AgentLeave
            | Route::AgentForceLeave(_) => &["PUT"],
            Route::OperatorRaftConfiguration => &["GET"],
            Route::OperatorRaftPeer => &["DELETE"],
            Route::OperatorKeyring => &["GET", "POST", "PUT", "DELETE"],
            Route::EventFire(_) | Route::CoordinateUpdate => &["PUT"],
            Route::CoordinateDatacenters | Route::CoordinateNodes | Route::CoordinateNode(_) => {
                &["GET"]
            }
            Route::EventList => &["GET"],
            Route::Snapshot => &["GET", "PUT"],
            Route::AgentServices
            | Route::AgentService(_)
            | Route::AgentChecks
            | Route::AgentHealthServiceId(_)
            | Route::AgentHealthServiceName(_)
            | Route::AgentMembers => &["GET"],
            Route::CatalogDatacenters
            | Route::CatalogNodes
            | Route::CatalogServices
            | Route::CatalogService(_)
            | Route::CatalogNode(_)
            | Route::CatalogNodeServices(_)
            | Route::HealthNode(_)
            | Route::HealthChecks(_)
            | Route::HealthState(_)
            | Route::HealthService(_) => &["GET"],
            Route::StatusLeader | Route::StatusPeers | Route::AgentSelf | Route::AgentVersion => {
                &["GET"]
            }
            Route::Root | Route::UnknownApi | Route::NotApi => &[],
        }
    }

    /// True for routes wrapped by Consul's API handler (they get the common headers, OPTIONS
    /// and 405 handling).
    pub fn is_api(&self) -> bool {
        !self.methods().is_empty()
    }

    /// Routes served from the agent's local state, which lives on shard 0.
    pub fn is_agent_local(&self) -> bool {
        matches!(
            self,
            Route::AgentServices
                | Route::AgentService(_)
                | Route::AgentServiceRegister
                | Route::AgentServiceDeregister(_)
                | Route::AgentServiceMaintenance(_)
                | Route::AgentChecks
                | Route::AgentCheckRegister
                | Route::AgentCheckDeregister(_)
                | Route::AgentCheckPass(_)
                | Route::AgentCheckWarn(_)
                | Route::AgentCheckFail(_)
                | Route::AgentCheckUpdate(_)
                | Route::AgentHealthServiceId(_)
                | Route::AgentHealthServiceName(_)
                | Route::AgentMaintenance
                | Route::AgentMembers
                | Route::OperatorKeyring
                | Route::AgentJoin(_)
                | Route::AgentLeave
                | Route::AgentForceLeave(_)
                | Route::AgentSelf
                | Route::EventFire(_)
                | Route::EventList
        )
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
