//! Agent config files (`-config-file`, `-config-dir`): JSON or HCL, merged as Consul merges
//! them (§7.1): files in order, a directory's `.json`/`.hcl` files in lexical order; scalars
//! from later files win, maps merge, lists append. Service and check definitions are collected.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Keys Consul accepts that this agent reads.
const SUPPORTED: &[&str] = &[
    "node_name",
    "datacenter",
    "data_dir",
    "bind_addr",
    "client_addr",
    "server",
    "ports",
    "enable_script_checks",
    "enable_local_script_checks",
    "acl",
    "primary_datacenter",
    // Consul's pre-1.4 names for the `acl` block's keys, mapped onto it.
    "acl_datacenter",
    "acl_default_policy",
    "acl_down_policy",
    "acl_ttl",
    "acl_token",
    "acl_agent_token",
    "acl_agent_master_token",
    "acl_master_token",
    "acl_replication_token",
    "acl_enable_key_list_policy",
    "service",
    "services",
    "check",
    "checks",
    "node_id",
    "log_level",
    "ui",
    "ui_config",
    "bootstrap",
    "domain",
    "alt_domain",
    "recursors",
    "dns_config",
    "bootstrap_expect",
    "raft_snapshot_threshold",
    "raft_snapshot_interval",
    "retry_join_wan",
    "start_join_wan",
    "autopilot",
    "ca_file",
    "cert_file",
    "key_file",
    "tls",
    "verify_incoming",
    "verify_incoming_rpc",
    "verify_outgoing",
    "verify_server_hostname",
    "encrypt",
    "leave_on_terminate",
    "skip_leave_on_interrupt",
    "retry_join",
    "start_join",
    "retry_interval",
    "rejoin_after_leave",
    "disable_keyring_file",
    "disable_coordinates",
    "sync_coordinate_interval_min",
    "sync_coordinate_rate_target",
    "log_json",
    "log_file",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "enable_syslog",
    "syslog_facility",
    "pid_file",
    "telemetry",
    "tls_min_version",
    "tls_cipher_suites",
    "watches",
];

/// Keys Consul accepts that this agent does not act on yet: loaded with a warning, so that
/// existing config files keep working while the features arrive.
const NOT_YET: &[&str] = &[
    "addresses",
    "advertise_addr",
    "advertise_addr_wan",
    "auto_encrypt",
    "auto_reload_config",
    "ca_path",
    "check_update_interval",
    "connect",
    "default_query_time",
    "disable_host_node_id",
    "disable_remote_exec",
    "disable_update_check",
    "discovery_max_stale",
    "enable_debug",
    "encrypt_verify_incoming",
    "encrypt_verify_outgoing",
    "gossip_lan",
    "gossip_wan",
    "http_config",
    "limits",
    "max_query_time",
    "node_meta",
    "peering",
    "performance",
    "raft_protocol",
    "reconnect_timeout",
    "retry_interval_wan",
    "retry_max",
    "segment",
    "serf_lan",
    "serf_wan",
    "session_ttl_min",
    "tagged_addresses",
    "translate_wan_addrs",
];

/// Blocks whose keys are checked, by dotted path: an unknown key in one is refused with its
/// full path (`invalid config key acl.bogus`), as Consul refuses it.
const BLOCKS: &[(&str, &[&str])] = &[
    (
        "acl",
        &[
            "enabled",
            "default_policy",
            "down_policy",
            "token_ttl",
            "policy_ttl",
            "role_ttl",
            "enable_token_persistence",
            "enable_key_list_policy",
            "enable_token_replication",
            "tokens",
            "msp_bootstrap_token",
        ],
    ),
    (
        "acl.tokens",
        &[
            "initial_management",
            "master",
            "agent",
            "agent_recovery",
            "agent_master",
            "default",
            "replication",
            "config_file_service_registration",
            "dns",
            "managed_service_provider",
        ],
    ),
    (
        "ports",
        &[
            "dns",
            "http",
            "https",
            "grpc",
            "grpc_tls",
            "serf_lan",
            "serf_wan",
            "server",
            "sidecar_min_port",
            "sidecar_max_port",
            "expose_min_port",
            "expose_max_port",
        ],
    ),
    ("addresses", &["dns", "http", "https", "grpc", "grpc_tls"]),
    ("tls", &["defaults", "internal_rpc", "https", "grpc"]),
    ("tls.defaults", TLS_KEYS),
    ("tls.internal_rpc", TLS_KEYS),
    ("tls.https", TLS_KEYS),
    ("tls.grpc", TLS_KEYS),
    (
        "telemetry",
        &[
            "circonus_api_app",
            "circonus_api_token",
            "circonus_api_url",
            "circonus_broker_id",
            "circonus_broker_select_tag",
            "circonus_check_display_name",
            "circonus_check_force_metric_activation",
            "circonus_check_id",
            "circonus_check_instance_id",
            "circonus_check_search_tag",
            "circonus_check_tags",
            "circonus_submission_interval",
            "circonus_submission_url",
            "disable_compat_1.9",
            "disable_hostname",
            "disable_per_tenancy_usage_metrics",
            "dogstatsd_addr",
            "dogstatsd_tags",
            "enable_host_metrics",
            "filter_default",
            "metrics_prefix",
            "prefix_filter",
            "prometheus_retention_time",
            "retry_failed_connection",
            "statsd_address",
            "statsite_address",
        ],
    ),
    (
        "autopilot",
        &[
            "cleanup_dead_servers",
            "last_contact_threshold",
            "max_trailing_logs",
            "min_quorum",
            "server_stabilization_time",
            "redundancy_zone_tag",
            "disable_upgrade_migration",
            "upgrade_version_tag",
        ],
    ),
    (
        "performance",
        &[
            "raft_multiplier",
            "leave_drain_time",
            "rpc_hold_timeout",
            "grpc_keepalive_interval",
            "grpc_keepalive_timeout",
        ],
    ),
    (
        "ui_config",
        &[
            "enabled",
            "dir",
            "content_path",
            "metrics_provider",
            "metrics_provider_files",
            "metrics_provider_options_json",
            "metrics_proxy",
            "dashboard_url_templates",
        ],
    ),
    (
        "dns_config",
        &[
            "allow_stale",
            "a_record_limit",
            "disable_compression",
            "enable_truncate",
            "max_stale",
            "node_ttl",
            "only_passing",
            "recursor_strategy",
            "recursor_timeout",
            "service_ttl",
            "udp_answer_limit",
            "use_cache",
            "cache_max_age",
            "prefer_namespace",
            "soa",
            "enable_additional_node_meta_txt",
        ],
    ),
    ("dns_config.soa", &["expire", "min_ttl", "refresh", "retry"]),
];

const TLS_KEYS: &[&str] = &[
    "ca_file",
    "ca_path",
    "cert_file",
    "key_file",
    "tls_min_version",
    "tls_cipher_suites",
    "verify_incoming",
    "verify_outgoing",
    "verify_server_hostname",
    "use_auto_cert",
];

/// Adds the keys of `block` (a dotted path in `map`) that are not in `keys` to `unknown`,
/// with their full path. HCL blocks may come as a list of objects; each is checked.
fn check_block(map: &Map<String, Value>, block: &str, keys: &[&str], unknown: &mut Vec<String>) {
    let mut parts = block.split('.');
    let first = parts.next().unwrap_or("");
    let mut found: Vec<&Value> = map.get(first).into_iter().collect();
    for part in parts {
        found = found
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(|i| i.get(part)).collect(),
                other => other.get(part).into_iter().collect::<Vec<_>>(),
            })
            .collect();
    }
    let objects = found.into_iter().flat_map(|v| match v {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_object)
            .collect::<Vec<_>>(),
        Value::Object(o) => vec![o],
        _ => Vec::new(),
    });
    for object in objects {
        for key in object.keys() {
            let path = format!("{block}.{key}");
            if !keys.contains(&key.as_str()) && !unknown.contains(&path) {
                unknown.push(path);
            }
        }
    }
}

/// What the files said.
#[derive(Debug, Default)]
pub struct FileConfig {
    /// Merged top-level settings (services and checks removed).
    pub settings: Map<String, Value>,
    pub services: Vec<Value>,
    pub checks: Vec<Value>,
    /// Lines to print (skipped files, keys not acted on yet).
    pub warnings: Vec<String>,
}

/// Expands `-config-file` and `-config-dir` arguments (in the order given) into files.
pub fn files(args: &[(bool, PathBuf)]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for (is_dir, path) in args {
        if *is_dir && path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("Error reading {}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// How files are read: by extension, or all in one format (`-config-format`), plus `-hcl`
/// fragments read after the files.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    pub format: Option<&'a str>,
    pub hcl: &'a [String],
}

fn parse_text(text: &str, hcl: bool, name: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    if hcl {
        hcl::from_str::<Value>(text).map_err(|e| format!("Error parsing {name}: {e}"))
    } else {
        serde_json::from_str(text).map_err(|e| format!("Error parsing {name}: {e}"))
    }
}

fn parse(
    path: &Path,
    strict_extension: bool,
    format: Option<&str>,
) -> Result<Option<Value>, String> {
    let ext = format.unwrap_or_else(|| path.extension().and_then(|e| e.to_str()).unwrap_or(""));
    if ext != "json" && ext != "hcl" {
        if strict_extension {
            return Err(format!("file {} has unknown extension; must be .hcl or .json, or config format must be set", path.display()));
        }
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error reading {}: {e}", path.display()))?;
    parse_text(&text, ext == "hcl", &path.display().to_string()).map(Some)
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn push_definitions(list: &mut Vec<Value>, value: Value) {
    match value {
        Value::Array(items) => list.extend(items),
        other => list.push(other),
    }
}

/// Loads and merges `files`. Files named with `-config-file` must be `.json` or `.hcl`;
/// others found in a directory are skipped with a warning.
pub fn load(files: &[PathBuf], named: &[PathBuf]) -> Result<FileConfig, String> {
    load_sources(files, named, &Sources::default())
}

/// `load`, with `-config-format` and `-hcl` fragments (merged after the files, as Consul
/// merges them).
pub fn load_sources(
    files: &[PathBuf],
    named: &[PathBuf],
    sources: &Sources,
) -> Result<FileConfig, String> {
    if sources.format.is_some_and(|f| f != "hcl" && f != "json") {
        return Err("config: -config-format must be either 'hcl' or 'json'".into());
    }
    let mut out = FileConfig::default();
    let mut unknown = Vec::new();
    let mut idle: Vec<String> = Vec::new();
    let fragments = sources
        .hcl
        .iter()
        .enumerate()
        .map(|(i, text)| parse_text(text, true, &format!("flags-{i}.hcl")).map(Some));
    let parsed = files
        .iter()
        .map(|path| parse(path, named.contains(path), sources.format))
        .chain(fragments);
    for (i, value) in parsed.enumerate() {
        let path = files
            .get(i)
            .cloned()
            .unwrap_or_else(|| PathBuf::from("-hcl"));
        let Some(value) = value? else {
            out.warnings.push(format!(
                "skipping file {}, extension must be .hcl or .json, or config format must be set",
                path.display()
            ));
            continue;
        };
        let Value::Object(mut map) = value else {
            return Err(format!("Error parsing {}: not an object", path.display()));
        };
        for key in ["service", "services"] {
            if let Some(v) = map.remove(key) {
                push_definitions(&mut out.services, v);
            }
        }
        for key in ["check", "checks"] {
            if let Some(v) = map.remove(key) {
                push_definitions(&mut out.checks, v);
            }
        }
        for key in map.keys() {
            if NOT_YET.contains(&key.as_str()) {
                if !idle.contains(key) {
                    idle.push(key.clone());
                }
            } else if !SUPPORTED.contains(&key.as_str()) {
                unknown.push(key.clone());
            }
        }
        for (block, keys) in BLOCKS {
            check_block(&map, block, keys, &mut unknown);
        }
        merge(&mut out.settings, map);
    }
    if !idle.is_empty() {
        out.warnings.push(format!(
            "config keys accepted but not acted on yet: {}",
            idle.join(", ")
        ));
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|k| format!("invalid config key {k}"))
            .collect();
        return Err(list.join("\n"));
    }
    Ok(out)
}

impl FileConfig {
    /// A top-level string setting.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.settings.get(key).and_then(Value::as_str)
    }

    /// A top-level boolean setting.
    pub fn boolean(&self, key: &str) -> Option<bool> {
        self.settings.get(key).and_then(Value::as_bool)
    }

    /// `ports.<name>`.
    pub fn port(&self, name: &str) -> Option<i64> {
        self.settings
            .get("ports")
            .and_then(|p| p.get(name))
            .and_then(Value::as_i64)
    }

    /// `acl.<key>` as a string.
    pub fn acl(&self, key: &str) -> Option<&str> {
        self.acl_value(key).and_then(Value::as_str)
    }

    /// `acl.<key>` (`acl.tokens` is an object).
    pub fn acl_value(&self, key: &str) -> Option<&Value> {
        self.settings.get("acl").and_then(|a| a.get(key))
    }
}
