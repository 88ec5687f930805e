//! `tribune operator autopilot get-config|set-config|state` and `operator raft
//! transfer-leader`, printed as Consul's CLI prints them.

use serde_json::Value;

use super::catalog::finish;
use super::client::connect;

/// `operator autopilot <verb>` and `operator raft transfer-leader`; `None` for other verbs.
pub fn run(args: &[String]) -> Option<i32> {
    let verb = (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
    );
    let rest = args.get(2..).unwrap_or_default();
    Some(match verb {
        (Some("autopilot"), Some("get-config")) => finish(get_config(rest)),
        (Some("autopilot"), Some("set-config")) => finish(set_config(rest)),
        (Some("autopilot"), Some("state")) => finish(state(rest)),
        (Some("raft"), Some("transfer-leader")) => finish(transfer_leader(rest)),
        _ => return None,
    })
}

fn fetch_config(client: &super::client::Client) -> Result<Value, String> {
    let a = client.call("GET", "/v1/operator/autopilot/configuration", None)?;
    if a.status != 200 {
        return Err(format!(
            "Error querying Autopilot configuration: {}",
            a.error_text()
        ));
    }
    serde_json::from_slice(&a.body).map_err(|e| e.to_string())
}

fn get_config(args: &[String]) -> Result<(), String> {
    let (_, client) = connect(args, &[], &[])?;
    let c = fetch_config(&client)?;
    println!("CleanupDeadServers = {}", c["CleanupDeadServers"]);
    println!(
        "LastContactThreshold = {}",
        c["LastContactThreshold"].as_str().unwrap_or("")
    );
    println!("MaxTrailingLogs = {}", c["MaxTrailingLogs"]);
    println!("MinQuorum = {}", c["MinQuorum"]);
    println!(
        "ServerStabilizationTime = {}",
        c["ServerStabilizationTime"].as_str().unwrap_or("")
    );
    println!("RedundancyZoneTag = {}", c["RedundancyZoneTag"]);
    println!("DisableUpgradeMigration = {}", c["DisableUpgradeMigration"]);
    println!("UpgradeVersionTag = {}", c["UpgradeVersionTag"]);
    Ok(())
}

/// Reads the configuration, changes what the flags name, and writes it back with `cas`, as
/// Consul's `set-config` does.
fn set_config(args: &[String]) -> Result<(), String> {
    const FLAGS: &[(&str, &str)] = &[
        ("cleanup-dead-servers", "CleanupDeadServers"),
        ("last-contact-threshold", "LastContactThreshold"),
        ("max-trailing-logs", "MaxTrailingLogs"),
        ("min-quorum", "MinQuorum"),
        ("server-stabilization-time", "ServerStabilizationTime"),
        ("redundancy-zone-tag", "RedundancyZoneTag"),
        ("disable-upgrade-migration", "DisableUpgradeMigration"),
        ("upgrade-version-tag", "UpgradeVersionTag"),
    ];
    let names: Vec<&str> = FLAGS.iter().map(|(f, _)| *f).collect();
    let (p, client) = connect(args, &[], &names)?;
    let mut config = fetch_config(&client)?;
    let cas = config["ModifyIndex"].as_u64().unwrap_or(0);
    for (flag, field) in FLAGS {
        let Some(v) = p.value(flag) else { continue };
        config[*field] = match *field {
            "CleanupDeadServers" | "DisableUpgradeMigration" => Value::Bool(
                v.parse()
                    .map_err(|_| format!("invalid boolean value {v:?} for -{flag}"))?,
            ),
            "MaxTrailingLogs" | "MinQuorum" => Value::from(
                v.parse::<u64>()
                    .map_err(|_| format!("invalid value {v:?} for -{flag}"))?,
            ),
            _ => Value::String(v.to_string()),
        };
    }
    let body = config.to_string();
    let a = client.call(
        "PUT",
        &format!("/v1/operator/autopilot/configuration?cas={cas}"),
        Some(body.as_bytes()),
    )?;
    if a.status != 200 {
        return Err(format!(
            "Error setting Autopilot configuration: {}",
            a.error_text()
        ));
    }
    match String::from_utf8_lossy(&a.body).trim() {
        "true" => println!("Configuration updated!"),
        _ => println!("Configuration could not be atomically updated, please try again"),
    }
    Ok(())
}

fn state(args: &[String]) -> Result<(), String> {
    let (_, client) = connect(args, &[], &[])?;
    let a = client.call("GET", "/v1/operator/autopilot/state", None)?;
    if a.status != 200 {
        return Err(format!(
            "Error querying Autopilot state: {}",
            a.error_text()
        ));
    }
    let s: Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    println!("Healthy:                      {}", s["Healthy"]);
    println!("Failure Tolerance:            {}", s["FailureTolerance"]);
    println!(
        "Optimistic Failure Tolerance: {}",
        s["OptimisticFailureTolerance"]
    );
    println!(
        "Leader:                       {}",
        s["Leader"].as_str().unwrap_or("")
    );
    println!("Voters:");
    for v in s["Voters"].as_array().into_iter().flatten() {
        println!("   {}", v.as_str().unwrap_or(""));
    }
    println!("\nServers:");
    for (id, srv) in s["Servers"].as_object().into_iter().flatten() {
        let text = |k: &str| srv[k].as_str().unwrap_or("").to_string();
        println!("   {id}");
        println!("      Name:            {}", text("Name"));
        println!("      Address:         {}", text("Address"));
        println!("      Version:         {}", text("Version"));
        println!("      Status:          {}", text("Status"));
        println!("      Node Type:       {}", text("NodeType"));
        println!("      Node Status:     {}", text("NodeStatus"));
        println!("      Healthy:         {}", srv["Healthy"]);
        println!("      Last Contact:    {}", text("LastContact"));
        println!("      Last Term:       {}", srv["LastTerm"]);
        println!("      Last Index:      {}", srv["LastIndex"]);
    }
    Ok(())
}

fn transfer_leader(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["id"])?;
    let path = match p.value("id") {
        Some(id) => format!("/v1/operator/raft/transfer-leader?id={id}"),
        None => "/v1/operator/raft/transfer-leader".to_string(),
    };
    let a = client.call("POST", &path, None)?;
    if a.status != 200 {
        return Err(format!("Error transferring leadership: {}", a.error_text()));
    }
    println!("Success! Leadership transferred.");
    Ok(())
}
