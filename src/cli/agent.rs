//! `tribune agent`: flags → `AgentConfig`, banner, start the cores, wait for a signal.

use std::net::IpAddr;
use std::path::PathBuf;

use super::agent_flags;
use super::config_file;
use super::flags;
use crate::config::AgentConfig;
use crate::http::agent_defs;
use crate::io::logging::{self, LogSettings};
use crate::shard::RunningAgent;
use crate::version::{CONSUL_API_VERSION, REVISION};

fn parse_port(name: &str, value: &str) -> Result<i32, String> {
    value
        .parse::<i32>()
        .map_err(|_| format!("invalid value {value:?} for flag -{name}: parse error"))
}

/// Builds the configuration: defaults, then `-dev`, then config files in command-line order,
/// then the other flags (Consul's precedence). Returns it with warnings to print. Creates
/// nothing on disk (the node id is assigned by `run`).
pub fn config_from_args(args: &[String]) -> Result<(AgentConfig, Vec<String>), String> {
    let names = agent_flags::spec();
    let p = flags::parse(args, &agent_flags::flag_spec(&names))?;
    if let Some(extra) = p.positional.first() {
        return Err(format!("unexpected argument: {extra}"));
    }
    let mut config = AgentConfig::dev_defaults(
        crate::io::host::host_name(),
        crate::io::host::available_cores(),
    );
    config.dev = p.flag("dev");
    config.server = config.dev;
    config.ui.enabled = config.dev;
    config.data_dir = None;
    let named = config_paths(args);
    let files = config_file::files(&named)?;
    let named_files: Vec<PathBuf> = named
        .iter()
        .filter(|(dir, _)| !dir)
        .map(|(_, f)| f.clone())
        .collect();
    let hcl: Vec<String> = p.values.get("hcl").cloned().unwrap_or_default();
    let sources = config_file::Sources {
        format: p.value("config-format"),
        hcl: &hcl,
    };
    let mut file = config_file::load_sources(&files, &named_files, &sources)?;
    let idle: Vec<String> = agent_flags::NOT_ACTED_ON
        .iter()
        .filter(|f| p.values.contains_key(**f))
        .map(|f| format!("-{f}"))
        .collect();
    if !idle.is_empty() {
        file.warnings.push(format!(
            "flags accepted but not acted on yet: {}",
            idle.join(", ")
        ));
    }
    apply_file(&mut config, &file)?;
    apply_flags(&mut config, &p)?;
    load_definitions(&mut config, &file)?;
    config.validate()?;
    let explicit_bootstrap = p.flag("bootstrap") || file.boolean("bootstrap") == Some(true);
    file.warnings
        .extend(bootstrap_warnings(&config, explicit_bootstrap));
    Ok((config, file.warnings))
}

/// Consul's warnings about bootstrapping (its config builder's texts).
fn bootstrap_warnings(config: &AgentConfig, explicit_bootstrap: bool) -> Vec<String> {
    let mut out = Vec::new();
    if config.dev || !config.server {
        return out;
    }
    let expect = config.bootstrap_expect;
    if expect == 1 && !explicit_bootstrap {
        out.push("BootstrapExpect is set to 1; this is the same as Bootstrap mode.".into());
    }
    if expect == 1 {
        out.push("bootstrap = true: do not enable unless necessary".into());
    }
    if expect > 1 {
        out.push(format!("bootstrap_expect > 0: expecting {expect} servers"));
    }
    if expect == 2 {
        out.push("bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. See https://www.consul.io/docs/internals/consensus.html#deployment-table".into());
    } else if expect > 2 && expect.is_multiple_of(2) {
        out.push("bootstrap_expect is even number: A cluster with an even number of servers does not achieve optimum fault tolerance. See https://www.consul.io/docs/internals/consensus.html#deployment-table".into());
    }
    out
}

/// `-config-file` and `-config-dir` values in the order given: (is a directory flag, path).
fn config_paths(args: &[String]) -> Vec<(bool, PathBuf)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let body = args[i].trim_start_matches('-');
        for (flag, is_dir) in [("config-file", false), ("config-dir", true)] {
            if let Some(value) = body.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                out.push((is_dir, PathBuf::from(value)));
            } else if body == flag {
                if let Some(value) = args.get(i + 1) {
                    out.push((is_dir, PathBuf::from(value)));
                    i += 1;
                }
            }
        }
        i += 1;
    }
    out
}

fn apply_file(config: &mut AgentConfig, file: &config_file::FileConfig) -> Result<(), String> {
    let ip = |key: &str, v: &str| {
        // client_addr may list several addresses; we listen on the first for now.
        let first = v.split_whitespace().next().unwrap_or("");
        first
            .parse::<IpAddr>()
            .map_err(|_| format!("{key}: invalid IP address {v:?}"))
    };
    if let Some(v) = file.string("node_name") {
        config.node_name = v.to_string();
    }
    if let Some(v) = file.string("datacenter") {
        config.datacenter = v.to_string();
    }
    if let Some(v) = file.string("data_dir") {
        config.data_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = file.string("bind_addr") {
        config.bind_addr = ip("bind_addr", v)?;
    }
    if let Some(v) = file.string("client_addr") {
        config.client_addr = ip("client_addr", v)?;
    }
    if let Some(v) = file.boolean("server") {
        config.server = v || config.dev;
    }
    if let Some(v) = file.port("http") {
        config.http_port = u16::try_from(v).map_err(|_| "ports.http out of range")?;
    }
    if let Some(v) = file.port("dns") {
        config.dns_port = v as i32;
    }
    if let Some(v) = file.port("server") {
        config.server_port = u16::try_from(v).map_err(|_| "ports.server out of range")?;
    }
    if let Some(v) = file.port("serf_lan") {
        config.serf_lan_port = u16::try_from(v).map_err(|_| "ports.serf_lan out of range")?;
    }
    if let Some(v) = file.port("serf_wan") {
        config.serf_wan_port = u16::try_from(v).map_err(|_| "ports.serf_wan out of range")?;
    }
    if let Some(v) = file.settings.get("bootstrap_expect") {
        config.bootstrap_expect = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("bootstrap_expect: expected a number, got {v}"))?;
    }
    if let Some(v) = file.settings.get("raft_snapshot_threshold") {
        config.raft_snapshot_threshold = v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            format!("raft_snapshot_threshold: expected a positive number, got {v}")
        })?;
    }
    if let Some(v) = file.string("raft_snapshot_interval") {
        let d = crate::http::query::parse_go_duration(v)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("raft_snapshot_interval: invalid duration {v:?}"))?;
        config.raft_snapshot_interval_ms = d.as_millis().max(1) as u64;
    }
    config.tls = tls_settings(file, "internal_rpc", "verify_incoming_rpc")?;
    config.https_tls = tls_settings(file, "https", "verify_incoming_https")?;
    if let Some(v) = file.port("https") {
        config.https_port = v as i32;
    }
    if let Some(v) = file.settings.get("autopilot") {
        apply_autopilot(&mut config.autopilot, v)?;
    }
    if file.boolean("bootstrap") == Some(true) {
        config.bootstrap_expect = 1;
    }
    for (key, list) in [
        ("start_join", &mut config.start_join),
        ("retry_join", &mut config.retry_join),
        ("start_join_wan", &mut config.start_join_wan),
        ("retry_join_wan", &mut config.retry_join_wan),
    ] {
        if let Some(v) = file.settings.get(key) {
            let items = v
                .as_array()
                .ok_or_else(|| format!("{key}: expected a list of addresses"))?;
            list.extend(items.iter().filter_map(|a| a.as_str().map(str::to_string)));
        }
    }
    if let Some(v) = file.string("retry_interval") {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("retry_interval: invalid duration {v:?}"))?;
        config.retry_interval_ms = Some(d.as_millis() as u64);
    }
    if let Some(v) = file.string("encrypt") {
        config.encrypt = Some(crate::gossip::crypto::Key::parse(v)?);
    }
    if let Some(v) = file.boolean("disable_keyring_file") {
        config.disable_keyring_file = v;
    }
    if let Some(v) = file.boolean("disable_coordinates") {
        config.disable_coordinates = v;
    }
    // `ui` (deprecated) and `ui_config.enabled` both turn the UI on; the block wins.
    if let Some(v) = file.boolean("ui") {
        config.ui.enabled = v;
    }
    if let Some(ui) = file.settings.get("ui_config") {
        if let Some(v) = ui.get("enabled").and_then(serde_json::Value::as_bool) {
            config.ui.enabled = v;
        }
        if let Some(v) = ui.get("dir").and_then(serde_json::Value::as_str) {
            config.ui.dir = Some(PathBuf::from(v));
        }
        if let Some(v) = ui.get("content_path").and_then(serde_json::Value::as_str) {
            config.ui.content_path = crate::config::ui_content_path(v);
        }
        if let Some(v) = ui
            .get("metrics_provider")
            .and_then(serde_json::Value::as_str)
        {
            config.ui.metrics_provider = v.to_string();
        }
    }
    if let Some(v) = file.string("sync_coordinate_interval_min") {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("sync_coordinate_interval_min: invalid duration {v:?}"))?;
        config.coordinate_sync_interval_min_ms = (d.as_millis() as u64).max(1);
    }
    if let Some(v) = file.settings.get("sync_coordinate_rate_target") {
        config.coordinate_rate_target = v.as_f64().filter(|r| *r > 0.0).ok_or_else(|| {
            format!("sync_coordinate_rate_target: expected a positive number, got {v}")
        })?;
    }
    if let Some(v) = file.boolean("rejoin_after_leave") {
        config.rejoin_after_leave = v;
    }
    if let Some(v) = file.boolean("leave_on_terminate") {
        config.leave_on_terminate = Some(v);
    }
    if let Some(v) = file.boolean("skip_leave_on_interrupt") {
        config.skip_leave_on_interrupt = Some(v);
    }
    if let Some(v) = file.boolean("enable_script_checks") {
        config.enable_script_checks = v;
    }
    if let Some(v) = file.boolean("enable_local_script_checks") {
        config.enable_local_script_checks = v;
    }
    apply_acl_keys(file, config)?;
    apply_log_keys(file, config)?;
    if let Some(v) = file.string("node_id") {
        config.node_id = v.to_string();
    }
    if let Some(v) = file.string("domain") {
        config.domain = dotted(v);
    }
    if let Some(v) = file.string("alt_domain") {
        config.alt_domain = Some(dotted(v));
    }
    if let Some(list) = file.settings.get("recursors").and_then(|r| r.as_array()) {
        for r in list {
            config.recursors.push(recursor(r.as_str().unwrap_or(""))?);
        }
    }
    if let Some(dns) = file.settings.get("dns_config") {
        apply_dns_config(&mut config.dns, dns)?;
    }
    Ok(())
}

/// `log_*`, `enable_syslog`, `syslog_facility`, `pid_file`.
fn apply_log_keys(file: &config_file::FileConfig, config: &mut AgentConfig) -> Result<(), String> {
    let log = &mut config.log;
    if let Some(v) = file.string("log_level") {
        log.level = v.to_string();
    }
    if let Some(v) = file.boolean("log_json") {
        log.json = v;
    }
    if let Some(v) = file.string("log_file") {
        log.file = Some(PathBuf::from(v));
    }
    if let Some(v) = file.string("log_rotate_duration") {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("log_rotate_duration: invalid duration {v:?}"))?;
        log.rotate_duration_ms = d.as_millis() as u64;
    }
    if let Some(v) = file.settings.get("log_rotate_bytes") {
        log.rotate_bytes = v
            .as_u64()
            .ok_or_else(|| format!("log_rotate_bytes: expected a number, got {v}"))?;
    }
    if let Some(v) = file.settings.get("log_rotate_max_files") {
        log.rotate_max_files = v
            .as_i64()
            .ok_or_else(|| format!("log_rotate_max_files: expected a number, got {v}"))?;
    }
    if let Some(v) = file.boolean("enable_syslog") {
        log.syslog = v;
    }
    if let Some(v) = file.string("syslog_facility") {
        log.syslog_facility = v.to_string();
    }
    if let Some(v) = file.string("pid_file") {
        config.pid_file = Some(PathBuf::from(v));
    }
    if let Some(t) = file.settings.get("telemetry") {
        apply_telemetry(&mut config.telemetry, t)?;
    }
    if let Some(w) = file.settings.get("watches") {
        let list = w.as_array().ok_or("watches: expected a list of watches")?;
        super::watch::config_watches(list)?;
        config.watches = list.clone();
    }
    Ok(())
}

/// The `autopilot` block.
fn apply_autopilot(
    autopilot: &mut crate::operator::AutopilotConfig,
    v: &serde_json::Value,
) -> Result<(), String> {
    let flag = |key: &str| -> Result<Option<bool>, String> {
        v.get(key)
            .map(|b| {
                b.as_bool()
                    .ok_or_else(|| format!("autopilot.{key}: expected true or false, got {b}"))
            })
            .transpose()
    };
    let number = |key: &str| -> Result<Option<u64>, String> {
        v.get(key)
            .map(|n| {
                n.as_u64()
                    .ok_or_else(|| format!("autopilot.{key}: expected a number, got {n}"))
            })
            .transpose()
    };
    let duration_ns = |key: &str| -> Result<Option<u64>, String> {
        v.get(key)
            .map(|d| {
                d.as_str()
                    .and_then(crate::http::query::parse_go_duration)
                    .map(|d| d.as_nanos() as u64)
                    .ok_or_else(|| format!("autopilot.{key}: invalid duration {d}"))
            })
            .transpose()
    };
    let text = |key: &str| v.get(key).and_then(|t| t.as_str()).map(str::to_string);
    if let Some(b) = flag("cleanup_dead_servers")? {
        autopilot.cleanup_dead_servers = b;
    }
    if let Some(d) = duration_ns("last_contact_threshold")? {
        autopilot.last_contact_threshold_ns = d;
    }
    if let Some(n) = number("max_trailing_logs")? {
        autopilot.max_trailing_logs = n;
    }
    if let Some(n) = number("min_quorum")? {
        autopilot.min_quorum = n;
    }
    if let Some(d) = duration_ns("server_stabilization_time")? {
        autopilot.server_stabilization_time_ns = d;
    }
    if let Some(t) = text("redundancy_zone_tag") {
        autopilot.redundancy_zone_tag = t;
    }
    if let Some(b) = flag("disable_upgrade_migration")? {
        autopilot.disable_upgrade_migration = b;
    }
    if let Some(t) = text("upgrade_version_tag") {
        autopilot.upgrade_version_tag = t;
    }
    Ok(())
}

/// The `telemetry` block: the keys acted on; the others are accepted.
fn apply_telemetry(
    telemetry: &mut crate::config::TelemetryConfig,
    v: &serde_json::Value,
) -> Result<(), String> {
    let text = |key: &str| v.get(key).and_then(serde_json::Value::as_str);
    if let Some(p) = text("metrics_prefix") {
        telemetry.metrics_prefix = p.trim_end_matches('.').to_string();
    }
    if let Some(b) = v.get("disable_hostname") {
        telemetry.disable_hostname = b.as_bool().ok_or_else(|| {
            format!("telemetry.disable_hostname: expected true or false, got {b}")
        })?;
    }
    if let Some(d) = text("prometheus_retention_time") {
        telemetry.prometheus_retention_ms = crate::http::query::parse_go_duration(d)
            .ok_or_else(|| format!("telemetry.prometheus_retention_time: invalid duration {d:?}"))?
            .as_millis() as u64;
    }
    telemetry.statsd_address = text("statsd_address").map(str::to_string);
    telemetry.dogstatsd_addr = text("dogstatsd_addr").map(str::to_string);
    Ok(())
}

/// `consul` → `consul.`; answers and matching use the dotted form.
/// The `acl { ... }` block, the legacy top-level `acl_*` keys Consul still maps, and
/// `primary_datacenter`.
fn apply_acl_keys(file: &config_file::FileConfig, config: &mut AgentConfig) -> Result<(), String> {
    use serde_json::Value;
    let flag = |v: Option<&Value>| v.and_then(Value::as_bool);
    if let Some(v) = flag(file.acl_value("enabled")) {
        config.acl_enabled = v;
    }
    for (key, legacy) in [
        ("default_policy", "acl_default_policy"),
        ("down_policy", "acl_down_policy"),
    ] {
        let Some(v) = file.acl(key).or_else(|| file.string(legacy)) else {
            continue;
        };
        let allowed: &[&str] = if key == "default_policy" {
            &["allow", "deny"]
        } else {
            &["allow", "deny", "extend-cache", "async-cache"]
        };
        if !allowed.contains(&v) {
            return Err(format!("Invalid acl.{key} {v:?}"));
        }
        if key == "default_policy" {
            config.acl_default_policy = v.to_string();
        } else {
            config.acl_down_policy = v.to_string();
        }
    }
    if let Some(v) = file.acl("token_ttl").or_else(|| file.string("acl_ttl")) {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("acl.token_ttl: invalid duration {v:?}"))?;
        config.acl_token_ttl_ms = d.as_millis() as u64;
    }
    if let Some(v) = flag(file.acl_value("enable_token_persistence")) {
        config.acl_enable_token_persistence = v;
    }
    if let Some(v) = flag(file.acl_value("enable_key_list_policy"))
        .or_else(|| file.boolean("acl_enable_key_list_policy"))
    {
        config.acl_enable_key_list_policy = v;
    }
    let tokens = file.acl_value("tokens").and_then(Value::as_object);
    let token = |names: &[&str], legacy: &str| -> Option<String> {
        names
            .iter()
            .find_map(|n| tokens.and_then(|t| t.get(*n)).and_then(Value::as_str))
            .or_else(|| file.string(legacy))
            .map(str::to_string)
    };
    let t = &mut config.acl_tokens;
    if let Some(v) = token(&["initial_management", "master"], "acl_master_token") {
        t.initial_management = v;
    }
    if let Some(v) = token(&["agent"], "acl_agent_token") {
        t.agent = v;
    }
    if let Some(v) = token(
        &["agent_recovery", "agent_master"],
        "acl_agent_master_token",
    ) {
        t.agent_recovery = v;
    }
    if let Some(v) = token(&["default"], "acl_token") {
        t.default = v;
    }
    if let Some(v) = token(&["replication"], "acl_replication_token") {
        t.replication = v;
    }
    if let Some(v) = token(&["config_file_service_registration"], "") {
        t.config_file_service_registration = v;
    }
    if let Some(v) = token(&["dns"], "") {
        t.dns = v;
    }
    if let Some(v) = file
        .string("primary_datacenter")
        .or_else(|| file.string("acl_datacenter"))
    {
        config.primary_datacenter = Some(v.to_string());
    }
    Ok(())
}

fn dotted(domain: &str) -> String {
    let d = domain.trim_matches('.').to_ascii_lowercase();
    format!("{d}.")
}

/// `8.8.8.8`, `1.1.1.1:53`, `[2001:db8::1]` or `[2001:db8::1]:5353` (port 53 by default).
fn recursor(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(addr);
    }
    let ip = text.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .map_err(|_| format!("Invalid recursor address {text:?}"))
}

fn apply_dns_config(
    dns: &mut crate::dns::plan::DnsConfig,
    v: &serde_json::Value,
) -> Result<(), String> {
    let secs = |key: &str| -> Result<Option<u32>, String> {
        match v.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => crate::http::query::parse_go_duration(s)
                .map(|d| Some(d.as_secs() as u32))
                .ok_or_else(|| format!("dns_config.{key}: invalid duration {s:?}")),
            Some(other) => Err(format!(
                "dns_config.{key}: expected a duration, got {other}"
            )),
        }
    };
    if let Some(t) = secs("node_ttl")? {
        dns.node_ttl = t;
    }
    if let Some(map) = v.get("service_ttl").and_then(|m| m.as_object()) {
        // Per-service TTLs are not supported yet; "*" sets the default for all services.
        if let Some(serde_json::Value::String(s)) = map.get("*") {
            dns.service_ttl = crate::http::query::parse_go_duration(s)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0);
        }
    }
    let flag = |key: &str| v.get(key).and_then(|b| b.as_bool());
    if let Some(n) = v.get("udp_answer_limit").and_then(|n| n.as_u64()) {
        dns.udp_answer_limit = n as usize;
    }
    if let Some(n) = v.get("a_record_limit").and_then(|n| n.as_u64()) {
        dns.a_record_limit = n as usize;
    }
    if let Some(b) = flag("enable_truncate") {
        dns.enable_truncate = b;
    }
    if let Some(b) = flag("only_passing") {
        dns.only_passing = b;
    }
    if let Some(b) = flag("enable_additional_node_meta_txt") {
        dns.enable_additional_node_meta_txt = b;
    }
    if let Some(soa) = v.get("soa") {
        let n = |k: &str| soa.get(k).and_then(|x| x.as_u64()).map(|x| x as u32);
        dns.soa_refresh = n("refresh").unwrap_or(dns.soa_refresh);
        dns.soa_retry = n("retry").unwrap_or(dns.soa_retry);
        dns.soa_expire = n("expire").unwrap_or(dns.soa_expire);
        dns.soa_min_ttl = n("min_ttl").unwrap_or(dns.soa_min_ttl);
    }
    Ok(())
}

fn apply_flags(config: &mut AgentConfig, p: &flags::Parsed) -> Result<(), String> {
    if p.flag("server") {
        config.server = true;
    }
    if let Some(v) = p.value("node") {
        config.node_name = v.to_string();
    }
    if p.flag("ui") {
        config.ui.enabled = true;
    }
    if let Some(v) = p.value("ui-dir") {
        config.ui.dir = Some(PathBuf::from(v));
    }
    if let Some(v) = p.value("ui-content-path") {
        config.ui.content_path = crate::config::ui_content_path(v);
    }
    if let Some(v) = p.value("datacenter") {
        config.datacenter = v.to_string();
    }
    let ip = |name: &str, v: &str| {
        v.parse::<IpAddr>()
            .map_err(|_| format!("invalid value {v:?} for flag -{name}"))
    };
    if let Some(v) = p.value("bind") {
        config.bind_addr = ip("bind", v)?;
    }
    if let Some(v) = p.value("client") {
        config.client_addr = ip("client", v)?;
    }
    if let Some(v) = p.value("https-port") {
        config.https_port = parse_port("https-port", v)?;
    }
    if let Some(v) = p.value("http-port") {
        config.http_port =
            u16::try_from(parse_port("http-port", v)?).map_err(|_| "http port out of range")?;
    }
    if let Some(v) = p.value("dns-port") {
        config.dns_port = parse_port("dns-port", v)?;
    }
    if let Some(v) = p.value("server-port") {
        config.server_port =
            u16::try_from(parse_port("server-port", v)?).map_err(|_| "server port out of range")?;
    }
    if let Some(v) = p.value("shards") {
        config.shards = v
            .parse()
            .map_err(|_| format!("invalid value {v:?} for flag -shards"))?;
    }
    if let Some(v) = p.value("data-dir") {
        // Consul's -dev keeps nothing; we honour -data-dir even with -dev, so a developer can
        // test persistence without a cluster.
        config.data_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = p.value("bootstrap-expect") {
        config.bootstrap_expect = v
            .parse()
            .map_err(|_| format!("invalid value {v:?} for flag -bootstrap-expect: parse error"))?;
    }
    if p.flag("bootstrap") {
        config.bootstrap_expect = 1;
    }
    config
        .start_join
        .extend(p.values.get("join").into_iter().flatten().cloned());
    config
        .retry_join
        .extend(p.values.get("retry-join").into_iter().flatten().cloned());
    config
        .start_join_wan
        .extend(p.values.get("join-wan").into_iter().flatten().cloned());
    config.retry_join_wan.extend(
        p.values
            .get("retry-join-wan")
            .into_iter()
            .flatten()
            .cloned(),
    );
    if let Some(v) = p.value("retry-interval") {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("invalid value {v:?} for flag -retry-interval"))?;
        config.retry_interval_ms = Some(d.as_millis() as u64);
    }
    if let Some(v) = p.value("encrypt") {
        config.encrypt = Some(crate::gossip::crypto::Key::parse(v)?);
    }
    if p.flag("rejoin") {
        config.rejoin_after_leave = true;
    }
    if p.flag("disable-keyring-file") {
        config.disable_keyring_file = true;
    }
    if let Some(v) = p.value("serf-lan-port") {
        config.serf_lan_port = u16::try_from(parse_port("serf-lan-port", v)?)
            .map_err(|_| "serf_lan port out of range")?;
    }
    if let Some(v) = p.value("serf-wan-port") {
        config.serf_wan_port = u16::try_from(parse_port("serf-wan-port", v)?)
            .map_err(|_| "serf_wan port out of range")?;
    }
    if p.flag("enable-script-checks") {
        config.enable_script_checks = true;
    }
    if p.flag("enable-local-script-checks") {
        config.enable_local_script_checks = true;
    }
    if let Some(v) = p.value("node-id") {
        config.node_id = v.to_string();
    }
    if let Some(v) = p.value("domain") {
        config.domain = dotted(v);
    }
    if let Some(v) = p.value("alt-domain") {
        config.alt_domain = Some(dotted(v));
    }
    for r in p.values.get("recursor").into_iter().flatten() {
        config.recursors.push(recursor(r)?);
    }
    if let Some(v) = p.value("log-level") {
        config.log.level = v.to_string();
    }
    if p.values.contains_key("log-json") {
        config.log.json = p.flag("log-json");
    }
    if let Some(v) = p.value("log-file") {
        config.log.file = Some(PathBuf::from(v));
    }
    if let Some(v) = p.value("log-rotate-duration") {
        let d = crate::http::query::parse_go_duration(v)
            .ok_or_else(|| format!("invalid value {v:?} for flag -log-rotate-duration"))?;
        config.log.rotate_duration_ms = d.as_millis() as u64;
    }
    if let Some(v) = p.value("log-rotate-bytes") {
        config.log.rotate_bytes = v
            .parse()
            .map_err(|_| format!("invalid value {v:?} for flag -log-rotate-bytes: parse error"))?;
    }
    if let Some(v) = p.value("log-rotate-max-files") {
        config.log.rotate_max_files = v.parse().map_err(|_| {
            format!("invalid value {v:?} for flag -log-rotate-max-files: parse error")
        })?;
    }
    if p.flag("syslog") {
        config.log.syslog = true;
    }
    if let Some(v) = p.value("pid-file") {
        config.pid_file = Some(PathBuf::from(v));
    }
    config.dns.datacenter = config.datacenter.clone();
    Ok(())
}

/// Parses the files' service and check definitions with the HTTP API's rules, except that a
/// check nested in a service may name its ID `id` (config files do) and that scripts need
/// `enable_local_script_checks` (or `enable_script_checks`).
fn load_definitions(
    config: &mut AgentConfig,
    file: &config_file::FileConfig,
) -> Result<(), String> {
    let scripts = config.enable_script_checks || config.enable_local_script_checks;
    let refusal = |(_, text): (u16, String)| {
        if text.starts_with("Scripts are disabled") {
            "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or \
             'enable_local_script_checks' to true"
                .to_string()
        } else {
            format!("service/check definition in config: {text}")
        }
    };
    for service in &file.services {
        let mut service = service.clone();
        for key in ["check", "Check", "checks", "Checks"] {
            match service.get_mut(key) {
                Some(serde_json::Value::Object(check)) => rename_id(check),
                Some(serde_json::Value::Array(list)) => list
                    .iter_mut()
                    .filter_map(|c| c.as_object_mut())
                    .for_each(rename_id),
                _ => {}
            }
        }
        config
            .services
            .push(agent_defs::parse_service(service, scripts).map_err(refusal)?);
    }
    for check in &file.checks {
        config
            .checks
            .push(agent_defs::parse_check(check.clone(), scripts).map_err(refusal)?);
    }
    Ok(())
}

fn rename_id(check: &mut serde_json::Map<String, serde_json::Value>) {
    if let Some(id) = check.remove("id") {
        check.insert("CheckID".into(), id);
    }
}

/// `tribune validate <file-or-dir>...`: the agent's full config load, starting nothing.
pub fn validate(args: &[String]) -> i32 {
    let quiet = args.iter().any(|a| a.trim_start_matches('-') == "quiet");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if paths.is_empty() {
        eprintln!("Must specify at least one config file or directory");
        return 1;
    }
    let mut synthetic = Vec::new();
    for path in paths {
        synthetic.push(if std::path::Path::new(path).is_dir() {
            "-config-dir".to_string()
        } else {
            "-config-file".to_string()
        });
        synthetic.push(path.clone());
    }
    match config_from_args(&synthetic) {
        Ok((_, warnings)) => {
            for w in warnings {
                println!("{w}");
            }
            if !quiet {
                println!("Configuration is valid!");
            }
            0
        }
        Err(e) => {
            eprintln!("Config validation failed: {e}");
            1
        }
    }
}

/// A random node id, persisted in `<data_dir>/node-id` so restarts keep it.
fn node_id(data_dir: Option<&std::path::Path>) -> Result<String, String> {
    let Some(dir) = data_dir else {
        return Ok(crate::io::host::random_uuid());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("Error creating data dir {}: {e}", dir.display()))?;
    let path = dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = crate::io::host::random_uuid();
    std::fs::write(&path, &id).map_err(|e| format!("Error writing {}: {e}", path.display()))?;
    Ok(id)
}

/// The log as the configuration describes it; a bad `log_level` is Consul's error.
fn log_settings(log: &crate::config::LogConfig) -> Result<LogSettings, String> {
    let level = logging::parse_level(&log.level).ok_or_else(|| {
        format!(
            "Invalid log level: {}. Valid log levels are: {}",
            log.level,
            logging::VALID_LEVELS
        )
    })?;
    Ok(LogSettings {
        level,
        json: log.json,
        file: log.file.clone().map(|path| logging::LogFileConfig {
            path,
            // 0 means Consul's default, as its logger reads it (not a rotation per line).
            rotate_duration: std::time::Duration::from_millis(match log.rotate_duration_ms {
                0 => crate::config::LogConfig::default().rotate_duration_ms,
                ms => ms,
            }),
            rotate_bytes: log.rotate_bytes,
            rotate_max_files: log.rotate_max_files,
        }),
        syslog: log.syslog.then(|| log.syslog_facility.clone()),
    })
}

/// The pid file: written at start, removed when the agent exits, whichever way: at the end
/// of `run` (this guard), or before the `process::exit` of a leave or a fatal log error.
struct PidFile;

impl PidFile {
    fn write(path: Option<&std::path::Path>) -> Result<PidFile, String> {
        if let Some(path) = path {
            crate::io::host::write_pid_file(path)
                .map_err(|e| format!("Could not write pid file {}: {e}", path.display()))?;
        }
        Ok(PidFile)
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        crate::io::host::remove_pid_file();
    }
}

/// Runs the agent until SIGINT or SIGTERM; SIGHUP and `PUT /v1/agent/reload` reload it.
pub fn run(args: &[String]) -> i32 {
    if flags::wants_help(args) {
        println!("{}", agent_flags::usage());
        return 0;
    }
    let names = agent_flags::spec();
    if let Err(e) = flags::parse(args, &agent_flags::flag_spec(&names)) {
        eprintln!("{e}\n{}", agent_flags::usage());
        eprintln!("==> error parsing flags: {e}");
        return 1;
    }
    let (mut config, warnings) = match config_from_args(args) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    if let Err(e) = log_settings(&config.log).and_then(|s| logging::install(&s)) {
        eprintln!("==> {e}");
        return 1;
    }
    // As a Go program (Consul) does at start: connections (HTTP watchers, pooled RPC
    // forwarding, 128 idle per server and shard) must not run out of descriptors at 1024.
    crate::io::host::raise_open_files_limit();
    if config.node_id.is_empty() {
        config.node_id = match node_id(config.data_dir.as_deref()) {
            Ok(id) => id,
            Err(e) => {
                eprintln!("==> {e}");
                return 1;
            }
        };
    }
    match crate::io::rpc_tls::RpcTls::from_config(&config.tls, &config.datacenter, &config.domain) {
        Ok(tls) => crate::io::rpc_tls::install(tls),
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    }
    let _pid_file = match PidFile::write(config.pid_file.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    // Consul prints no banner when it logs JSON: stdout is then the log alone.
    if !config.log.json {
        print_banner(&config);
    }
    // The configuration's warnings are the agent's first log lines, as Consul logs them.
    for w in warnings {
        tracing::warn!(target: "agent", "{w}");
    }
    let running_config = config.clone();
    // Consul's defaults: clients leave on SIGINT and SIGTERM; servers on neither.
    let leave_on_interrupt = !config.skip_leave_on_interrupt.unwrap_or(config.server);
    let leave_on_terminate = config.leave_on_terminate.unwrap_or(!config.server);
    let local_api = {
        let ip = if config.client_addr.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            config.client_addr
        };
        std::net::SocketAddr::new(ip, config.http_port)
    };
    let mut agent = match crate::shard::start(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("==> Error starting agent: {e}");
            return 1;
        }
    };
    match (&running_config.data_dir, agent.log_uses_io_uring) {
        (Some(dir), Some(uring)) => tracing::info!(
            target: "agent",
            "raft log in {} ({})",
            dir.join("raft").display(),
            if uring {
                "io_uring, group commit"
            } else {
                "pwrite + fdatasync, group commit"
            }
        ),
        _ if !running_config.server => tracing::info!(
            target: "agent",
            "client agent: no local state; servers are found by gossip"
        ),
        _ => tracing::info!(target: "agent", "dev mode: raft log in memory, nothing is kept"),
    }
    tracing::info!(target: "agent", "started state syncer");
    tracing::info!(target: "agent", "Consul agent running!");
    let watch_generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    start_watches(&running_config, local_api, &watch_generation);
    let joins = !(running_config.start_join.is_empty() && running_config.retry_join.is_empty());
    notify_ready_when_serving(local_api, joins, agent.mesh.cluster.clone());
    let interrupted = serve_until_signal(args, &running_config, &mut agent, &watch_generation);
    let signal = if interrupted {
        "interrupt"
    } else {
        "terminated"
    };
    tracing::info!(target: "agent", signal, "Caught");
    let _ = crate::io::systemd::notify(crate::io::systemd::STOPPING);
    if (interrupted && leave_on_interrupt) || (!interrupted && leave_on_terminate) {
        tracing::info!(target: "agent", "Gracefully shutting down agent...");
        // The leave endpoint broadcasts our leave and then exits the process; the pid file
        // goes first, since that exit skips destructors.
        drop(_pid_file);
        let _ = ureq::put(&format!("http://{local_api}/v1/agent/leave"))
            .timeout(std::time::Duration::from_secs(5))
            .call();
        agent.stop_raft();
        return 0;
    }
    agent.stop_raft();
    0
}

fn print_banner(config: &AgentConfig) {
    println!("==> Starting Consul agent...");
    println!("               Version: '{CONSUL_API_VERSION}' ({REVISION})");
    println!("               Node ID: '{}'", config.node_id);
    println!("             Node name: '{}'", config.node_name);
    println!(
        "            Datacenter: '{}' (Segment: '<all>')",
        config.datacenter
    );
    println!(
        "                Server: {} (Bootstrap: {})",
        config.server,
        config.bootstraps_alone()
    );
    println!(
        "           Client Addr: [{}] (HTTP: {}, HTTPS: {}, gRPC: -1, gRPC-TLS: -1, DNS: {})",
        config.client_addr, config.http_port, config.https_port, config.dns_port
    );
    println!(
        "          Cluster Addr: {} (LAN: {}, WAN: {})",
        config.bind_addr, config.serf_lan_port, config.serf_wan_port
    );
    println!("     Gossip Encryption: {}", config.encrypt.is_some());
    println!("      Auto-Encrypt-TLS: false");
    println!("           ACL Enabled: {}", config.acl_enabled);
    println!("    ACL Default Policy: {}", config.acl_default_policy);
    let t = &config.tls;
    println!(
        "             HTTPS TLS: Verify Incoming: {}, Verify Outgoing: {}, Min Version: TLSv1_2",
        config.https_tls.verify_incoming, config.https_tls.verify_outgoing
    );
    println!("              gRPC TLS: Verify Incoming: false, Min Version: TLSv1_2");
    println!(
        "      Internal RPC TLS: Verify Incoming: {}, Verify Outgoing: {} (Verify Hostname: {}), Min Version: TLSv1_2",
        t.verify_incoming, t.verify_outgoing, t.verify_server_hostname
    );
    println!(
        "                Shards: {} (one pinned thread each, plus the Raft core)",
        config.shards
    );
    println!();
    println!("==> Log data will now stream in as it occurs:");
    println!();
}

/// Tells systemd `READY=1` once the local HTTP API answers and, when the agent was given
/// addresses to join, once a join succeeded, as Consul notifies after its join. On a thread
/// of its own: the main thread goes on to wait for signals.
fn notify_ready_when_serving(
    api: std::net::SocketAddr,
    joins: bool,
    cluster: std::sync::Arc<crate::mesh::ClusterView>,
) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let url = format!("http://{api}/v1/status/leader");
    // The join first (a flag), then the API (a request): no request while a join is pending.
    let serving = move || {
        if joins
            && !cluster
                .lan_joined
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        matches!(
            ureq::get(&url)
                .timeout(std::time::Duration::from_secs(2))
                .call(),
            Ok(_) | Err(ureq::Error::Status(..))
        )
    };
    let _ = std::thread::Builder::new()
        .name("notify-ready".into())
        .spawn(move || {
            let mut pause = std::time::Duration::from_millis(20);
            while !serving() {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            if let Err(e) = crate::io::systemd::notify(crate::io::systemd::READY) {
                tracing::error!(target: "agent", "failed to notify systemd: {e}");
            }
        });
}

/// Starts the config files' watches (checked when the config was loaded).
fn start_watches(
    config: &AgentConfig,
    api: std::net::SocketAddr,
    generation: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    match super::watch::config_watches(&config.watches) {
        Ok(watches) => super::watch::start_config_watches(watches, api, generation.clone()),
        Err(e) => tracing::error!(target: "agent", "{e}"),
    }
}

/// Serves signals and reload requests until SIGINT (true) or SIGTERM (false).
fn serve_until_signal(
    args: &[String],
    running: &AgentConfig,
    agent: &mut RunningAgent,
    watches: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        loop {
            tokio::select! {
                _ = interrupt.recv() => return true,
                _ = term.recv() => return false,
                _ = hangup.recv() => {
                    tracing::info!(target: "agent", signal = "hangup", "Caught");
                    let _ = reload(args, running, agent, watches).await;
                }
                Some(request) = agent.reload_requests.recv() => {
                    let outcome = reload(args, running, agent, watches).await;
                    let _ = request.reply.send(outcome);
                }
            }
        }
    })
}

/// Re-reads every config source and applies what can change at run time: the log level, the
/// services and checks of the config files. A config that no longer loads is refused with its
/// error and the running one stays. Keys that need a restart are named in the log.
async fn reload(
    args: &[String],
    running: &AgentConfig,
    agent: &RunningAgent,
    watches: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<(), String> {
    use crate::io::systemd;
    let _ = systemd::notify(systemd::RELOADING);
    let outcome = async {
        let (config, warnings) = config_from_args(args)?;
        for w in warnings {
            tracing::warn!(target: "agent", "{w}");
        }
        let settings = log_settings(&config.log)?;
        // New HTTPS and RPC connections get the certificates as they are on disk now.
        let https = match running.https_port > 0 {
            true => Some(crate::io::https::acceptor(&config.https_tls)?),
            false => None,
        };
        let rpc_tls = crate::io::rpc_tls::RpcTls::from_config(
            &config.tls,
            &running.datacenter,
            &running.domain,
        )?;
        for key in restart_only_changes(running, &config) {
            tracing::warn!(
                target: "agent",
                "config key {key:?} changed; it takes effect only after a restart"
            );
        }
        // The one step that can still fail goes first, so a refused reload changes nothing.
        let (reply, done) = tokio::sync::oneshot::channel();
        let msg = crate::mesh::ShardMsg::ReloadDefinitions {
            definitions: Box::new((config.services.clone(), config.checks.clone())),
            reply,
        };
        agent.mesh.shards[0]
            .try_send(msg)
            .map_err(|_| "agent is busy; try again".to_string())?;
        done.await.map_err(|_| "agent did not answer".to_string())?;
        logging::set_level(settings.level);
        if let Some(acceptor) = https {
            crate::io::https::install(acceptor);
        }
        crate::io::rpc_tls::install(rpc_tls);
        // The watches of the files, as they are now: the old set stops, the new one starts.
        watches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let api = std::net::SocketAddr::new(
            match running.client_addr.is_unspecified() {
                true => IpAddr::from([127, 0, 0, 1]),
                false => running.client_addr,
            },
            running.http_port,
        );
        start_watches(&config, api, watches);
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = &outcome {
        tracing::error!(target: "agent", error = e.as_str(), "Reload config failed");
    }
    let _ = systemd::notify(systemd::READY);
    outcome
}

/// Settings a running agent keeps until restarted, named as in the config files.
fn restart_only_changes(old: &AgentConfig, new: &AgentConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |key: &'static str, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    check("node_name", old.node_name != new.node_name);
    check("datacenter", old.datacenter != new.datacenter);
    check("data_dir", old.data_dir != new.data_dir);
    check("server", old.server != new.server);
    check("bind_addr", old.bind_addr != new.bind_addr);
    check("client_addr", old.client_addr != new.client_addr);
    check(
        "ports",
        (
            old.http_port,
            old.dns_port,
            old.server_port,
            old.serf_lan_port,
            old.serf_wan_port,
        ) != (
            new.http_port,
            new.dns_port,
            new.server_port,
            new.serf_lan_port,
            new.serf_wan_port,
        ),
    );
    check(
        "bootstrap_expect",
        old.bootstrap_expect != new.bootstrap_expect,
    );
    check("domain", old.domain != new.domain);
    check(
        "acl",
        old.acl_enabled != new.acl_enabled || old.acl_default_policy != new.acl_default_policy,
    );
    check("log_json", old.log.json != new.log.json);
    check("log_file", old.log.file != new.log.file);
    check("enable_syslog", old.log.syslog != new.log.syslog);
    check("pid_file", old.pid_file != new.pid_file);
    check("ports.https", old.https_port != new.https_port);
    check("telemetry", old.telemetry != new.telemetry);
    changed
}

/// A TLS setting for one listener (`block`: `internal_rpc`, `https`): `tls.<block>.<key>`,
/// then `tls.defaults.<key>`, then the deprecated top-level key (`top`), as Consul resolves
/// them.
fn tls_value<'a>(
    file: &'a config_file::FileConfig,
    block: &str,
    key: &str,
    top: &str,
) -> Option<&'a serde_json::Value> {
    let in_block = |name: &str| file.settings.get("tls")?.get(name)?.get(key);
    in_block(block)
        .or_else(|| in_block("defaults"))
        .or_else(|| file.settings.get(top))
}

/// The TLS settings of one listener; `incoming_key` is the deprecated per-listener
/// `verify_incoming_rpc` / `verify_incoming_https`, which also turns checking on.
fn tls_settings(
    file: &config_file::FileConfig,
    block: &str,
    incoming_key: &str,
) -> Result<crate::config::TlsConfig, String> {
    let path = |key: &str| -> Result<Option<std::path::PathBuf>, String> {
        match tls_value(file, block, key, key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(|s| Some(s.into()))
                .ok_or_else(|| format!("{key}: expected a path, got {v}")),
        }
    };
    let flag = |key: &str, top: &str| -> Result<bool, String> {
        match tls_value(file, block, key, top) {
            None => Ok(false),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("{key}: expected true or false, got {v}")),
        }
    };
    let incoming_here = file.boolean(incoming_key) == Some(true);
    Ok(crate::config::TlsConfig {
        ca_file: path("ca_file")?,
        cert_file: path("cert_file")?,
        key_file: path("key_file")?,
        verify_incoming: flag("verify_incoming", "verify_incoming")? || incoming_here,
        verify_outgoing: flag("verify_outgoing", "verify_outgoing")?,
        verify_server_hostname: flag("verify_server_hostname", "verify_server_hostname")?,
        min_version: match tls_value(file, block, "tls_min_version", "tls_min_version") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| format!("tls_min_version: expected a string, got {v}"))?
                    .to_string(),
            ),
        },
        cipher_suites: match tls_value(file, block, "tls_cipher_suites", "tls_cipher_suites") {
            None => Vec::new(),
            Some(v) => v
                .as_str()
                .ok_or_else(|| format!("tls_cipher_suites: expected a string, got {v}"))?
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        },
    })
}
