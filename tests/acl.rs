//! ACLs on real agents.
//!
//! - Every HTTP route, from the route table itself (`covers` is an exhaustive match, so a new
//!   route cannot skip this test), under `default_policy = "deny"`: an anonymous request is
//!   refused (or, for lists, filtered) and a token holding exactly the rule the route needs
//!   is admitted.
//! - The walkthrough's ACL chapter on 3 servers and a client on 127.0.0.141–144: bootstrap
//!   through the client, `acl policy create -rules @file`, `acl token create -policy-name`,
//!   `acl set-agent-token`, a service registered with a token, `token list|read|clone`, a
//!   second bootstrap refused with the reset index, and the `acl-bootstrap-reset` file.
//! - DNS answers what the agent's `dns` token may read.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{eventually, free_port, Agent, Answer};
use tribune::http::route::{Access, AclEndpoint, Route};

const MGMT: &str = "c7e4d6a3-5f0e-4c1b-9a55-3f2b8e1d7a90";

fn call(agent: &Agent, token: Option<&str>, method: &str, path: &str, body: &str) -> Answer {
    try_call(agent, token, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn try_call(
    agent: &Agent,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> Result<Answer, String> {
    let mut req = ureq::request(method, &agent.url(path)).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("X-Consul-Token", t);
    }
    let resp = match req.send_bytes(body.as_bytes()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let status = resp.status();
    Ok((status, resp.into_string().unwrap_or_default(), headers))
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// One agent in dev mode with ACLs on, `default_policy = "deny"`, the management token as
/// its initial management token and as its agent token (so it can register itself).
fn start_acl_agent(dir: &Path, extra_acl: Value) -> Agent {
    let port = free_port();
    let mut acl = json!({
        "enabled": true,
        "default_policy": "deny",
        "tokens": {"initial_management": MGMT, "agent": MGMT},
    });
    for (k, v) in extra_acl.as_object().unwrap() {
        acl[k] = v.clone();
    }
    // One file per agent (agents started one after another may share `dir`).
    let config = dir.join(format!("acl-{port}.json"));
    std::fs::write(&config, json!({ "acl": acl }).to_string()).unwrap();
    let dns_port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args([
            "agent",
            "-dev",
            "-client",
            "127.0.0.1",
            "-node",
            "test-node",
            "-shards",
            "2",
        ])
        .args([
            "-http-port",
            &port.to_string(),
            "-dns-port",
            &dns_port.to_string(),
        ])
        .args(["-serf-lan-port", &free_port().to_string()])
        .args(["-serf-wan-port", &free_port().to_string()])
        .args(["-server-port", &free_port().to_string()])
        .arg(format!("-config-file={}", config.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = Agent {
        child,
        port,
        host: "127.0.0.1".into(),
    };
    std::fs::write(dir.join("dns-port"), dns_port.to_string()).unwrap();
    eventually(15, "the agent's node synced with its agent token", || {
        let answer = try_call(&agent, Some(MGMT), "GET", "/v1/health/node/test-node", "");
        answer.is_ok_and(|(s, body, _)| s == 200 && body.contains("serfHealth"))
    });
    agent
}

/// Creates a token whose only policy holds `rules`; returns its secret.
fn token_with(agent: &Agent, rules: &str) -> String {
    let name = format!("p{}", rand_suffix());
    let body = json!({"Name": name, "Rules": rules}).to_string();
    let (s, out, _) = call(agent, Some(MGMT), "PUT", "/v1/acl/policy", &body);
    assert_eq!(s, 200, "policy {rules}: {out}");
    let body = json!({"Policies": [{"Name": name}]}).to_string();
    let (s, out, _) = call(agent, Some(MGMT), "PUT", "/v1/acl/token", &body);
    assert_eq!(s, 200, "{out}");
    json_of(&out)["SecretID"].as_str().unwrap().to_string()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A distinct number for every route the table knows. Exhaustive (no `_` arm): a route
/// added to the table fails to compile here until this test covers it.
fn covers(route: &Route) -> usize {
    use AclEndpoint as E;
    match route {
        Route::Kv(_) => 0,
        Route::Txn => 1,
        Route::StatusLeader => 2,
        Route::StatusPeers => 3,
        Route::AgentSelf => 4,
        Route::AgentVersion => 5,
        Route::AgentReload => 84,
        Route::AgentMonitor => 85,
        Route::AgentMetrics => 86,
        Route::AgentMetricsStream => 87,
        Route::OperatorAutopilotConfiguration => 88,
        Route::OperatorAutopilotHealth => 89,
        Route::OperatorAutopilotState => 90,
        Route::OperatorUsage => 91,
        Route::AgentHost => 92,
        Route::ConfigWrite => 93,
        Route::ConfigEntry(..) => 94,
        Route::ConfigList(_) => 95,
        Route::Queries => 96,
        Route::Query(_) => 97,
        Route::QueryExecute(_) => 98,
        Route::QueryExplain(_) => 99,
        Route::CatalogRegister => 6,
        Route::CatalogDeregister => 7,
        Route::CatalogDatacenters => 8,
        Route::CatalogNodes => 9,
        Route::CatalogServices => 10,
        Route::CatalogService(_) => 11,
        Route::CatalogNode(_) => 12,
        Route::CatalogNodeServices(_) => 13,
        Route::HealthNode(_) => 14,
        Route::HealthChecks(_) => 15,
        Route::HealthState(_) => 16,
        Route::HealthService(_) => 17,
        Route::AgentServices => 18,
        Route::AgentService(_) => 19,
        Route::AgentServiceRegister => 20,
        Route::AgentServiceDeregister(_) => 21,
        Route::AgentServiceMaintenance(_) => 22,
        Route::AgentChecks => 23,
        Route::AgentCheckRegister => 24,
        Route::AgentCheckDeregister(_) => 25,
        Route::AgentCheckPass(_) => 26,
        Route::AgentCheckWarn(_) => 27,
        Route::AgentCheckFail(_) => 28,
        Route::AgentCheckUpdate(_) => 29,
        Route::AgentHealthServiceId(_) => 30,
        Route::AgentHealthServiceName(_) => 31,
        Route::AgentMaintenance => 32,
        Route::AgentMembers => 33,
        Route::AgentJoin(_) => 34,
        Route::AgentLeave => 35,
        Route::AgentForceLeave(_) => 36,
        Route::OperatorRaftConfiguration => 37,
        Route::OperatorRaftPeer => 38,
        Route::OperatorKeyring => 39,
        Route::OperatorRaftTransferLeader => 83,
        Route::CoordinateDatacenters => 40,
        Route::CoordinateNodes => 41,
        Route::CoordinateNode(_) => 42,
        Route::CoordinateUpdate => 43,
        Route::Snapshot => 44,
        Route::EventFire(_) => 45,
        Route::EventList => 46,
        Route::SessionCreate => 47,
        Route::SessionDestroy(_) => 48,
        Route::SessionRenew(_) => 49,
        Route::SessionInfo(_) => 50,
        Route::SessionNode(_) => 51,
        Route::SessionList => 52,
        Route::AgentToken(_) => 53,
        Route::AclResolve => 54,
        Route::UiServices => 100,
        Route::UiNodes => 101,
        Route::Root => 55,
        Route::UnknownApi => 56,
        Route::NotApi => 57,
        Route::Acl(e) => match e {
            E::Bootstrap => 58,
            E::PolicyCreate => 59,
            E::Policy(_) => 60,
            E::PolicyByName(_) => 61,
            E::Policies => 62,
            E::TokenCreate => 63,
            E::TokenSelf => 64,
            E::Token(_) => 65,
            E::TokenClone(_) => 66,
            E::Tokens => 67,
            E::RoleCreate => 68,
            E::Role(_) => 69,
            E::RoleByName(_) => 70,
            E::Roles => 71,
            E::AuthMethodCreate => 72,
            E::AuthMethod(_) => 73,
            E::AuthMethods => 74,
            E::BindingRuleCreate => 75,
            E::BindingRule(_) => 76,
            E::BindingRules => 77,
            E::Login => 78,
            E::Logout => 79,
            E::TemplatedPolicies => 80,
            E::TemplatedPolicy(_) => 81,
            E::TemplatedPreview(_) => 82,
        },
    }
}
const ROUTES: usize = 102;

#[test]
fn every_route_refuses_anonymous_and_admits_the_rule_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let agent = start_acl_agent(dir.path(), json!({}));
    let m = Some(MGMT);
    // What the samples name: a KV key, a catalog node with a service, a local service with a
    // TTL check, a session, a policy, a role, an auth method, a binding rule, a token.
    assert_eq!(call(&agent, m, "PUT", "/v1/kv/foo", "bar").0, 200);
    let reg = r#"{"Node":"n1","Address":"10.0.0.1","Service":{"ID":"web1","Service":"web"},"Check":{"CheckID":"n1-check","Name":"c","Status":"passing"}}"#;
    assert_eq!(call(&agent, m, "PUT", "/v1/catalog/register", reg).0, 200);
    let svc = r#"{"Name":"web","Check":{"CheckID":"web-check","TTL":"60s"}}"#;
    assert_eq!(
        call(&agent, m, "PUT", "/v1/agent/service/register", svc).0,
        200
    );
    eventually(10, "the local service synced", || {
        call(&agent, m, "GET", "/v1/catalog/node-services/test-node", "")
            .1
            .contains("\"web\"")
    });
    let (_, out, _) = call(&agent, m, "PUT", "/v1/session/create", r#"{"Name":"s"}"#);
    let session = json_of(&out)["ID"].as_str().unwrap().to_string();
    let (_, out, _) = call(
        &agent,
        m,
        "PUT",
        "/v1/acl/policy",
        r#"{"Name":"setup-policy"}"#,
    );
    let policy = json_of(&out)["ID"].as_str().unwrap().to_string();
    let (_, out, _) = call(&agent, m, "PUT", "/v1/acl/role", r#"{"Name":"setup-role"}"#);
    let role = json_of(&out)["ID"].as_str().unwrap().to_string();
    let method = r#"{"Name":"setup-jwt","Type":"jwt","Config":{"JWTValidationPubKeys":["k"]}}"#;
    assert_eq!(call(&agent, m, "PUT", "/v1/acl/auth-method", method).0, 200);
    let rule = r#"{"AuthMethod":"setup-jwt","BindType":"service","BindName":"x"}"#;
    let (_, out, _) = call(&agent, m, "PUT", "/v1/acl/binding-rule", rule);
    let binding = json_of(&out)["ID"].as_str().unwrap().to_string();
    let (_, out, _) = call(&agent, m, "PUT", "/v1/acl/token", r#"{"Description":"t"}"#);
    let accessor = json_of(&out)["AccessorID"].as_str().unwrap().to_string();
    assert_eq!(call(&agent, m, "PUT", "/v1/event/fire/deploy", "").0, 200);
    let (_, out, _) = call(
        &agent,
        m,
        "POST",
        "/v1/query",
        r#"{"Name":"setup-query","Service":{"Service":"web"}}"#,
    );
    let query_id = json_of(&out)["ID"].as_str().unwrap().to_string();

    let acl_read = r#"acl = "read""#;
    let acl_write = r#"acl = "write""#;
    let coord = r#"{"Node":"n1","Segment":"","Coord":{"Vec":[0,0,0,0,0,0,0,0],"Error":1.5,"Adjustment":0,"Height":0.00001}}"#;
    // (method, path, body, the rules that admit it). In an order where each sample finds
    // what it names (the check registered by one is deregistered by the next).
    let samples: Vec<(&str, String, &str, &str)> = vec![
        (
            "GET",
            "/v1/kv/foo".into(),
            "",
            r#"key "foo" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/txn".into(),
            r#"[{"KV":{"Verb":"get","Key":"foo"}}]"#,
            r#"key "foo" { policy = "read" }"#,
        ),
        ("GET", "/v1/status/leader".into(), "", ""),
        ("GET", "/v1/status/peers".into(), "", ""),
        (
            "GET",
            "/v1/agent/self".into(),
            "",
            r#"agent "test-node" { policy = "read" }"#,
        ),
        ("GET", "/v1/agent/version".into(), "", ""),
        (
            "PUT",
            "/v1/agent/reload".into(),
            "",
            r#"agent "test-node" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/agent/metrics".into(),
            "",
            r#"agent "test-node" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/operator/autopilot/configuration".into(),
            "",
            r#"operator = "read""#,
        ),
        (
            "GET",
            "/v1/operator/autopilot/health".into(),
            "",
            r#"operator = "read""#,
        ),
        (
            "GET",
            "/v1/operator/autopilot/state".into(),
            "",
            r#"operator = "read""#,
        ),
        (
            "GET",
            "/v1/operator/usage".into(),
            "",
            r#"operator = "read""#,
        ),
        ("GET", "/v1/agent/host".into(), "", r#"operator = "read""#),
        (
            "PUT",
            "/v1/config".into(),
            r#"{"Kind":"service-defaults","Name":"web","Protocol":"http"}"#,
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/config/service-defaults/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/config/service-defaults".into(),
            "",
            r#"service_prefix "" { policy = "read" }"#,
        ),
        (
            "POST",
            "/v1/query".into(),
            r#"{"Name":"web-query","Service":{"Service":"web"}}"#,
            r#"query "web-query" { policy = "write" }"#,
        ),
        (
            "GET",
            format!("/v1/query/{query_id}"),
            "",
            r#"query "setup-query" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/query/setup-query/execute".into(),
            "",
            r#"service "web" { policy = "read" } node_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/query/setup-query/explain".into(),
            "",
            r#"query "setup-query" { policy = "read" }"#,
        ),
        // Refused to anonymous; not read when admitted (the stream never ends).
        ("GET", "/v1/agent/metrics/stream".into(), "", "LEAVE"),
        // A level the agent refuses (400 once admitted): a valid one would stream forever.
        (
            "GET",
            "/v1/agent/monitor?loglevel=bogus".into(),
            "",
            r#"agent "test-node" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/catalog/register".into(),
            r#"{"Node":"n2","Address":"10.0.0.2"}"#,
            r#"node "n2" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/catalog/deregister".into(),
            r#"{"Node":"n2"}"#,
            r#"node "n2" { policy = "write" }"#,
        ),
        ("GET", "/v1/catalog/datacenters".into(), "", ""),
        (
            "GET",
            "/v1/catalog/nodes".into(),
            "",
            r#"node_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/catalog/services".into(),
            "",
            r#"service_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/internal/ui/services".into(),
            "",
            r#"service_prefix "" { policy = "read" } node_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/internal/ui/nodes".into(),
            "",
            r#"node_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/catalog/service/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/catalog/node/n1".into(),
            "",
            r#"node "n1" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/catalog/node-services/n1".into(),
            "",
            r#"node "n1" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/health/node/n1".into(),
            "",
            r#"node "n1" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/health/checks/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/health/state/any".into(),
            "",
            "node_prefix \"\" { policy = \"read\" }\nservice_prefix \"\" { policy = \"read\" }",
        ),
        (
            "GET",
            "/v1/health/service/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/agent/services".into(),
            "",
            r#"service_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/agent/service/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/agent/service/register".into(),
            r#"{"Name":"api"}"#,
            r#"service "api" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/service/deregister/api".into(),
            "",
            r#"service "api" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/service/maintenance/web?enable=false".into(),
            "",
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/agent/checks".into(),
            "",
            "node_prefix \"\" { policy = \"read\" }\nservice_prefix \"\" { policy = \"read\" }",
        ),
        (
            "PUT",
            "/v1/agent/check/register".into(),
            r#"{"Name":"node-ttl","TTL":"60s"}"#,
            r#"node "test-node" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/check/deregister/node-ttl".into(),
            "",
            r#"node "test-node" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/check/pass/web-check".into(),
            "",
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/check/warn/web-check".into(),
            "",
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/check/fail/web-check".into(),
            "",
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/check/update/web-check".into(),
            r#"{"Status":"passing"}"#,
            r#"service "web" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/agent/health/service/id/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/agent/health/service/name/web".into(),
            "",
            r#"service "web" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/agent/maintenance?enable=false".into(),
            "",
            r#"node "test-node" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/agent/members".into(),
            "",
            r#"node_prefix "" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/agent/join/127.0.0.1:1".into(),
            "",
            r#"agent "test-node" { policy = "write" }"#,
        ),
        // Admitted, it would shut the agent down: only the refusal is asked (`LEAVE`).
        ("PUT", "/v1/agent/leave".into(), "", "LEAVE"),
        (
            "PUT",
            "/v1/agent/force-leave/nobody".into(),
            "",
            r#"operator = "write""#,
        ),
        (
            "GET",
            "/v1/operator/raft/configuration".into(),
            "",
            r#"operator = "read""#,
        ),
        (
            "DELETE",
            "/v1/operator/raft/peer?address=127.0.0.1:1".into(),
            "",
            r#"operator = "write""#,
        ),
        (
            "GET",
            "/v1/operator/keyring".into(),
            "",
            r#"keyring = "read""#,
        ),
        // Admitted, a single server answers that there is no peer to hand leadership to.
        (
            "POST",
            "/v1/operator/raft/transfer-leader".into(),
            "",
            r#"operator = "write""#,
        ),
        ("GET", "/v1/coordinate/datacenters".into(), "", ""),
        (
            "GET",
            "/v1/coordinate/nodes".into(),
            "",
            r#"node_prefix "" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/coordinate/node/test-node".into(),
            "",
            r#"node "test-node" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/coordinate/update".into(),
            coord,
            r#"node "n1" { policy = "write" }"#,
        ),
        ("GET", "/v1/snapshot".into(), "", acl_write),
        (
            "PUT",
            "/v1/event/fire/deploy".into(),
            "",
            r#"event "deploy" { policy = "write" }"#,
        ),
        (
            "GET",
            "/v1/event/list".into(),
            "",
            r#"event_prefix "" { policy = "read" }"#,
        ),
        (
            "PUT",
            "/v1/session/create".into(),
            r#"{"Name":"t"}"#,
            r#"session "test-node" { policy = "write" }"#,
        ),
        (
            "PUT",
            format!("/v1/session/renew/{session}"),
            "",
            r#"session "test-node" { policy = "write" }"#,
        ),
        (
            "GET",
            format!("/v1/session/info/{session}"),
            "",
            r#"session "test-node" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/session/node/test-node".into(),
            "",
            r#"session "test-node" { policy = "read" }"#,
        ),
        (
            "GET",
            "/v1/session/list".into(),
            "",
            r#"session_prefix "" { policy = "read" }"#,
        ),
        (
            "PUT",
            format!("/v1/session/destroy/{session}"),
            "",
            r#"session "test-node" { policy = "write" }"#,
        ),
        (
            "PUT",
            "/v1/agent/token/dns".into(),
            r#"{"Token":""}"#,
            acl_write,
        ),
        ("GET", "/v1/internal/acl/resolve".into(), "", ""),
        ("GET", "/".into(), "", ""),
        ("GET", "/v1/nope".into(), "", ""),
        ("GET", "/nope".into(), "", ""),
        ("PUT", "/v1/acl/bootstrap".into(), "", ""),
        (
            "PUT",
            "/v1/acl/policy".into(),
            r#"{"Name":"made"}"#,
            acl_write,
        ),
        ("GET", format!("/v1/acl/policy/{policy}"), "", acl_read),
        (
            "GET",
            "/v1/acl/policy/name/setup-policy".into(),
            "",
            acl_read,
        ),
        ("GET", "/v1/acl/policies".into(), "", acl_read),
        ("PUT", "/v1/acl/token".into(), "{}", acl_write),
        ("GET", "/v1/acl/token/self".into(), "", ""),
        ("GET", format!("/v1/acl/token/{accessor}"), "", acl_read),
        (
            "PUT",
            format!("/v1/acl/token/{accessor}/clone"),
            "{}",
            acl_write,
        ),
        ("GET", "/v1/acl/tokens".into(), "", acl_read),
        (
            "PUT",
            "/v1/acl/role".into(),
            r#"{"Name":"made"}"#,
            acl_write,
        ),
        ("GET", format!("/v1/acl/role/{role}"), "", acl_read),
        ("GET", "/v1/acl/role/name/setup-role".into(), "", acl_read),
        ("GET", "/v1/acl/roles".into(), "", acl_read),
        (
            "PUT",
            "/v1/acl/auth-method".into(),
            r#"{"Name":"made","Type":"jwt","Config":{"JWTValidationPubKeys":["k"]}}"#,
            acl_write,
        ),
        ("GET", "/v1/acl/auth-method/setup-jwt".into(), "", acl_read),
        ("GET", "/v1/acl/auth-methods".into(), "", acl_read),
        (
            "PUT",
            "/v1/acl/binding-rule".into(),
            r#"{"AuthMethod":"setup-jwt","BindType":"service","BindName":"y"}"#,
            acl_write,
        ),
        (
            "GET",
            format!("/v1/acl/binding-rule/{binding}"),
            "",
            acl_read,
        ),
        ("GET", "/v1/acl/binding-rules".into(), "", acl_read),
        (
            "POST",
            "/v1/acl/login".into(),
            r#"{"AuthMethod":"setup-jwt","BearerToken":"x"}"#,
            "",
        ),
        ("POST", "/v1/acl/logout".into(), "", ""),
        ("GET", "/v1/acl/templated-policies".into(), "", acl_read),
        (
            "GET",
            "/v1/acl/templated-policy/name/builtin/service".into(),
            "",
            acl_read,
        ),
        (
            "POST",
            "/v1/acl/templated-policy/preview/builtin/service".into(),
            r#"{"Name":"web"}"#,
            acl_read,
        ),
    ];

    let mut seen = BTreeSet::new();
    for (method, path, body, rules) in &samples {
        let route = Route::resolve(path.split('?').next().unwrap());
        seen.insert(covers(&route));
        let what = format!("{method} {path}");
        let denied = |a: &Answer| {
            a.1.contains("lacks permission") || a.1.contains("Permission denied: token")
        };
        let spec = route.spec();
        let anonymous = call(&agent, None, method, path, body);
        if spec.permission.resource.is_none() || !route.is_api() {
            assert!(
                !denied(&anonymous),
                "{what} is open to anyone: {anonymous:?}"
            );
            continue;
        }
        let filters = spec.permission.access == Access::Filter;
        if filters {
            // A list: answered, with what the anonymous token may not read left out.
            assert_eq!(anonymous.0, 200, "{what}: {anonymous:?}");
            let filtered =
                support::header(&anonymous.2, "X-Consul-Results-Filtered-By-ACLs") == Some("true");
            let empty = matches!(anonymous.1.trim(), "[]" | "{}" | "null");
            assert!(
                filtered || empty,
                "{what} leaks to anonymous: {anonymous:?}"
            );
        } else {
            assert!(
                anonymous.0 == 403 || (anonymous.0 == 409 && denied(&anonymous)),
                "{what} must refuse anonymous: {anonymous:?}"
            );
            assert!(
                denied(&anonymous) || anonymous.1.contains("ACL not found"),
                "{what}: {anonymous:?}"
            );
        }
        if *rules == "LEAVE" {
            continue;
        }
        let token = token_with(&agent, rules);
        let admitted = call(&agent, Some(&token), method, path, body);
        assert!(
            !denied(&admitted) && admitted.0 != 403,
            "{what} with {rules:?}: {admitted:?}"
        );
        if filters {
            let filtered = support::header(&admitted.2, "X-Consul-Results-Filtered-By-ACLs");
            assert_eq!(
                filtered, None,
                "{what} with {rules:?} must show everything: {admitted:?}"
            );
        }
    }
    let missing: Vec<usize> = (0..ROUTES).filter(|i| !seen.contains(i)).collect();
    assert!(missing.is_empty(), "routes without a sample: {missing:?}");

    // An unknown token is refused outright, not treated as anonymous; routes open to anyone
    // (status) answer whatever the token is, as Consul's do.
    let unknown = Some("3f5e9c2a-0000-4000-8000-000000000000");
    let refused = call(&agent, unknown, "GET", "/v1/kv/foo", "");
    assert_eq!((refused.0, refused.1.trim()), (403, "ACL not found"));
    assert_eq!(call(&agent, unknown, "GET", "/v1/status/leader", "").0, 200);
    // Recursive KV reads leave out what the token may not read; a recursive delete needs
    // write on the whole prefix.
    call(&agent, m, "PUT", "/v1/kv/app/public", "1");
    call(&agent, m, "PUT", "/v1/kv/app/secret", "2");
    let reader = token_with(
        &agent,
        "key_prefix \"app/\" { policy = \"write\" }\nkey \"app/secret\" { policy = \"deny\" }",
    );
    let (s, body, headers) = call(&agent, Some(&reader), "GET", "/v1/kv/app/?recurse", "");
    assert_eq!(s, 200, "{body}");
    let listed = json_of(&body);
    let keys: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["app/public"]);
    assert_eq!(
        support::header(&headers, "X-Consul-Results-Filtered-By-ACLs"),
        Some("true")
    );
    let (s, body, _) = call(&agent, Some(&reader), "DELETE", "/v1/kv/app/?recurse", "");
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        call(&agent, m, "GET", "/v1/kv/app/secret", "").0,
        200,
        "nothing was deleted"
    );

    // DNS answers what the agent's dns token may read: nothing for anonymous under deny.
    let dns_port: u16 = std::fs::read_to_string(dir.path().join("dns-port"))
        .unwrap()
        .parse()
        .unwrap();
    let dig = |name: &str| support::dig_port("127.0.0.1", dns_port, name);
    assert!(
        dig("web.service.consul").is_empty(),
        "anonymous DNS must see nothing"
    );
    let dns = token_with(
        &agent,
        "service_prefix \"\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }",
    );
    let (s, out, _) = call(
        &agent,
        m,
        "PUT",
        "/v1/agent/token/dns",
        &json!({"Token": dns}).to_string(),
    );
    assert_eq!(s, 200, "{out}");
    eventually(5, "web answered with the dns token", || {
        !dig("web.service.consul").is_empty()
    });
}

fn cli(agent: &Agent, args: &[&str]) -> (i32, String, String) {
    // Flags go before positional arguments (Go's flag package stops at the first one).
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let at = args
        .iter()
        .position(|a| a.starts_with('-'))
        .unwrap_or(args.len());
    args.insert(at, format!("-http-addr={}:{}", agent.host, agent.port));
    let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(&args)
        .env_remove("CONSUL_HTTP_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[test]
fn the_walkthrough_acl_chapter_on_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("consul.json");
    let acl = json!({"acl": {"enabled": true, "default_policy": "deny", "enable_token_persistence": true}});
    std::fs::write(&conf, acl.to_string()).unwrap();
    let conf_flag = format!("-config-file={}", conf.display());
    let join = "-retry-join=127.0.0.141";
    let mut agents: Vec<Agent> = (0..3)
        .map(|i| {
            let n = 141 + i as u8;
            Agent::on_loopback(
                n,
                &format!("server{i}"),
                dir.path(),
                &["-server", "-bootstrap-expect=3", join, &conf_flag],
            )
        })
        .collect();
    agents.push(Agent::on_loopback(
        144,
        "client0",
        dir.path(),
        &[join, &conf_flag],
    ));
    let client = &agents[3];
    eventually(60, "a leader known to the client", || {
        !client.leader().is_empty()
    });

    // Bootstrap through the client: the AccessorID / SecretID block.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (code, out, err) = loop {
        let r = cli(client, &["acl", "bootstrap"]);
        if r.0 == 0 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        field(&out, "Description:"),
        "Bootstrap Token (Global Management)"
    );
    assert_eq!(field(&out, "Local:"), "false");
    assert!(
        out.contains("Policies:\n   00000000-0000-0000-0000-000000000001 - global-management"),
        "{out}"
    );
    let mgmt = field(&out, "SecretID:").to_string();
    let bootstrap_accessor = field(&out, "AccessorID:").to_string();
    let with_token = |args: &[&str]| -> (i32, String, String) {
        let mut v: Vec<&str> = args.to_vec();
        v.push("-token");
        v.push(&mgmt);
        cli(client, &v)
    };

    // The node policy from a file, and a token for it.
    let rules = "agent_prefix \"\" {\n  policy = \"write\"\n}\nnode_prefix \"\" {\n  policy = \"write\"\n}\nservice_prefix \"\" {\n  policy = \"read\"\n}\nsession_prefix \"\" {\n  policy = \"read\"\n}\n";
    let rules_file = dir.path().join("node-policy.hcl");
    std::fs::write(&rules_file, rules).unwrap();
    let at_file = format!("@{}", rules_file.display());
    let (code, out, err) = with_token(&[
        "acl",
        "policy",
        "create",
        "-name",
        "node-policy",
        "-rules",
        &at_file,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(field(&out, "Name:"), "node-policy");
    assert!(out.contains(&format!("Rules:\n{rules}")), "{out}");
    let policy_id = field(&out, "ID:").to_string();
    let (code, out, err) = with_token(&[
        "acl",
        "token",
        "create",
        "-description",
        "node token",
        "-policy-name",
        "node-policy",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("Policies:\n   {policy_id} - node-policy")),
        "{out}"
    );
    let node_secret = field(&out, "SecretID:").to_string();
    let node_accessor = field(&out, "AccessorID:").to_string();

    // Without an agent token, the client's own anti-entropy is refused by the server (its
    // write arrives over RPC carrying the anonymous token).
    let client_log = dir.path().join("client0.log");
    eventually(30, "the client's node write refused", || {
        std::fs::read_to_string(&client_log).unwrap_or_default().contains(
            "anti-entropy write failed: Permission denied: anonymous token lacks permission 'node:write'",
        )
    });

    // Every agent gets the node token as its agent token and registers itself with it.
    for a in &agents {
        let (code, out, err) = cli(
            a,
            &[
                "acl",
                "set-agent-token",
                "-token",
                &mgmt,
                "agent",
                &node_secret,
            ],
        );
        assert_eq!(
            (code, out.trim()),
            (0, "ACL token \"agent\" set successfully"),
            "{err}"
        );
    }
    let m = Some(mgmt.as_str());
    // The leader registers members' nodes from gossip; the agents' own anti-entropy, now
    // allowed, adds what only they know (`consul-version` in the node meta).
    eventually(30, "all four nodes synced by their own agents", || {
        let (s, body, _) = call(client, m, "GET", "/v1/catalog/nodes", "");
        s == 200
            && serde_json::from_str::<Value>(&body).is_ok_and(|n| {
                n.as_array().is_some_and(|n| {
                    n.len() == 4 && n.iter().all(|n| n["Meta"]["consul-version"].is_string())
                })
            })
    });
    // The token was persisted (enable_token_persistence).
    let persisted = std::fs::read_to_string(dir.path().join("client0/acl-tokens.json")).unwrap();
    assert!(persisted.contains(&node_secret), "{persisted}");

    // A service registered on the client with a token reaches the catalog; without a
    // token, anonymous reads of it are refused.
    let svc = r#"{"ID":"snmp-1","Name":"snmp_exporter","Tags":["snmp"],"Address":"192.168.50.50"}"#;
    assert_eq!(
        call(client, m, "PUT", "/v1/agent/service/register", svc).0,
        200
    );
    eventually(30, "the service in the catalog", || {
        call(client, m, "GET", "/v1/catalog/service/snmp_exporter", "")
            .1
            .contains("snmp-1")
    });
    assert_eq!(
        call(client, None, "GET", "/v1/catalog/service/snmp_exporter", "").0,
        403
    );

    // token list: the node token, the anonymous token, the bootstrap token.
    let (code, out, err) = with_token(&["acl", "token", "list"]);
    assert_eq!(code, 0, "{err}");
    for accessor in [
        &node_accessor,
        "00000000-0000-0000-0000-000000000002",
        &bootstrap_accessor,
    ] {
        assert!(
            out.contains(&format!("AccessorID:       {accessor}")),
            "{out}"
        );
    }
    assert!(out.contains("Description:      Anonymous Token"), "{out}");

    // clone, then read through another agent.
    let (code, out, err) = with_token(&[
        "acl",
        "token",
        "clone",
        "-description=clone by node-policy",
        "-id",
        &node_accessor,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(field(&out, "Description:"), "clone by node-policy");
    assert!(
        out.contains(&format!("   {policy_id} - node-policy")),
        "{out}"
    );
    assert_ne!(field(&out, "SecretID:"), node_secret);
    let (code, out, _) = cli(
        &agents[1],
        &[
            "acl",
            "token",
            "read",
            "-id",
            &node_accessor,
            "-token",
            &mgmt,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(field(&out, "SecretID:"), node_secret);

    // A second bootstrap is refused with the reset index; writing it into the leader's
    // `acl-bootstrap-reset` allows one more.
    let (code, _, err) = cli(client, &["acl", "bootstrap"]);
    assert_eq!(code, 1);
    let prefix = "Failed ACL bootstrapping: Unexpected response code: 403 (Permission denied: ACL bootstrap no longer allowed (reset index: ";
    assert!(err.starts_with(prefix), "{err}");
    let index = err[prefix.len()..].split(')').next().unwrap().to_string();
    let leader = client.leader();
    let leader_ip = leader.split(':').next().unwrap();
    let leader_n: usize = leader_ip
        .rsplit('.')
        .next()
        .unwrap()
        .parse::<usize>()
        .unwrap()
        - 141;
    let reset = dir
        .path()
        .join(format!("server{leader_n}/acl-bootstrap-reset"));
    std::fs::write(&reset, format!("{index}\n")).unwrap();
    let (code, out, err) = cli(client, &["acl", "bootstrap"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(field(&out, "SecretID:"), mgmt);
    assert!(!reset.exists(), "the reset file is used once");
    drop(agents.drain(..));
}

/// A prepared query runs as its stored `Token` (Consul's `Execute`): anonymous executes it and
/// gets what that token may read; without one it runs as the caller. The token is shown as
/// `<hidden>` to every token without `acl:write`.
#[test]
fn a_prepared_query_runs_as_its_stored_token_and_hides_it() {
    let dir = tempfile::tempdir().unwrap();
    let agent = start_acl_agent(dir.path(), json!({}));
    let m = Some(MGMT);
    let reg = r#"{"Node":"n1","Address":"10.0.0.1","Service":{"ID":"web1","Service":"web"}}"#;
    assert_eq!(call(&agent, m, "PUT", "/v1/catalog/register", reg).0, 200);
    let reader = token_with(
        &agent,
        r#"service "web" { policy = "read" } node_prefix "" { policy = "read" }"#,
    );
    let create = |body: Value| {
        let (s, out, _) = call(&agent, m, "POST", "/v1/query", &body.to_string());
        assert_eq!(s, 200, "{out}");
        json_of(&out)["ID"].as_str().unwrap().to_string()
    };
    create(json!({"Name": "as-caller", "Service": {"Service": "web"}}));
    let id = create(json!({"Name": "as-reader", "Token": reader, "Service": {"Service": "web"}}));

    let (s, out, headers) = call(&agent, None, "GET", "/v1/query/as-caller/execute", "");
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        json_of(&out)["Nodes"],
        json!([]),
        "anonymous reads no service"
    );
    assert_eq!(
        support::header(&headers, "X-Consul-Results-Filtered-By-ACLs"),
        Some("true")
    );
    let (s, out, _) = call(&agent, None, "GET", "/v1/query/as-reader/execute", "");
    assert_eq!(s, 200, "{out}");
    assert_eq!(json_of(&out)["Nodes"][0]["Node"]["Node"], "n1", "{out}");

    let lister = token_with(&agent, r#"query_prefix "" { policy = "read" }"#);
    let stored_token = |token: &str, path: &str| {
        let (s, out, _) = call(&agent, Some(token), "GET", path, "");
        assert_eq!(s, 200, "{out}");
        let list = json_of(&out);
        let q = list
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["Name"] == "as-reader")
            .cloned()
            .unwrap();
        q["Token"].as_str().unwrap().to_string()
    };
    assert_eq!(stored_token(&lister, "/v1/query"), "<hidden>");
    assert_eq!(
        stored_token(&lister, &format!("/v1/query/{id}")),
        "<hidden>"
    );
    assert_eq!(stored_token(MGMT, "/v1/query"), reader);
}

#[test]
fn acls_disabled_answer_401_and_change_nothing() {
    let agent = Agent::start(free_port(), None);
    let (s, body, headers) = call(&agent, None, "GET", "/v1/acl/tokens", "");
    assert_eq!((s, body.trim()), (401, "ACL support disabled"));
    assert_eq!(
        support::header(&headers, "X-Consul-Default-ACL-Policy"),
        Some("allow")
    );
    assert_eq!(call(&agent, None, "PUT", "/v1/kv/open", "1").0, 200);
    // A made-up token changes nothing with ACLs off.
    assert_eq!(
        call(&agent, Some("whatever"), "GET", "/v1/kv/open", "").0,
        200
    );
}

#[test]
fn login_through_a_jwt_auth_method_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let agent = start_acl_agent(dir.path(), json!({}));
    let m = Some(MGMT);
    let key = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let method = json!({
        "Name": "test-jwt", "Type": "jwt", "MaxTokenTTL": "10m",
        "Config": {
            "JWTValidationPubKeys": [key.public_key_pem()],
            "JWTSupportedAlgs": ["ES256"],
            "BoundIssuer": "test-issuer",
            "ClaimMappings": {"service": "svc"},
        },
    });
    let (s, out, _) = call(&agent, m, "PUT", "/v1/acl/auth-method", &method.to_string());
    assert_eq!(s, 200, "{out}");
    let rule = r#"{"AuthMethod":"test-jwt","Selector":"value.svc == \"web\"","BindType":"service","BindName":"${value.svc}"}"#;
    let (s, out, _) = call(&agent, m, "PUT", "/v1/acl/binding-rule", rule);
    assert_eq!(s, 200, "{out}");
    let bad = r#"{"AuthMethod":"test-jwt","Selector":"value.svc ==","BindType":"service","BindName":"x"}"#;
    let (s, out, _) = call(&agent, m, "PUT", "/v1/acl/binding-rule", bad);
    assert!(s == 500 && out.contains("Selector is invalid"), "{s} {out}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |claims: Value| {
        let pem = key.serialize_pem();
        let encoding = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &encoding,
        )
        .unwrap()
    };
    let login = |jwt: &str| {
        let body = json!({"AuthMethod": "test-jwt", "BearerToken": jwt, "Meta": {"pod": "p1"}});
        call(&agent, None, "POST", "/v1/acl/login", &body.to_string())
    };
    let (s, out, _) = login(&sign(
        json!({"iss": "test-issuer", "service": "web", "exp": now + 60}),
    ));
    assert_eq!(s, 200, "{out}");
    let token = json_of(&out);
    assert_eq!(token["AuthMethod"], "test-jwt");
    assert_eq!(
        token["Description"],
        r#"token created via login: {"pod":"p1"}"#
    );
    assert_eq!(token["ServiceIdentities"], json!([{"ServiceName": "web"}]));
    assert_eq!(token["Local"], true);
    assert!(token["ExpirationTime"].is_string(), "{token}");
    let secret = token["SecretID"].as_str().unwrap().to_string();
    // The service identity's rules: write on `web`, nothing on `api`.
    let s = Some(secret.as_str());
    assert_eq!(
        call(
            &agent,
            s,
            "PUT",
            "/v1/agent/service/register",
            r#"{"Name":"web"}"#
        )
        .0,
        200
    );
    assert_eq!(
        call(
            &agent,
            s,
            "PUT",
            "/v1/agent/service/register",
            r#"{"Name":"api"}"#
        )
        .0,
        403
    );

    // Refused: another issuer, a claim no rule binds, an expired token, another key.
    let (s1, o1, _) = login(&sign(json!({"iss": "other", "service": "web"})));
    assert!(s1 == 500 && o1.contains("issuer"), "{s1} {o1}");
    let (s2, o2, _) = login(&sign(json!({"iss": "test-issuer", "service": "db"})));
    assert_eq!(s2, 403, "{o2}");
    let (s3, o3, _) = login(&sign(
        json!({"iss": "test-issuer", "service": "web", "exp": now - 3600}),
    ));
    assert!(s3 == 500 && o3.contains("expired"), "{s3} {o3}");
    let other = rcgen::KeyPair::generate().unwrap();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &json!({"iss": "test-issuer", "service": "web"}),
        &jsonwebtoken::EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let (s4, o4, _) = login(&forged);
    assert!(s4 == 500 && o4.contains("signature"), "{s4} {o4}");

    // `tribune login` writes the new token's secret to the sink file; `tribune logout` ends it.
    let bearer = dir.path().join("jwt");
    std::fs::write(
        &bearer,
        sign(json!({"iss": "test-issuer", "service": "web"})),
    )
    .unwrap();
    let sink = dir.path().join("token");
    let (code, out, err) = cli(
        &agent,
        &[
            "login",
            &format!("-bearer-token-file={}", bearer.display()),
            "-method=test-jwt",
            &format!("-token-sink-file={}", sink.display()),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let cli_secret = std::fs::read_to_string(&sink).unwrap();
    assert_eq!(
        call(&agent, Some(&cli_secret), "GET", "/v1/acl/token/self", "").0,
        200
    );
    let (code, out, err) = cli(&agent, &["logout", &format!("-token={cli_secret}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        call(&agent, Some(&cli_secret), "GET", "/v1/acl/token/self", "").0,
        403
    );

    // Logout deletes the login's token; a token not made by login cannot log out.
    let (s, out, _) = call(&agent, Some(&secret), "POST", "/v1/acl/logout", "");
    assert_eq!((s, out.trim()), (200, "true"));
    assert_eq!(
        call(&agent, Some(&secret), "GET", "/v1/acl/token/self", "").0,
        403
    );
    assert_eq!(call(&agent, m, "POST", "/v1/acl/logout", "").0, 403);
}
