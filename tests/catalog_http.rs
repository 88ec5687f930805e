//! Catalog and health endpoints of a real agent (3 shards): shapes, filters, blocking.

mod support;

use std::time::{Duration, Instant};

use support::{free_port, header, Agent};

fn register(agent: &Agent, body: serde_json::Value) {
    assert_eq!(
        agent.put("/v1/catalog/register", body.to_string().as_bytes()),
        (200, "true".into())
    );
}

#[test]
fn catalog_and_health_surface() {
    let agent = Agent::start(free_port(), None);
    // A write goes to the datacenter its body names, as Consul routes it: ours is served
    // here, an unknown one has no path (and nothing is written).
    for (dc, status) in [("dc1", 200), ("dc2", 500)] {
        let body = serde_json::json!({"Node": format!("in-{dc}"), "Address": "10.9.9.9", "Datacenter": dc});
        let (s, out) = agent.put("/v1/catalog/register", body.to_string().as_bytes());
        assert_eq!(s, status, "{dc}: {out}");
    }
    assert!(agent.get("/v1/catalog/node/in-dc2").unwrap().1.trim() == "null");
    let (s, _) = agent.put("/v1/catalog/deregister", br#"{"Node":"in-dc1"}"#);
    assert_eq!(s, 200);
    for (n, status) in [(1, "passing"), (2, "warning"), (3, "passing")] {
        register(
            &agent,
            serde_json::json!({
                "Node": format!("node{n}"), "Address": format!("10.0.0.{n}"),
                "NodeMeta": {"rack": format!("r{}", n % 2)},
                "Service": {"Service": "web", "ID": format!("web-{n}"), "Tags": [format!("v{n}"), "prod"], "Port": 8000 + n},
                "Checks": [
                    {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
                    {"CheckID": format!("service:web-{n}"), "Name": "web check", "ServiceID": format!("web-{n}"), "Status": status},
                ],
            }),
        );
    }
    register(
        &agent,
        serde_json::json!({"Node": "node1", "Address": "10.0.0.1", "NodeMeta": {"rack": "r1"}, "Service": {"Service": "db", "Port": 5432}}),
    );

    // Exact shape of one health entry (compact, no -dev indentation through ?pretty=false is
    // not a thing in Consul; parse and re-serialise to compare field order instead).
    let (_, body) = agent.get("/v1/health/service/web?tag=v1").unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(entries.len(), 1);
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    // serde_json sorts on parse; check field order on the raw text instead.
    let order = ["\"Node\"", "\"Service\"", "\"Checks\""];
    let at: Vec<usize> = order.iter().map(|k| body.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "entry field order");
    let service_order = [
        "\"ID\": \"web-1\"",
        "\"Service\": \"web\"",
        "\"Tags\"",
        "\"Address\"",
        "\"Meta\"",
        "\"Port\"",
        "\"Weights\"",
        "\"EnableTagOverride\"",
        "\"Proxy\"",
        "\"Connect\"",
        "\"PeerName\"",
        "\"CreateIndex\"",
    ];
    let service_text = &body[body.find("\"Service\": {").unwrap()..];
    let at: Vec<usize> = service_order
        .iter()
        .map(|k| {
            service_text
                .find(k)
                .unwrap_or_else(|| panic!("{k} in {body}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "NodeService field order: {body}"
    );
    assert!(body.contains("\"Proxy\": {\n                \"Mode\": \"\",\n                \"MeshGateway\": {},\n                \"Expose\": {}"), "{body}");
    assert_eq!(keys(&entries[0]["Checks"][1]).len(), 16);
    assert_eq!(
        entries[0]["Checks"][1]["ServiceTags"],
        serde_json::json!(["v1", "prod"])
    );

    // Tags AND, case-insensitive; passing drops the warning instance; node-meta filters.
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(
            &agent.get("/v1/health/service/web?tag=PROD").unwrap().1
        )
        .unwrap()
        .len(),
        3
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(
            &agent
                .get("/v1/health/service/web?tag=prod&tag=v2")
                .unwrap()
                .1
        )
        .unwrap()
        .len(),
        1
    );
    let passing: Vec<serde_json::Value> =
        serde_json::from_str(&agent.get("/v1/health/service/web?passing=1").unwrap().1).unwrap();
    assert_eq!(
        passing
            .iter()
            .map(|e| e["Node"]["Node"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["node1", "node3"]
    );
    assert_eq!(
        agent.get("/v1/health/service/web?passing=maybe").unwrap(),
        (400, "Invalid value for ?passing".into())
    );
    let rack1: Vec<serde_json::Value> = serde_json::from_str(
        &agent
            .get("/v1/catalog/service/web?node-meta=rack:r1")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(rack1.len(), 2);
    assert_eq!(rack1[0]["ServicePort"], 8001);

    // Catalog views.
    let services: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/catalog/services").unwrap().1).unwrap();
    assert_eq!(
        services,
        serde_json::json!({"consul": [], "db": [], "web": ["prod", "v1", "v2", "v3"]})
    );
    let nodes: Vec<serde_json::Value> =
        serde_json::from_str(&agent.get("/v1/catalog/nodes").unwrap().1).unwrap();
    assert_eq!(nodes.len(), 4, "three registered nodes and the agent's own");
    let node1: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/catalog/node/NODE1").unwrap().1).unwrap();
    assert_eq!(
        node1["Services"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["db", "web-1"]
    );
    assert_eq!(agent.get("/v1/catalog/node/nope").unwrap().1, "null");
    assert_eq!(
        agent
            .get("/v1/catalog/node-services/nope")
            .unwrap()
            .1
            .split_whitespace()
            .collect::<String>(),
        r#"{"Node":null,"Services":null}"#
    );
    let node_checks: Vec<serde_json::Value> =
        serde_json::from_str(&agent.get("/v1/health/node/node2").unwrap().1).unwrap();
    assert_eq!(node_checks.len(), 2);
    let warning: Vec<serde_json::Value> =
        serde_json::from_str(&agent.get("/v1/health/state/warning").unwrap().1).unwrap();
    assert_eq!(warning.len(), 1);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(
            &agent.get("/v1/health/state/any").unwrap().1
        )
        .unwrap()
        .len(),
        7 // six registered checks and the agent's serfHealth
    );
    assert_eq!(agent.get("/v1/health/state/bogus").unwrap().1, "[]");
    assert_eq!(
        agent
            .get("/v1/catalog/datacenters")
            .unwrap()
            .1
            .split_whitespace()
            .collect::<String>(),
        r#"["dc1"]"#
    );

    // Errors, with Consul's codes and texts.
    assert_eq!(
        agent.put("/v1/catalog/register", br#"{"Address":"1.2.3.4"}"#),
        (500, "Must provide node".into())
    );
    assert_eq!(
        agent.put("/v1/catalog/register", br#"{"Node":"x"}"#),
        (
            500,
            "Must provide address if SkipNodeUpdate is not set".into()
        )
    );
    assert_eq!(
        agent.put(
            "/v1/catalog/register",
            br#"{"Node":"x","Address":"a","Service":{"Name":"y"}}"#
        ),
        (
            400,
            "Request decode failed: json: unknown field \"Name\"".into()
        )
    );
    assert_eq!(
        agent.put(
            "/v1/catalog/register",
            br#"{"Node":"node1","Address":"a","Check":{"CheckID":"c","ServiceID":"ghost"}}"#
        ),
        (500, "Unknown service ID 'ghost' for check ID 'c'".into())
    );
    assert_eq!(
        agent.get("/v1/catalog/service/").unwrap(),
        (400, "Missing service name".into())
    );
    assert_eq!(
        agent.get("/v1/health/state/").unwrap(),
        (400, "Missing check state".into())
    );

    // Deregister a service, then a whole node.
    assert_eq!(
        agent
            .put(
                "/v1/catalog/deregister",
                br#"{"Node":"node1","ServiceID":"db"}"#
            )
            .1,
        "true"
    );
    assert_eq!(agent.get("/v1/catalog/service/db").unwrap().1.trim(), "[]");
    assert_eq!(
        agent
            .put("/v1/catalog/deregister", br#"{"Node":"node2"}"#)
            .1,
        "true"
    );
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(
            &agent.get("/v1/health/service/web").unwrap().1
        )
        .unwrap()
        .len(),
        2
    );
    assert_eq!(
        agent.put("/v1/catalog/deregister", br#"{}"#),
        (500, "Must provide node".into())
    );
}

#[test]
fn blocking_health_query_wakes_on_status_change() {
    let agent = Agent::start(free_port(), None);
    let reg = |status: &str| {
        serde_json::json!({
            "Node": "n1", "Address": "10.0.0.1",
            "Service": {"Service": "api", "Port": 80},
            "Check": {"CheckID": "service:api", "Name": "api", "ServiceID": "api", "Status": status},
        })
    };
    register(&agent, reg("critical"));
    let (_, _, headers) = agent
        .call("GET", "/v1/health/service/api?passing", b"")
        .unwrap();
    let index: u64 = header(&headers, "X-Consul-Index").unwrap().parse().unwrap();
    assert_eq!(
        header(&headers, "X-Consul-Effective-Consistency"),
        Some("leader")
    );

    // An unrelated write does not end the wait early with a changed index for this service.
    let port = agent.port;
    let waiter = std::thread::spawn(move || {
        let url =
            format!("http://127.0.0.1:{port}/v1/health/service/api?passing&index={index}&wait=20s");
        let resp = ureq::get(&url).call().unwrap();
        let idx: u64 = resp.header("X-Consul-Index").unwrap().parse().unwrap();
        (idx, resp.into_string().unwrap(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(200));
    register(
        &agent,
        serde_json::json!({"Node": "other", "Address": "10.0.0.9", "Service": {"Service": "unrelated"}}),
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !waiter.is_finished(),
        "an unrelated service woke a health watcher"
    );
    register(&agent, reg("passing"));
    let written = Instant::now();
    let (idx, body, woke) = waiter.join().unwrap();
    assert!(idx > index);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert!(woke.duration_since(written) < Duration::from_secs(5));
}

#[test]
fn filter_expressions_on_catalog_health_and_agent() {
    let agent = Agent::start(free_port(), None);
    for (n, env) in [(1, "prod"), (2, "dev"), (3, "prod")] {
        register(
            &agent,
            serde_json::json!({
                "Node": format!("f{n}"), "Address": format!("10.1.0.{n}"), "NodeMeta": {"rack": format!("r{n}")},
                "Service": {"Service": "api", "ID": format!("api-{n}"), "Tags": [env], "Meta": {"env": env}, "Port": 9000 + n},
                "Check": {"CheckID": format!("c{n}"), "ServiceID": format!("api-{n}"), "Status": if n == 3 { "critical" } else { "passing" }},
            }),
        );
    }
    let count = |path: &str| {
        serde_json::from_str::<Vec<serde_json::Value>>(&agent.get(path).unwrap().1)
            .unwrap()
            .len()
    };
    let q = |expr: &str| {
        percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    assert_eq!(
        count(&format!(
            "/v1/health/service/api?filter={}",
            q("Service.Meta.env == prod")
        )),
        2
    );
    // catalog/services: the filter sees each instance; a service keeps the tags of the
    // instances that matched.
    let services = |expr: &str| -> serde_json::Value {
        let path = format!("/v1/catalog/services?filter={}", q(expr));
        serde_json::from_str(&agent.get(&path).unwrap().1).unwrap()
    };
    assert_eq!(
        services("\"dev\" in ServiceTags"),
        serde_json::json!({"api": ["dev"]})
    );
    assert_eq!(
        services("ServicePort == 9003"),
        serde_json::json!({"api": ["prod"]})
    );
    assert_eq!(services("ServiceName == nothing"), serde_json::json!({}));
    assert_eq!(
        count(&format!(
            "/v1/health/service/api?filter={}",
            q("Service.Meta.env == prod and Service.Port == 9003")
        )),
        1
    );
    assert_eq!(
        count(&format!(
            "/v1/health/service/api?filter={}",
            q("not (Service.Meta.env == prod)")
        )),
        1
    );
    assert_eq!(
        count(&format!(
            "/v1/catalog/service/api?filter={}",
            q("dev in ServiceTags or NodeMeta.rack == r3")
        )),
        2
    );
    assert_eq!(
        count(&format!(
            "/v1/catalog/nodes?filter={}",
            q("Meta.rack matches \"r[12]\"")
        )),
        2
    );
    assert_eq!(
        count(&format!(
            "/v1/health/state/any?filter={}",
            q("Status == critical")
        )),
        1
    );
    let (status, text) = agent
        .get(&format!(
            "/v1/health/service/api?filter={}",
            q("Service ==")
        ))
        .unwrap();
    assert_eq!(status, 500);
    assert!(
        text.starts_with("Failed to create boolean expression evaluator: "),
        "{text}"
    );
    // The agent's own maps filter on their values.
    assert_eq!(
        agent
            .put(
                "/v1/agent/service/register",
                br#"{"Name":"a1","Tags":["x"]}"#
            )
            .0,
        200
    );
    assert_eq!(
        agent
            .put("/v1/agent/service/register", br#"{"Name":"a2"}"#)
            .0,
        200
    );
    let services: serde_json::Value = serde_json::from_str(
        &agent
            .get(&format!("/v1/agent/services?filter={}", q("x in Tags")))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(
        services.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["a1"]
    );
}

/// The rendered-answer cache (`http::body_cache`) never serves what a fresh render would not
/// say: random catalog changes on a 2-shard agent, and after each one every hot read asked in
/// a form the cache holds (repeated) and in a form it has never seen (an unknown query
/// parameter makes a new key), compared byte for byte, `X-Consul-Index` included.
#[test]
fn cached_reads_match_fresh_ones_under_random_catalog_changes() {
    use rand::{Rng, SeedableRng};
    use serde_json::json;
    let (agent, _config) = Agent::start_with_prometheus(&["-shards", "2"]);
    let reads = [
        "/v1/health/service/web",
        "/v1/health/service/web?passing",
        "/v1/health/service/web?tag=v1&pretty",
        "/v1/health/service/api?filter=Service.Port%20%3E%204000",
        "/v1/health/service/missing",
        "/v1/catalog/service/web",
        "/v1/catalog/service/api?node-meta=rack:a",
        "/v1/catalog/services",
        "/v1/catalog/services?node-meta=rack:b",
    ];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261208);
    let statuses = ["passing", "warning", "critical"];
    for step in 0..60 {
        let node = format!("n{}", rng.gen_range(0..4));
        let address = format!("10.0.0.{}", rng.gen_range(1..4));
        let rack = ["a", "b"][rng.gen_range(0..2)];
        let meta = json!({ "rack": rack });
        let (path, body) = match rng.gen_range(0..6) {
            0 | 1 => {
                let service = ["web", "api"][rng.gen_range(0..2)];
                let id = format!("{service}-{}", rng.gen_range(0..2));
                let tags: Vec<&str> = ["v1", "v2"].into_iter().filter(|_| rng.gen()).collect();
                let body = json!({"Node": node, "Address": address, "NodeMeta": meta,
                       "Service": {"ID": id, "Service": service, "Tags": tags, "Port": rng.gen_range(1..9000)},
                       "Check": {"CheckID": format!("c-{id}"), "ServiceID": id,
                                 "Status": statuses[rng.gen_range(0..3)]}});
                ("/v1/catalog/register", body)
            }
            2 => (
                "/v1/catalog/register",
                json!({"Node": node, "Address": address, "NodeMeta": meta}),
            ),
            3 => (
                "/v1/catalog/register",
                json!({"Node": node, "Address": address,
                        "Check": {"CheckID": "serfHealth", "Status": statuses[rng.gen_range(0..3)]}}),
            ),
            4 => match rng.gen_range(0..2) {
                0 => ("/v1/catalog/deregister", json!({"Node": node})),
                _ => (
                    "/v1/catalog/deregister",
                    json!({"Node": node, "ServiceID": format!("web-{}", rng.gen_range(0..2))}),
                ),
            },
            // A write outside the catalog: cached answers stay right either way.
            _ => ("/v1/kv/unrelated", json!(rng.gen::<u32>())),
        };
        let (status, _, _) = agent
            .call("PUT", path, body.to_string().as_bytes())
            .unwrap();
        assert_eq!(status, 200, "step {step}: {body}");
        for read in reads {
            let joiner = if read.contains('?') { '&' } else { '?' };
            let fresh_path = format!("{read}{joiner}never-seen-{}", rng.gen::<u64>());
            let answer = |path: &str| {
                let (status, body, headers) = agent.call("GET", path, b"").unwrap();
                let index = header(&headers, "X-Consul-Index").map(str::to_string);
                (status, body, index)
            };
            let fresh = answer(&fresh_path);
            for _ in 0..3 {
                assert_eq!(answer(read), fresh, "step {step}: {read} after {body}");
            }
        }
    }
    // The comparison above meant something only if the cache answered.
    let hits = agent.prometheus_value("consul_api_http_cache_hit");
    assert!(hits > 500.0, "cache hits: {hits}");
}
