//! Cluster verbs: `join`, `leave`, `force-leave`, `operator raft list-peers`, `info`, `keygen`.
//! Clients of our HTTP API, with Consul's outputs.

use serde_json::Value;

use super::catalog::{columnize, finish, get_json};
use super::client::connect;

/// `tribune join [-wan] <addr>...`
pub fn join(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &["wan"], &[])?;
        if p.positional.is_empty() {
            return Err("At least one address to join must be specified.".into());
        }
        let wan = if p.flag("wan") { "?wan=1" } else { "" };
        let mut joined = 0;
        for addr in &p.positional {
            let a = client.call("PUT", &format!("/v1/agent/join/{addr}{wan}"), None)?;
            if a.status != 200 {
                return Err(format!(
                    "Error joining address '{addr}': {}",
                    a.error_text()
                ));
            }
            joined += 1;
        }
        println!("Successfully joined cluster by contacting {joined} nodes.");
        Ok(())
    })())
}

/// `tribune leave`: graceful leave and shutdown of the target agent.
pub fn leave(args: &[String]) -> i32 {
    finish((|| {
        let (_, client) = connect(args, &[], &[])?;
        let a = client.call("PUT", "/v1/agent/leave", None)?;
        if a.status != 200 {
            return Err(format!("Error leaving: {}", a.error_text()));
        }
        println!("Graceful leave complete");
        Ok(())
    })())
}

/// `tribune reload`: the agent re-reads its configuration.
pub fn reload(args: &[String]) -> i32 {
    finish((|| {
        let (_, client) = connect(args, &[], &[])?;
        let a = client.call("PUT", "/v1/agent/reload", None)?;
        if a.status != 200 {
            return Err(format!("Error reloading: {}", a.error_text()));
        }
        println!("Configuration reload triggered");
        Ok(())
    })())
}

/// `tribune monitor [-log-level=<level>] [-log-json]`: the agent's log from now on, until the
/// agent goes (exit 1, as Consul) or the user stops it.
pub fn monitor(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &["log-json"], &["log-level"])?;
        let mut path = String::from("/v1/agent/monitor");
        let level = p.value("log-level").unwrap_or("INFO");
        if !level.is_empty() {
            path.push_str(&format!("?loglevel={level}"));
        }
        if p.flag("log-json") {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str("logjson=true");
        }
        client
            .stream_lines(&path, |line| {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            })
            .map_err(|e| format!("Error starting monitor: {e}"))?;
        Err("\nRemote side ended the monitor! This usually means that the\nremote side has exited or crashed.".into())
    })())
}

/// `tribune force-leave [-prune] [-wan] <node>`: silent on success.
pub fn force_leave(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &["prune", "wan"], &[])?;
        let [node] = p.positional.as_slice() else {
            return Err("A single node name must be specified to force leave.".into());
        };
        let mut query = Vec::new();
        if p.flag("prune") {
            query.push("prune=1");
        }
        if p.flag("wan") {
            query.push("wan=1");
        }
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let a = client.call("PUT", &format!("/v1/agent/force-leave/{node}{q}"), None)?;
        if a.status != 200 {
            return Err(format!("Error force leaving: {}", a.error_text()));
        }
        Ok(())
    })())
}

/// `tribune operator raft list-peers [-stale]`.
pub fn operator(args: &[String]) -> i32 {
    if let Some(code) = super::operator::run(args) {
        return code;
    }
    match (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    ) {
        (Some("raft"), Some("list-peers")) => finish(list_peers(&args[2..])),
        (Some("raft"), Some("remove-peer")) => finish(remove_peer(&args[2..])),
        _ => {
            eprintln!(
                "Usage: tribune operator raft list-peers [-stale] | remove-peer -id=<id>|-address=<ip:port> | transfer-leader [-id=<id>]\n       tribune operator autopilot get-config | set-config [-<setting>=<value>] | state"
            );
            1
        }
    }
}

fn remove_peer(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["id", "address"])?;
    let (query, what) = match (p.value("id"), p.value("address")) {
        (Some(id), None) => (format!("id={id}"), format!("id {id:?}")),
        (None, Some(a)) => (format!("address={a}"), format!("address {a:?}")),
        _ => return Err("Error removing peer: exactly one of -id or -address is required".into()),
    };
    let a = client.call("DELETE", &format!("/v1/operator/raft/peer?{query}"), None)?;
    if a.status != 200 {
        return Err(format!("Error removing peer: {}", a.error_text()));
    }
    println!("Removed peer with {what}");
    Ok(())
}

fn list_peers(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[])?;
    let path = if p.flag("stale") {
        "/v1/operator/raft/configuration?stale"
    } else {
        "/v1/operator/raft/configuration"
    };
    let a = client.call("GET", path, None)?;
    if a.status != 200 {
        return Err(format!(
            "Failed to retrieve raft configuration: {}",
            a.error_text()
        ));
    }
    let conf: Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    let servers = conf["Servers"].as_array().cloned().unwrap_or_default();
    let leader_index = servers
        .iter()
        .find(|s| s["Leader"] == true)
        .and_then(|s| s["LastIndex"].as_u64())
        .unwrap_or(0);
    let mut rows = vec![[
        "Node",
        "ID",
        "Address",
        "State",
        "Voter",
        "RaftProtocol",
        "Commit Index",
        "Trails Leader By",
    ]
    .map(String::from)
    .to_vec()];
    for s in &servers {
        let leader = s["Leader"] == true;
        let index = s["LastIndex"].as_u64().unwrap_or(0);
        let behind = leader_index.saturating_sub(index);
        rows.push(vec![
            s["Node"].as_str().unwrap_or("").into(),
            s["ID"].as_str().unwrap_or("").into(),
            s["Address"].as_str().unwrap_or("").into(),
            if leader { "leader" } else { "follower" }.into(),
            s["Voter"].as_bool().unwrap_or(false).to_string(),
            s["ProtocolVersion"].as_str().unwrap_or("").into(),
            index.to_string(),
            if leader {
                "-".into()
            } else if behind == 1 {
                "1 commit".into()
            } else {
                format!("{behind} commits")
            },
        ]);
    }
    print!("{}", columnize(&rows));
    Ok(())
}

/// `tribune info`: the agent's `Stats`, one section per line, keys sorted.
pub fn info(args: &[String]) -> i32 {
    finish((|| {
        let (_, client) = connect(args, &[], &[])?;
        let me = get_json(&client, "/v1/agent/self")?;
        let Some(stats) = me["Stats"].as_object() else {
            return Err("Error querying agent: no Stats".into());
        };
        let mut sections: Vec<(&String, &Value)> = stats.iter().collect();
        sections.sort_by(|a, b| a.0.cmp(b.0));
        for (name, values) in sections {
            println!("{name}:");
            let mut keys: Vec<(&String, &Value)> = values
                .as_object()
                .map(|o| o.iter().collect())
                .unwrap_or_default();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in keys {
                println!(
                    "\t{k} = {}",
                    v.as_str().map(str::to_string).unwrap_or(v.to_string())
                );
            }
        }
        Ok(())
    })())
}

/// `tribune keygen`: 32 random bytes in base64.
pub fn keygen(_args: &[String]) -> i32 {
    println!("{}", crate::gossip::crypto::Key::generate());
    0
}

/// `tribune keyring -list|-list-primary|-install=<key>|-use=<key>|-remove=<key>`: Consul's
/// output and exit codes (1 when any member failed or did not answer).
pub fn keyring(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(
            args,
            &["list", "list-primary", "local-only"],
            &["install", "use", "remove", "relay-factor"],
        )?;
        let listing = p.flag("list") || p.flag("list-primary");
        let mut actions = usize::from(listing);
        for k in ["install", "use", "remove"] {
            actions += usize::from(p.value(k).is_some_and(|v| !v.is_empty()));
        }
        if actions > 1 {
            return Err("Only a single action is allowed".into());
        }
        if actions == 0 {
            return Err("Usage: tribune keyring [options]\n\n  Manages encryption keys used for gossip messages: -list, -list-primary, -install=<key>, -use=<key>, -remove=<key>.".into());
        }
        let relay = p.value("relay-factor").unwrap_or("0");
        match relay.parse::<u8>() {
            Ok(n) if n <= 5 => {}
            _ => {
                return Err(
                    "Error parsing relay factor: Relay factor must be in range: [0, 5]".into(),
                )
            }
        }
        if p.flag("local-only") && !listing {
            return Err("local-only can only be set for list requests".into());
        }
        let mut query = format!("?relay-factor={relay}");
        if p.flag("local-only") {
            query.push_str("&local-only=true");
        }
        if listing {
            println!("==> Gathering installed encryption keys...");
            let a = client.call("GET", &format!("/v1/operator/keyring{query}"), None)?;
            if a.status != 200 {
                return Err(format!("error: {}", a.error_text()));
            }
            let pools: Vec<crate::http::keyring_api::KeyringResponse> =
                serde_json::from_slice(&a.body).map_err(|e| format!("error: {e}"))?;
            for pool in pools {
                let name = match pool.wan {
                    true => "WAN".to_string(),
                    false => format!("{} (LAN)", pool.datacenter),
                };
                println!("\n{name}:");
                let keys = match p.flag("list-primary") {
                    true => &pool.primary_keys,
                    false => &pool.keys,
                };
                for (key, n) in keys {
                    println!("  {key} [{n}/{}]", pool.num_nodes);
                }
            }
            return Ok(());
        }
        let (method, key, banner) = if let Some(k) = p.value("install") {
            ("POST", k, "Installing new gossip encryption key...")
        } else if let Some(k) = p.value("use") {
            ("PUT", k, "Changing primary gossip encryption key...")
        } else {
            let k = p.value("remove").unwrap_or_default();
            ("DELETE", k, "Removing gossip encryption key...")
        };
        println!("==> {banner}");
        let body = serde_json::json!({ "Key": key }).to_string();
        let a = client.call(
            method,
            &format!("/v1/operator/keyring{query}"),
            Some(body.as_bytes()),
        )?;
        if a.status != 200 {
            return Err(format!("error: {}", a.error_text()));
        }
        Ok(())
    })())
}

/// `tribune snapshot save|restore|inspect`.
pub fn snapshot(args: &[String]) -> i32 {
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("save") => finish(snapshot_save(rest)),
        Some("restore") => finish(snapshot_restore(rest)),
        Some("inspect") => finish(snapshot_inspect(rest)),
        _ => {
            eprintln!("Usage: tribune snapshot <save|restore|inspect> [options] <file>");
            1
        }
    }
}

fn one_file(p: &super::flags::Parsed) -> Result<String, String> {
    match p.positional.as_slice() {
        [f] => Ok(f.clone()),
        [] => Err("Missing FILE argument".into()),
        _ => Err(format!(
            "Too many arguments (expected 1, got {})",
            p.positional.len()
        )),
    }
}

fn snapshot_save(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[])?;
    let file = one_file(&p)?;
    let path = if p.flag("stale") {
        "/v1/snapshot?stale"
    } else {
        "/v1/snapshot"
    };
    let a = client.call("GET", path, None)?;
    if a.status != 200 {
        return Err(format!("Error saving snapshot: {}", a.error_text()));
    }
    // Verify before keeping it, as Consul does.
    let (meta, _) = crate::io::snapshot_archive::unwrap(&a.body)
        .and_then(|file| crate::snapshot::decode_file(&file))
        .map_err(|e| format!("Error verifying snapshot file: {e}"))?;
    let tmp = format!("{file}.tmp");
    std::fs::write(&tmp, &a.body).map_err(|e| format!("Error writing snapshot file: {e}"))?;
    std::fs::rename(&tmp, &file).map_err(|e| format!("Error writing snapshot file: {e}"))?;
    println!("Saved and verified snapshot to index {}", meta.index);
    Ok(())
}

fn snapshot_restore(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[])?;
    let file = one_file(&p)?;
    let bytes = std::fs::read(&file).map_err(|e| format!("Error opening snapshot file: {e}"))?;
    // Refuse locally what the server would refuse, without sending 64 MiB for nothing.
    crate::io::snapshot_archive::unwrap(&bytes)
        .and_then(|file| crate::snapshot::decode_file(&file))
        .map_err(|e| format!("Error restoring snapshot: {e}"))?;
    let a = client.call("PUT", "/v1/snapshot", Some(&bytes))?;
    if a.status != 200 {
        return Err(format!("Error restoring snapshot: {}", a.error_text()));
    }
    println!("Restored snapshot");
    Ok(())
}

fn snapshot_inspect(args: &[String]) -> Result<(), String> {
    let p = super::flags::parse_command(
        args,
        &super::flags::FlagSpec {
            bools: &["kvdetails"],
            values: &["format", "kvdepth", "kvfilter"],
        },
    )?;
    let file = one_file(&p)?;
    let bytes = std::fs::read(&file).map_err(|e| format!("Error opening snapshot file: {e}"))?;
    let (meta, snap) = crate::io::snapshot_archive::unwrap(&bytes)
        .and_then(|file| crate::snapshot::decode_file(&file))
        .map_err(|e| format!("Error inspecting snapshot: {e}"))?;
    let register = snap.nodes.len() + snap.services.len() + snap.checks.len();
    let acl = &snap.acl;
    let stats = [
        ("Register", register),
        ("KVS", snap.kv.len()),
        ("Tombstone", snap.tombstones.len()),
        ("Session", snap.sessions.len()),
        // Consul writes one single-coordinate batch per node.
        ("CoordinateBatchUpdate", snap.coordinates.len()),
        ("ACLToken", acl.tokens.len()),
        ("ACLPolicy", acl.policies.len()),
        ("ACLRole", acl.roles.len()),
        ("ACLBindingRule", acl.binding_rules.len()),
        ("ACLAuthMethod", acl.auth_methods.len()),
    ];
    if p.value("format") == Some("json") {
        let counts: Vec<serde_json::Value> = stats
            .iter()
            .filter(|(name, count)| *count > 0 || !name.starts_with("ACL"))
            .map(|(name, count)| serde_json::json!({"Name": name, "Count": count}))
            .collect();
        let v = serde_json::json!({
            "Meta": {"ID": meta.id(), "Size": meta.size, "Index": meta.index, "Term": meta.term, "Version": meta.version},
            "Stats": counts,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return Ok(());
    }
    let rows = vec![
        vec!["ID".to_string(), meta.id()],
        vec!["Size".into(), meta.size.to_string()],
        vec!["Index".into(), meta.index.to_string()],
        vec!["Term".into(), meta.term.to_string()],
        vec!["Version".into(), meta.version.to_string()],
    ];
    for line in columnize(&rows).lines() {
        println!(" {line}");
    }
    println!();
    let mut table = vec![vec!["Type".to_string(), "Count".into()]];
    for (name, count) in stats {
        if count > 0 {
            table.push(vec![name.into(), count.to_string()]);
        }
    }
    for line in columnize(&table).lines() {
        println!(" {line}");
    }
    Ok(())
}

/// `tribune event -name=<name> [-node=re] [-service=re] [-tag=re] [payload]`.
pub fn event(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &[], &["name", "node", "service", "tag"])?;
        let name = p
            .value("name")
            .filter(|n| !n.is_empty())
            .ok_or("Event name must be specified")?;
        let mut query = Vec::new();
        for k in ["node", "service", "tag"] {
            if let Some(v) = p.value(k) {
                query.push(format!("{k}={}", super::client::escape_key(v)));
            }
        }
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let payload = p
            .positional
            .first()
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default();
        let a = client.call("PUT", &format!("/v1/event/fire/{name}{q}"), Some(&payload))?;
        if a.status != 200 {
            return Err(format!("Error firing event: {}", a.error_text()));
        }
        let v: Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
        println!("Event ID: {}", v["ID"].as_str().unwrap_or(""));
        Ok(())
    })())
}

/// `tribune rtt [-wan] node1 [node2]`: the round trip the two nodes' network coordinates
/// estimate (Consul's output and errors). The second node defaults to the agent's own.
pub fn rtt(args: &[String]) -> i32 {
    finish((|| {
        let (p, client) = connect(args, &["wan"], &[])?;
        let mut nodes = p.positional.clone();
        if nodes.is_empty() || nodes.len() > 2 {
            return Err("One or two node names must be specified".into());
        }
        let wan = p.flag("wan");
        if nodes.len() < 2 {
            let me = get_json(&client, "/v1/agent/self")
                .map_err(|e| format!("Unable to look up agent info: {e}"))?;
            let name = me["Config"]["NodeName"].as_str().unwrap_or("");
            nodes.push(match wan {
                true => format!(
                    "{name}.{}",
                    me["Config"]["Datacenter"].as_str().unwrap_or("")
                ),
                false => name.to_string(),
            });
        }
        let coordinates = |path: &str| {
            get_json(&client, path).map_err(|e| format!("Error getting coordinates: {e}"))
        };
        // (node, datacenter) of each side; the datacenter only with -wan.
        let mut wanted = Vec::new();
        for n in &nodes {
            wanted.push(match wan {
                false => (n.as_str(), None),
                true => {
                    match n.split('.').collect::<Vec<_>>().as_slice() {
                        [node, dc] => (*node, Some(*dc)),
                        _ => return Err(
                            "Node names must be specified as <node name>.<datacenter> with -wan"
                                .into(),
                        ),
                    }
                }
            });
        }
        let found: [Option<Value>; 2] = if wan {
            // WAN members are named `<node>.<dc>` in the pool; `coordinate/datacenters` lists
            // the node part under the datacenter named after the dot, as Consul does.
            let dcs = coordinates("/v1/coordinate/datacenters")?;
            let lookup = |(node, dc): (&str, Option<&str>)| {
                dcs.as_array().into_iter().flatten().find_map(|d| {
                    (d["Datacenter"].as_str() == dc).then_some(())?;
                    d["Coordinates"].as_array()?.iter().find_map(|e| {
                        let entry = e["Node"].as_str()?;
                        let entry_node = entry.rsplit_once('.').map_or(entry, |(n, _)| n);
                        (entry.eq_ignore_ascii_case(node) || entry_node.eq_ignore_ascii_case(node))
                            .then(|| e["Coord"].clone())
                    })
                })
            };
            [lookup(wanted[0]), lookup(wanted[1])]
        } else {
            // One segment here, so the two sets intersect in "" or not at all.
            let entries = coordinates("/v1/coordinate/nodes")?;
            let lookup = |(node, _): (&str, Option<&str>)| {
                entries.as_array().into_iter().flatten().find_map(|e| {
                    e["Node"]
                        .as_str()?
                        .eq_ignore_ascii_case(node)
                        .then(|| e["Coord"].clone())
                })
            };
            [lookup(wanted[0]), lookup(wanted[1])]
        };
        let parse = |i: usize| {
            found[i]
                .as_ref()
                .and_then(coordinate_of_json)
                .ok_or_else(|| format!("Could not find a coordinate for node {:?}", nodes[i]))
        };
        let (a, b) = (parse(0)?, parse(1)?);
        println!(
            "Estimated {} <-> {} rtt: {:.3} ms (using {} coordinates)",
            nodes[0],
            nodes[1],
            a.distance_s(&b) * 1000.0,
            if wan { "WAN" } else { "LAN" }
        );
        Ok(())
    })())
}

/// A `Coord` object of the coordinate API, read by the API's own decoder.
fn coordinate_of_json(v: &Value) -> Option<crate::gossip::vivaldi::Coordinate> {
    crate::http::coordinate_api::parse_coord(v.clone())
        .ok()
        .flatten()
}
