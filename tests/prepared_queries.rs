//! Prepared queries (issue 17) with real agents: create, read, list, update, delete;
//! `execute` with health, tags and templates (regexp interpolation); `explain`; failover of a
//! query to a second datacenter on loopback (dc1 on 127.0.0.108, dc2 on .109), over HTTP and
//! DNS; queries bound to a session.

mod support;

use serde_json::{json, Value};
use support::{eventually, free_port, Agent};

fn register(agent: &Agent, node: &str, tags: &[&str], status: &str) {
    let body = json!({
        "Node": node, "Address": "10.0.0.1",
        "Service": {"Service": "web", "Tags": tags, "Port": 80},
        "Check": {"CheckID": "health", "Name": "h", "Status": status, "ServiceID": "web"},
    });
    assert_eq!(
        agent
            .put("/v1/catalog/register", body.to_string().as_bytes())
            .0,
        200
    );
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"))
}

fn post(agent: &Agent, body: Value) -> (u16, String) {
    let (s, b, _) = agent
        .call("POST", "/v1/query", body.to_string().as_bytes())
        .unwrap();
    (s, b)
}

fn nodes(result: &Value) -> Vec<String> {
    let mut n: Vec<String> = result["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Node"]["Node"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn queries_are_stored_executed_and_rendered() {
    let agent = Agent::start_with(free_port(), None, &[]);
    register(&agent, "n1", &["v1", "primary"], "passing");
    register(&agent, "n2", &["v2"], "warning");
    register(&agent, "n3", &["v1"], "critical");

    let (s, body) = post(
        &agent,
        json!({"Name": "web-q", "Service": {"Service": "web"}}),
    );
    assert_eq!(s, 200, "{body}");
    let id = json_of(&body)["ID"].as_str().unwrap().to_string();
    // Critical instances never; warning ones unless OnlyPassing.
    let (_, body) = agent.get("/v1/query/web-q/execute").unwrap();
    let result = json_of(&body);
    assert_eq!(nodes(&result), ["n1", "n2"]);
    assert_eq!(
        (result["Service"].clone(), result["Failovers"].clone()),
        (json!("web"), json!(0))
    );
    let (_, body) = agent
        .get(&format!("/v1/query/{id}/execute?limit=1"))
        .unwrap();
    assert_eq!(json_of(&body)["Nodes"].as_array().unwrap().len(), 1);

    // Update: only passing, without the primary tag.
    let update = json!({"Name": "web-q", "Service": {"Service": "web", "OnlyPassing": true, "Tags": ["!primary"]}});
    let (s, _) = agent.put(&format!("/v1/query/{id}"), update.to_string().as_bytes());
    assert_eq!(s, 200);
    let (_, body) = agent.get("/v1/query/web-q/execute").unwrap();
    assert!(nodes(&json_of(&body)).is_empty(), "{body}");
    let (_, body) = agent.get(&format!("/v1/query/{id}")).unwrap();
    assert_eq!(json_of(&body)[0]["Service"]["OnlyPassing"], true);

    // A template: the regexp's groups fill the service and the tags.
    let template = json!({
        "Name": "geo-",
        "Template": {"Type": "name_prefix_match", "Regexp": "^geo-([^-]+)-(.+)$"},
        "Service": {"Service": "${match(1)}", "Tags": ["${match(2)}"]},
    });
    assert_eq!(post(&agent, template).0, 200);
    let (_, body) = agent.get("/v1/query/geo-web-v2/execute").unwrap();
    let result = json_of(&body);
    assert_eq!(
        (nodes(&result), result["Service"].clone()),
        (vec!["n2".to_string()], json!("web"))
    );
    let (_, body) = agent.get("/v1/query/geo-web-v1/explain").unwrap();
    let explained = json_of(&body);
    assert_eq!(explained["Query"]["Service"]["Service"], "web");
    assert_eq!(explained["Query"]["Service"]["Tags"], json!(["v1"]));

    // List, refusals, delete.
    let (_, body) = agent.get("/v1/query").unwrap();
    assert_eq!(json_of(&body).as_array().unwrap().len(), 2);
    let (s, text) = post(&agent, json!({"Service": {"Service": "web"}}));
    assert_eq!((s, text.as_str()), (500, "Must be bound to a session"));
    let (s, text) = post(
        &agent,
        json!({"Name": "web-q", "Service": {"Service": "db"}}),
    );
    assert_eq!(s, 500);
    assert!(text.contains("aliases an existing query name"), "{text}");
    let (s, _, _) = agent
        .call("DELETE", &format!("/v1/query/{id}"), b"")
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        agent.get(&format!("/v1/query/{id}")).unwrap(),
        (404, "Query not found".to_string())
    );
    assert_eq!(
        agent.get("/v1/query/nothing/execute").unwrap(),
        (404, "Query not found".to_string())
    );

    // Bound to a session: refused while the session does not exist, deleted with it.
    let (s, text) = post(
        &agent,
        json!({"Session": "3f5e9c2a-0000-4000-8000-000000000000", "Service": {"Service": "web"}}),
    );
    assert_eq!(
        (s, text.as_str()),
        (
            500,
            r#"invalid session "3f5e9c2a-0000-4000-8000-000000000000""#
        )
    );
    let (_, body) = agent.put("/v1/session/create", b"{}");
    let session = json_of(&body)["ID"].as_str().unwrap().to_string();
    let (s, body) = post(
        &agent,
        json!({"Session": session, "Service": {"Service": "web"}}),
    );
    assert_eq!(s, 200, "{body}");
    let bound = json_of(&body)["ID"].as_str().unwrap().to_string();
    assert_eq!(agent.get(&format!("/v1/query/{bound}")).unwrap().0, 200);
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{session}"), b"").0,
        200
    );
    assert_eq!(
        agent.get(&format!("/v1/query/{bound}")).unwrap(),
        (404, "Query not found".to_string())
    );
}

#[test]
fn a_query_fails_over_to_another_datacenter() {
    let dir = tempfile::tempdir().unwrap();
    let server = |n: u8, dc: &str, extra: &[&str]| {
        let mut args = vec!["-server", "-bootstrap-expect=1"];
        let dc_flag = format!("-datacenter={dc}");
        args.push(&dc_flag);
        args.extend_from_slice(extra);
        Agent::on_loopback(n, &format!("s{n}"), dir.path(), &args)
    };
    let dc1 = server(108, "dc1", &[]);
    let dc2 = server(
        109,
        "dc2",
        &["-retry-join-wan=127.0.0.108", "-retry-interval=1s"],
    );
    eventually(
        30,
        "dc2 answers through dc1",
        || matches!(dc1.get("/v1/catalog/nodes?dc=dc2"), Ok((200, b)) if b.contains("s109")),
    );
    let db = json!({"Node": "db-node", "Address": "10.2.0.1", "Service": {"Service": "db", "Port": 5432}});
    assert_eq!(
        dc2.put("/v1/catalog/register", db.to_string().as_bytes()).0,
        200
    );
    // The peer target is tried first (and finds nothing); a datacenter answering first would
    // stop there.
    let targets =
        json!({"Targets": [{"Peer": "nowhere"}, {"Datacenter": "dc2"}, {"Peer": "later"}]});
    for failover in [
        json!({"Datacenters": ["dc2"]}),
        json!({"NearestN": 1}),
        targets,
    ] {
        let name = format!(
            "db-{}",
            failover.as_object().unwrap().keys().next().unwrap()
        );
        let (s, body) = post(
            &dc1,
            json!({"Name": name, "Service": {"Service": "db", "Failover": failover}}),
        );
        assert_eq!(s, 200, "{body}");
        let (_, body) = dc1.get(&format!("/v1/query/{name}/execute")).unwrap();
        let result = json_of(&body);
        assert_eq!(result["Datacenter"], "dc2", "{body}");
        // A peer target counts as an attempt (and finds nothing: no peering).
        let attempts = if name == "db-Targets" { 2 } else { 1 };
        assert_eq!(result["Failovers"], attempts);
        assert_eq!(result["Nodes"][0]["Node"]["Node"], "db-node");
    }
    let (s, text) = post(
        &dc1,
        json!({"Name": "both", "Service": {"Service": "db", "Failover": {"NearestN": 1, "Targets": [{"Datacenter": "dc2"}]}}}),
    );
    assert_eq!(
        (s, text.as_str()),
        (
            500,
            "Targets cannot be populated with NearestN or Datacenters"
        )
    );
    // Over DNS too: `<query>.query.consul` on dc1 answers with dc2's instance.
    assert_eq!(
        support::dig("127.0.0.108", "db-datacenters.query.consul"),
        ["10.2.0.1"]
    );
}

/// `<query>.query.consul` over DNS: a template with regexp interpolation picks the service,
/// its health rules hold, and the query's `DNS.TTL` is the answers' TTL.
#[test]
fn a_template_query_answers_over_dns() {
    let dns_port = free_port();
    let agent = Agent::start_with(free_port(), None, &["-dns-port", &dns_port.to_string()]);
    for (node, addr, status) in [
        ("w1", "10.3.0.1", "passing"),
        ("w2", "10.3.0.2", "critical"),
    ] {
        let body = json!({
            "Node": node, "Address": addr,
            "Service": {"Service": "web", "Port": 8080},
            "Check": {"CheckID": "health", "Name": "h", "Status": status, "ServiceID": "web"},
        });
        assert_eq!(
            agent
                .put("/v1/catalog/register", body.to_string().as_bytes())
                .0,
            200
        );
    }
    let template = json!({
        "Name": "geo-",
        "Template": {"Type": "name_prefix_match", "Regexp": "^geo-(.+)$"},
        "Service": {"Service": "${match(1)}"},
        "DNS": {"TTL": "7s"},
    });
    assert_eq!(post(&agent, template).0, 200);
    assert_eq!(
        support::dig_port("127.0.0.1", dns_port, "geo-web.query.consul"),
        ["10.3.0.1"]
    );
    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns_port.to_string(),
            "+noall",
            "+answer",
            "geo-web.query.consul",
            "SRV",
        ])
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(fields.get(1), Some(&"7"), "the query's TTL: {answer}");
    assert!(answer.contains("8080 w1.node.dc1.consul."), "{answer}");
    assert!(support::dig_port("127.0.0.1", dns_port, "geo-nothing.query.consul").is_empty());
}
