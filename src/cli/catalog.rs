//! `tribune members`, `catalog datacenters|nodes|services`, `services register|deregister`
//! and `maint`, with Consul's output.

use std::collections::BTreeMap;

use serde_json::Value;

use super::client::{connect, Client};

/// Go's `columnize`: columns separated by two spaces, left-aligned, last column unpadded.
pub fn columnize(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(crate) fn get_json(client: &Client, path: &str) -> Result<Value, String> {
    let a = client.call("GET", path, None)?;
    if a.status != 200 {
        return Err(format!("Error querying agent: {}", a.error_text()));
    }
    serde_json::from_slice(&a.body).map_err(|e| e.to_string())
}

pub(crate) fn finish(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            // Empty: the error was printed already (with the command's usage).
            if !e.is_empty() {
                eprintln!("{e}");
            }
            1
        }
    }
}

/// `tribune members [-detailed] [-wan] [-status=<regex-free substring>]`.
pub fn members(args: &[String]) -> i32 {
    let run = || -> Result<i32, String> {
        let (p, client) = connect(
            args,
            &["detailed", "wan"],
            &["status", "segment", "filter", "partition"],
        )?;
        let path = match p.flag("wan") {
            true => "/v1/agent/members?wan=1",
            false => "/v1/agent/members",
        };
        let members = get_json(&client, path)?;
        let status_word = |s: u64| {
            ["none", "alive", "leaving", "left", "failed"]
                .get(s as usize)
                .copied()
                .unwrap_or("unknown")
        };
        let mut rows = Vec::new();
        let mut list: Vec<&Value> = members
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        // Servers first, then by name (Consul's order).
        list.sort_by_key(|m| {
            (
                m["Tags"]["role"] != "consul",
                m["Name"].as_str().unwrap_or("").to_string(),
            )
        });
        let wanted = p.value("status");
        for m in list {
            let status = status_word(m["Status"].as_u64().unwrap_or(0));
            if wanted.is_some_and(|w| !status.contains(w)) {
                continue;
            }
            let addr = format!("{}:{}", m["Addr"].as_str().unwrap_or(""), m["Port"]);
            let tags: BTreeMap<String, String> = m["Tags"]
                .as_object()
                .map(|t| {
                    t.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let name = m["Name"].as_str().unwrap_or("").to_string();
            if p.flag("detailed") {
                let joined: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                rows.push(vec![name, addr, status.into(), joined.join(",")]);
            } else {
                let server = tags.get("role").is_some_and(|r| r == "consul");
                let build = tags
                    .get("build")
                    .map(|b| b.split(':').next().unwrap_or("").to_string())
                    .unwrap_or_default();
                rows.push(vec![
                    name,
                    addr,
                    status.into(),
                    if server { "server" } else { "client" }.into(),
                    build,
                    tags.get("vsn").cloned().unwrap_or_default(),
                    tags.get("dc").cloned().unwrap_or_default(),
                    "default".into(),
                    if server { "<all>" } else { "<default>" }.into(),
                ]);
            }
        }
        if rows.is_empty() {
            return Ok(2);
        }
        let header: Vec<String> = if p.flag("detailed") {
            ["Node", "Address", "Status", "Tags"]
                .map(String::from)
                .to_vec()
        } else {
            [
                "Node",
                "Address",
                "Status",
                "Type",
                "Build",
                "Protocol",
                "DC",
                "Partition",
                "Segment",
            ]
            .map(String::from)
            .to_vec()
        };
        rows.insert(0, header);
        print!("{}", columnize(&rows));
        Ok(0)
    };
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `tribune catalog datacenters|nodes|services`.
pub fn catalog(args: &[String]) -> i32 {
    let Some((sub, rest)) = args.split_first() else {
        eprintln!("Usage: tribune catalog <subcommand> [options]\n\nSubcommands: datacenters nodes services");
        return 1;
    };
    finish(match sub.as_str() {
        "datacenters" => connect(rest, &[], &[]).and_then(|(_, c)| {
            for dc in get_json(&c, "/v1/catalog/datacenters")?
                .as_array()
                .into_iter()
                .flatten()
            {
                println!("{}", dc.as_str().unwrap_or(""));
            }
            Ok(())
        }),
        "nodes" => catalog_nodes(rest),
        "services" => catalog_services(rest),
        other => Err(format!("Unknown catalog subcommand: {other}")),
    })
}

fn catalog_nodes(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &["detailed"],
        &["service", "near", "node-meta", "filter"],
    )?;
    // `-near`, `-node-meta` (repeatable) and `-filter` go to the server as query parameters.
    let mut query = Vec::new();
    for (flag, param) in [
        ("near", "near"),
        ("node-meta", "node-meta"),
        ("filter", "filter"),
    ] {
        for v in p.values.get(flag).into_iter().flatten() {
            let v = percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
            query.push(format!("{param}={v}"));
        }
    }
    let query = match query.is_empty() {
        true => String::new(),
        false => format!("?{}", query.join("&")),
    };
    let nodes = match p.value("service") {
        Some(service) => {
            let instances = get_json(&client, &format!("/v1/catalog/service/{service}{query}"))?;
            // One row per node, in the server's order (`-near` sorts it).
            let mut seen = std::collections::HashSet::new();
            let rows = instances
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| seen.insert(i["Node"].as_str().unwrap_or("").to_string()));
            Value::Array(rows.map(|i| serde_json::json!({
                "Node": i["Node"], "ID": i["ID"], "Address": i["Address"], "Datacenter": i["Datacenter"],
                "TaggedAddresses": i["TaggedAddresses"], "Meta": i["NodeMeta"],
            })).collect())
        }
        None => get_json(&client, &format!("/v1/catalog/nodes{query}"))?,
    };
    let list = nodes.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        eprintln!("No nodes match the given query - try expanding your search.");
        return Ok(());
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut rows = vec![if p.flag("detailed") {
        ["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]
            .map(String::from)
            .to_vec()
    } else {
        ["Node", "ID", "Address", "DC"].map(String::from).to_vec()
    }];
    for n in &list {
        let id = s(&n["ID"]);
        let pairs = |v: &Value| {
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        if p.flag("detailed") {
            rows.push(vec![
                s(&n["Node"]),
                id,
                s(&n["Address"]),
                s(&n["Datacenter"]),
                pairs(&n["TaggedAddresses"]),
                pairs(&n["Meta"]),
            ]);
        } else {
            rows.push(vec![
                s(&n["Node"]),
                id.chars().take(8).collect(),
                s(&n["Address"]),
                s(&n["Datacenter"]),
            ]);
        }
    }
    print!("{}", columnize(&rows));
    Ok(())
}

fn catalog_services(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["tags"], &["node", "node-meta", "filter"])?;
    let services: BTreeMap<String, Vec<String>> = match p.value("node") {
        Some(node) => {
            let found = get_json(&client, &format!("/v1/catalog/node/{node}"))?;
            let mut out = BTreeMap::new();
            for s in found["Services"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                let tags = s["Tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect();
                out.insert(s["Service"].as_str().unwrap_or("").to_string(), tags);
            }
            out
        }
        None => serde_json::from_value(get_json(&client, "/v1/catalog/services")?)
            .map_err(|e| e.to_string())?,
    };
    if services.is_empty() {
        eprintln!("No services match the given query - try expanding your search.");
        return Ok(());
    }
    if p.flag("tags") {
        let rows: Vec<Vec<String>> = services
            .iter()
            .map(|(n, t)| vec![n.clone(), t.join(",")])
            .collect();
        print!("{}", columnize(&rows));
    } else {
        for name in services.keys() {
            println!("{name}");
        }
    }
    Ok(())
}

/// `tribune services register|deregister`.
pub fn services(args: &[String]) -> i32 {
    let Some((sub, rest)) = args.split_first() else {
        eprintln!(
            "Usage: tribune services <subcommand> [options]\n\nSubcommands: register deregister"
        );
        return 1;
    };
    finish(match sub.as_str() {
        "register" => services_register(rest),
        "deregister" => services_deregister(rest),
        other => Err(format!("Unknown services subcommand: {other}")),
    })
}

/// Reads the service definitions of a JSON/HCL file (`service`/`services` keys).
fn definitions_from_file(path: &str) -> Result<Vec<Value>, String> {
    let files = vec![std::path::PathBuf::from(path)];
    let loaded = super::config_file::load(&files, &files)?;
    Ok(loaded.services)
}

fn services_register(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &[],
        &["name", "id", "address", "port", "tag", "meta", "kind"],
    )?;
    let definitions = match p.positional.first() {
        Some(file) => definitions_from_file(file)?,
        None => {
            let name = p
                .value("name")
                .ok_or("Service name must be specified with the -name flag")?;
            let meta: BTreeMap<&str, &str> = p
                .values
                .get("meta")
                .into_iter()
                .flatten()
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let port: u64 = p
                .value("port")
                .unwrap_or("0")
                .parse()
                .map_err(|_| "invalid -port")?;
            vec![serde_json::json!({
                "Name": name, "ID": p.value("id").unwrap_or(""), "Address": p.value("address").unwrap_or(""),
                "Port": port, "Tags": p.values.get("tag").cloned().unwrap_or_default(), "Meta": meta,
            })]
        }
    };
    for def in definitions {
        let name = def
            .get("Name")
            .or_else(|| def.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let a = client.call(
            "PUT",
            "/v1/agent/service/register",
            Some(def.to_string().as_bytes()),
        )?;
        if a.status != 200 {
            return Err(format!(
                "Error registering service {name:?}: {}",
                a.error_text()
            ));
        }
        println!("Registered service: {name}");
    }
    Ok(())
}

fn services_deregister(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["id"])?;
    let ids: Vec<String> = match (p.value("id"), p.positional.first()) {
        (Some(id), None) => vec![id.to_string()],
        (None, Some(file)) => definitions_from_file(file)?
            .iter()
            .map(|d| {
                let get = |k: &str| d.get(k).and_then(Value::as_str).map(String::from);
                get("ID")
                    .or(get("id"))
                    .or(get("Name"))
                    .or(get("name"))
                    .unwrap_or_default()
            })
            .collect(),
        (Some(_), Some(_)) => return Err("Only one of -id or a file may be given".into()),
        (None, None) => return Err("Either a file or the -id flag must be specified".into()),
    };
    for id in ids {
        let a = client.call("PUT", &format!("/v1/agent/service/deregister/{id}"), None)?;
        if a.status != 200 {
            return Err(format!(
                "Error deregistering service {id:?}: {}",
                a.error_text()
            ));
        }
        println!("Deregistered service: {id}");
    }
    Ok(())
}

/// `tribune maint [-enable|-disable] [-reason=..] [-service=<id>]`.
pub fn maint(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &["enable", "disable"], &["reason", "service"])?;
        let (enable, disable) = (p.flag("enable"), p.flag("disable"));
        if enable && disable {
            return Err("Only one of -enable or -disable may be provided".into());
        }
        if !enable && !disable {
            let checks = get_json(&client, "/v1/agent/checks")?;
            let self_ = get_json(&client, "/v1/agent/self")?;
            for c in checks.as_object().into_iter().flat_map(|m| m.values()) {
                let id = c["CheckID"].as_str().unwrap_or("");
                if id == "_node_maintenance" {
                    println!(
                        "Node:\n  Name:   {}\n  Reason: {}\n",
                        self_["Config"]["NodeName"].as_str().unwrap_or(""),
                        c["Notes"].as_str().unwrap_or("")
                    );
                } else if let Some(service) = id.strip_prefix("_service_maintenance:") {
                    println!(
                        "Service:\n  ID:     {service}\n  Reason: {}\n",
                        c["Notes"].as_str().unwrap_or("")
                    );
                }
            }
            return Ok(());
        }
        let reason = p.value("reason").unwrap_or("");
        let encoded: String =
            percent_encoding::utf8_percent_encode(reason, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let path = match p.value("service") {
            Some(id) => {
                format!("/v1/agent/service/maintenance/{id}?enable={enable}&reason={encoded}")
            }
            None => format!("/v1/agent/maintenance?enable={enable}&reason={encoded}"),
        };
        let a = client.call("PUT", &path, None)?;
        if a.status != 200 {
            return Err(format!(
                "Error {} maintenance: {}",
                if enable { "enabling" } else { "disabling" },
                a.error_text()
            ));
        }
        let state = if enable { "enabled" } else { "disabled" };
        match p.value("service") {
            Some(id) => println!("Service maintenance is now {state} for {id:?}"),
            None => println!("Node maintenance is now {state}"),
        }
        Ok(())
    })())
}
