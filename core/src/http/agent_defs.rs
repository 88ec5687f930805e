//! Service and check definitions as `/v1/agent/service/register` and `/v1/agent/check/register`
//! take them (§3.1–3.3): Go-style keys with Consul's snake_case aliases, durations as strings
//! or nanoseconds, type precedence and validation texts.

use serde_json::Value;

use super::decode::{self, tagged_addresses, Field, Fields};
use crate::agent::local::initial_status;
use crate::agent::{CheckKind, CheckSpec};
use crate::catalog::{CheckDef, ServiceDef, CRITICAL, PASSING, WARNING};

const CHECK_TYPE_FIELDS: &[Field] = &[
    ("CheckID", &[]),
    ("Name", &[]),
    ("Status", &[]),
    ("Notes", &[]),
    ("ScriptArgs", &["args", "script_args", "Args"]),
    ("HTTP", &[]),
    ("Header", &[]),
    ("Method", &[]),
    ("Body", &[]),
    ("DisableRedirects", &["disable_redirects"]),
    ("TCP", &[]),
    ("TCPUseTLS", &["tcp_use_tls"]),
    ("UDP", &[]),
    ("GRPC", &[]),
    ("GRPCUseTLS", &["grpc_use_tls"]),
    ("H2PING", &[]),
    ("H2PingUseTLS", &["h2ping_use_tls"]),
    ("OSService", &["os_service"]),
    ("Interval", &[]),
    ("Timeout", &[]),
    ("TTL", &[]),
    ("TLSServerName", &["tls_server_name"]),
    ("TLSSkipVerify", &["tls_skip_verify"]),
    ("DockerContainerID", &["docker_container_id"]),
    ("Shell", &[]),
    ("AliasNode", &["alias_node"]),
    ("AliasService", &["alias_service"]),
    (
        "DeregisterCriticalServiceAfter",
        &["deregister_critical_service_after"],
    ),
    ("SuccessBeforePassing", &["success_before_passing"]),
    ("FailuresBeforeWarning", &["failures_before_warning"]),
    ("FailuresBeforeCritical", &["failures_before_critical"]),
    ("OutputMaxSize", &["output_max_size"]),
    // Only in standalone definitions (`CheckDefinition`):
    ("ID", &[]),
    ("ServiceID", &["service_id"]),
    ("Token", &[]),
];

const SERVICE_FIELDS: &[Field] = &[
    ("Kind", &[]),
    ("ID", &[]),
    ("Name", &[]),
    ("Tags", &[]),
    ("Address", &[]),
    ("TaggedAddresses", &["tagged_addresses"]),
    ("Meta", &[]),
    ("Port", &[]),
    ("SocketPath", &["socket_path"]),
    ("Check", &[]),
    ("Checks", &[]),
    ("Weights", &[]),
    ("Token", &[]),
    ("EnableTagOverride", &["enable_tag_override"]),
    ("Proxy", &[]),
    ("Connect", &[]),
    ("Locality", &[]),
    ("Namespace", &[]),
    ("Partition", &[]),
];

/// Why a definition was refused: the status and Consul's text.
pub type Refusal = (u16, String);

fn bad(text: impl Into<String>) -> Refusal {
    (400, text.into())
}

fn decode_failed(e: String) -> Refusal {
    bad(format!("Request decode failed: {e}"))
}

const MIN_INTERVAL_MS: u64 = 1000;

/// Parses the check-type part shared by embedded and standalone checks.
fn check_spec(
    f: &Fields,
    id: String,
    name: String,
    service_id: String,
    scripts_enabled: bool,
) -> Result<CheckSpec, Refusal> {
    let status = initial_status(&f.string("Status").map_err(decode_failed)?);
    if ![PASSING, WARNING, CRITICAL].contains(&status.as_str()) {
        return Err(bad(
            "Status for checks must 'passing', 'warning', 'critical'",
        ));
    }
    // Rounded up: any positive duration is positive (a bare JSON number is nanoseconds, as
    // Go's `time.Duration` reads it; `"interval": 10` passes Consul's `> 0` and is then
    // raised to the minimum interval).
    let ms = |field: &str| {
        f.duration_ns(field)
            .map(|ns| ns.div_ceil(1_000_000))
            .map_err(decode_failed)
    };
    let (interval_ms, ttl_ms, timeout_ms) = (ms("Interval")?, ms("TTL")?, ms("Timeout")?);
    let text = |field: &str| f.string(field).map_err(decode_failed);
    let (http, tcp, udp, grpc) = (text("HTTP")?, text("TCP")?, text("UDP")?, text("GRPC")?);
    let args = f.strings("ScriptArgs").map_err(decode_failed)?;
    if interval_ms > 0 && ttl_ms > 0 {
        return Err(bad(
            "Invalid check: Interval and TTL cannot both be specified",
        ));
    }
    let unsupported = [
        ("H2PING", "h2ping"),
        ("OSService", "os_service"),
        ("DockerContainerID", "docker"),
    ];
    for (field, kind) in unsupported {
        if !text(field)?.is_empty() {
            return Err(bad(format!(
                "Invalid check: {kind} checks are not supported by this agent yet"
            )));
        }
    }
    let kind = if !grpc.is_empty() && interval_ms > 0 {
        if f.boolean("GRPCUseTLS").map_err(decode_failed)? {
            return Err(bad(
                "Invalid check: gRPC checks over TLS are not supported by this agent yet",
            ));
        }
        // `host:port` or `host:port/service`.
        let (address, service) = match grpc.split_once('/') {
            Some((a, s)) => (a.to_string(), s.to_string()),
            None => (grpc.clone(), String::new()),
        };
        CheckKind::Grpc { address, service }
    } else if !http.is_empty() && interval_ms > 0 {
        let headers = match f.get("Header") {
            Some(Value::Object(m)) => m
                .iter()
                .flat_map(|(k, v)| match v {
                    Value::Array(vs) => vs
                        .iter()
                        .filter_map(|x| x.as_str())
                        .map(|x| (k.clone(), x.to_string()))
                        .collect(),
                    Value::String(s) => vec![(k.clone(), s.clone())],
                    _ => Vec::new(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let method = text("Method")?;
        CheckKind::Http {
            url: http,
            method: if method.is_empty() {
                "GET".into()
            } else {
                method
            },
            headers,
            body: text("Body")?,
            tls_skip_verify: f.boolean("TLSSkipVerify").map_err(decode_failed)?,
        }
    } else if ttl_ms > 0 {
        CheckKind::Ttl { ttl_ms }
    } else if !tcp.is_empty() && interval_ms > 0 {
        CheckKind::Tcp { address: tcp }
    } else if !udp.is_empty() && interval_ms > 0 {
        CheckKind::Udp { address: udp }
    } else if !text("AliasService")?.is_empty() || !text("AliasNode")?.is_empty() {
        if interval_ms > 0 {
            return Err(bad(
                "Invalid check: Interval cannot be set for Alias checks",
            ));
        }
        if ttl_ms > 0 {
            return Err(bad(
                "Invalid check: TTL must be not be set for Alias checks",
            ));
        }
        CheckKind::Alias {
            node: text("AliasNode")?,
            service: text("AliasService")?,
        }
    } else if !args.is_empty() && interval_ms > 0 {
        if !scripts_enabled {
            return Err((
                500,
                "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true".into(),
            ));
        }
        CheckKind::Script { args }
    } else if !http.is_empty()
        || !tcp.is_empty()
        || !udp.is_empty()
        || !grpc.is_empty()
        || !args.is_empty()
    {
        return Err(bad("Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"));
    } else {
        return Err(bad("Invalid check: TTL must be > 0 for TTL checks"));
    };
    let default_timeout = if matches!(kind, CheckKind::Script { .. }) {
        30_000
    } else {
        10_000
    };
    let interval_ms = if interval_ms > 0 {
        interval_ms.max(MIN_INTERVAL_MS)
    } else {
        0
    };
    let fmt = |ms: u64| {
        if ms == 0 {
            String::new()
        } else {
            decode::format_go_duration(ms * 1_000_000)
        }
    };
    let def = CheckDef {
        id,
        name,
        status,
        notes: text("Notes")?,
        output: String::new(),
        service_id,
        check_type: kind.type_name().into(),
        interval: fmt(interval_ms),
        timeout: if matches!(kind, CheckKind::Ttl { .. }) {
            String::new()
        } else {
            fmt(if timeout_ms > 0 { timeout_ms } else { 0 })
        },
    };
    Ok(CheckSpec {
        def,
        kind,
        interval_ms,
        timeout_ms: if timeout_ms > 0 {
            timeout_ms
        } else {
            default_timeout
        },
        // Consul raises timeouts below one minute to one minute.
        deregister_critical_after_ms: match ms("DeregisterCriticalServiceAfter")? {
            0 => 0,
            set => set.max(60_000),
        },
        success_before_passing: f.uint("SuccessBeforePassing").map_err(decode_failed)? as u32,
        failures_before_critical: f.uint("FailuresBeforeCritical").map_err(decode_failed)? as u32,
    })
}

/// A standalone check (`PUT /v1/agent/check/register`).
pub fn parse_check(body: Value, scripts_enabled: bool) -> Result<CheckSpec, Refusal> {
    let f = decode::fields(body, CHECK_TYPE_FIELDS).map_err(decode_failed)?;
    if f.get("CheckID").is_some() {
        return Err(decode_failed("json: unknown field \"CheckID\"".into()));
    }
    let name = f.string("Name").map_err(decode_failed)?;
    if name.is_empty() {
        return Err(bad("Missing check name"));
    }
    let mut id = f.string("ID").map_err(decode_failed)?;
    if id.is_empty() {
        id = name.clone();
    }
    let service_id = f.string("ServiceID").map_err(decode_failed)?;
    check_spec(&f, id, name, service_id, scripts_enabled)
}

/// A service definition with its checks (`PUT /v1/agent/service/register`).
pub fn parse_service(
    body: Value,
    scripts_enabled: bool,
) -> Result<(ServiceDef, Vec<CheckSpec>), Refusal> {
    let mut f = decode::fields(body, SERVICE_FIELDS).map_err(decode_failed)?;
    if f.get("Namespace").is_some_and(|v| v.as_str() != Some("")) {
        return Err(bad(
            "Invalid query parameter: \"ns\" - Namespaces are a Consul Enterprise feature",
        ));
    }
    let name = f.string("Name").map_err(decode_failed)?;
    if name.is_empty() {
        return Err(bad("Missing service name"));
    }
    let mut id = f.string("ID").map_err(decode_failed)?;
    if id.is_empty() {
        id = name.clone();
    }
    let address = f.string("Address").map_err(decode_failed)?;
    if address == "0.0.0.0" || address == "::" || address == "[::]" {
        return Err(bad("Invalid service address"));
    }
    let port = f.uint("Port").map_err(decode_failed)? as u32;
    let (passing, warning) = match f.get("Weights") {
        Some(w) => {
            let w = decode::fields(w.clone(), &[("Passing", &[]), ("Warning", &[])])
                .map_err(decode_failed)?;
            (
                w.uint("Passing").map_err(decode_failed)?,
                w.uint("Warning").map_err(decode_failed)?,
            )
        }
        None => (1, 1),
    };
    if passing < 1 {
        return Err(bad("Invalid Weights: Passing must be greater than 0"));
    }
    if passing > 65535 || warning > 65535 {
        return Err(bad(
            "Invalid Weights: DNS Weight must be between 0 and 65535",
        ));
    }
    let meta = f.string_map("Meta").map_err(decode_failed)?;
    if meta.len() > 64 {
        return Err(bad(
            "Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs",
        ));
    }
    if let Some((k, _)) = meta.iter().find(|(k, _)| k.starts_with("consul-")) {
        return Err(bad(format!(
            "Invalid Service Meta: Key prefix 'consul-' is reserved for internal use: {k:?}"
        )));
    }
    let mut tagged = tagged_addresses(&f).map_err(decode_failed)?;
    // The agent adds lan_ipv4/wan_ipv4 (or ipv6) when the address is an IP literal.
    if let Ok(ip) = address.parse::<std::net::IpAddr>() {
        let family = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
        for scope in ["lan", "wan"] {
            let key = format!("{scope}_{family}");
            if !tagged.iter().any(|(k, ..)| *k == key) {
                tagged.push((key, address.clone(), port));
            }
        }
        tagged.sort();
    }
    let def = ServiceDef {
        id: id.clone(),
        name: name.clone(),
        tags: f.strings("Tags").map_err(decode_failed)?,
        address,
        tagged_addresses: tagged,
        meta,
        port,
        weight_passing: passing as u32,
        weight_warning: warning as u32,
        enable_tag_override: f.boolean("EnableTagOverride").map_err(decode_failed)?,
    };
    let mut raw_checks = Vec::new();
    if let Some(c) = f.take("Check") {
        raw_checks.push(c);
    }
    match f.take("Checks") {
        Some(Value::Array(list)) => raw_checks.extend(list),
        Some(other) => {
            return Err(decode_failed(format!(
                "json: cannot unmarshal {other} into Go struct field .Checks"
            )))
        }
        None => {}
    }
    let many = raw_checks.len() > 1;
    let mut checks = Vec::new();
    for (i, raw) in raw_checks.into_iter().enumerate() {
        let cf = decode::fields(raw, CHECK_TYPE_FIELDS).map_err(decode_failed)?;
        for standalone_only in ["ID", "ServiceID"] {
            if cf.get(standalone_only).is_some() {
                return Err(decode_failed(format!(
                    "json: unknown field {standalone_only:?}"
                )));
            }
        }
        let mut check_id = cf.string("CheckID").map_err(decode_failed)?;
        if check_id.is_empty() {
            check_id = if many {
                format!("service:{id}:{}", i + 1)
            } else {
                format!("service:{id}")
            };
        }
        let mut check_name = cf.string("Name").map_err(decode_failed)?;
        if check_name.is_empty() {
            check_name = format!("Service '{name}' check");
        }
        checks.push(check_spec(
            &cf,
            check_id,
            check_name,
            id.clone(),
            scripts_enabled,
        )?);
    }
    Ok((def, checks))
}
