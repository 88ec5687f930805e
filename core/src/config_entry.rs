//! Config entries (`/v1/config`): the replicated table, its writes with `cas`, and the
//! entries' JSON as Consul decodes, checks and shows it. Pure.
//!
//! An entry is kept as its kind, its name and its body: the JSON object of its other fields,
//! normalized once when written (Consul's field names, its defaults), so every replica holds
//! the same bytes and a read only adds the indexes.

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};
use serde_json::{Map, Value};

/// One config entry.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    pub kind: String,
    pub name: String,
    /// The normalized JSON object of the entry's other fields (no Kind, Name or indexes).
    pub body: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A write to the table (`Command::ConfigEntry`).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ConfigEntryOp {
    /// `PUT /v1/config[?cas=]` (cas 0: only if absent).
    Set {
        entry: ConfigEntry,
        cas: Option<u64>,
    },
    /// `DELETE /v1/config/<kind>/<name>[?cas=]`.
    Delete {
        kind: String,
        name: String,
        cas: Option<u64>,
    },
}

/// Every config entry, by (kind, name); replicated on every shard.
#[derive(Clone, Debug, Default)]
pub struct ConfigEntryTable {
    entries: BTreeMap<(String, String), ConfigEntry>,
    /// Raft index of the last change (blocking queries on `/v1/config`).
    index: u64,
}

impl ConfigEntryTable {
    /// Applies `op` at `index`: false (and no change) when `cas` does not match.
    pub fn apply(&mut self, index: u64, op: &ConfigEntryOp) -> bool {
        match op {
            ConfigEntryOp::Set { entry, cas } => {
                let key = (entry.kind.clone(), entry.name.to_lowercase());
                let current = self.entries.get(&key);
                let modify = current.map_or(0, |e| e.modify_index);
                if cas.is_some_and(|c| c != modify) {
                    return false;
                }
                let create_index = current.map_or(index, |e| e.create_index);
                self.entries.insert(
                    key,
                    ConfigEntry {
                        create_index,
                        modify_index: index,
                        ..entry.clone()
                    },
                );
            }
            ConfigEntryOp::Delete { kind, name, cas } => {
                let key = (kind.clone(), name.to_lowercase());
                let modify = self.entries.get(&key).map(|e| e.modify_index);
                // As Consul's `DeleteConfigEntryCAS`: with a cas, the entry must exist and
                // have that modify index.
                if cas.is_some_and(|c| modify != Some(c)) {
                    return false;
                }
                // Deleting what is not there succeeds (Consul's answer is `true`).
                self.entries.remove(&key);
            }
        }
        self.index = index;
        true
    }

    /// The entry of `kind` named `name` (in any case, as Consul looks names up).
    pub fn get(&self, kind: &str, name: &str) -> Option<&ConfigEntry> {
        let name = if kind == "mesh" { "mesh" } else { name };
        self.entries.get(&(kind.to_string(), name.to_lowercase()))
    }

    /// Entries of `kind`, by name in any case.
    pub fn list(&self, kind: &str) -> Vec<&ConfigEntry> {
        self.entries
            .range((kind.to_string(), String::new())..)
            .take_while(|((k, _), _)| k == kind)
            .map(|(_, e)| e)
            .collect()
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn export(&self) -> Vec<ConfigEntry> {
        self.entries.values().cloned().collect()
    }

    pub fn restore(&mut self, index: u64, entries: &[ConfigEntry]) {
        self.entries = entries
            .iter()
            .map(|e| ((e.kind.clone(), e.name.to_lowercase()), e.clone()))
            .collect();
        self.index = index;
    }
}

/// The kinds Consul 1.21 knows.
pub const KINDS: &[&str] = &[
    "service-defaults",
    "proxy-defaults",
    "service-router",
    "service-splitter",
    "service-resolver",
    "ingress-gateway",
    "terminating-gateway",
    "service-intentions",
    "mesh",
    "exported-services",
    "sameness-group",
    "api-gateway",
    "bound-api-gateway",
    "inline-certificate",
    "file-system-certificate",
    "http-route",
    "tcp-route",
    "jwt-provider",
    "control-plane-request-limit",
    "rate-limit-ip",
];

/// Kinds whose entries are about one service (ACL: `service:read`/`write` on the name);
/// the others are the mesh's (`mesh:read`/`write`, which falls back to `operator`).
pub fn is_service_kind(kind: &str) -> bool {
    matches!(
        kind,
        "service-defaults"
            | "service-router"
            | "service-splitter"
            | "service-resolver"
            | "service-intentions"
    )
}

/// `snake_case` → `CamelCase` for nested keys, as Consul's aliases and case-insensitive
/// decoding accept them (initialisms as Consul spells them).
fn camel(key: &str) -> String {
    if !key.contains('_') && key.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        return key.to_string();
    }
    key.split('_')
        .map(|part| match part {
            "id" => "ID".to_string(),
            "ttl" => "TTL".to_string(),
            "tls" => "TLS".to_string(),
            "http" => "HTTP".to_string(),
            "sni" => "SNI".to_string(),
            "jwt" => "JWT".to_string(),
            p => {
                let mut c = p.chars();
                match c.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            }
        })
        .collect()
}

/// Fields that hold free-form maps (their keys are kept as written, as Consul keeps them).
const OPAQUE: &[&str] = &["Config", "Meta", "Header", "Headers"];

/// Keys in Consul's spelling, recursively (not inside opaque maps).
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = camel(&k);
                    let v = if OPAQUE.contains(&key.as_str()) {
                        v
                    } else {
                        canonical(v)
                    };
                    (key, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A kind's top-level fields in the order Consul's structs (and so its JSON) have them, and
/// the ones its JSON always carries (struct-valued or without `omitempty`).
struct KindSpec {
    fields: &'static [&'static str],
    always: fn() -> Vec<(&'static str, Value)>,
}

fn spec(kind: &str) -> Option<KindSpec> {
    let empty = || Value::Object(Map::new());
    Some(match kind {
        "service-defaults" => KindSpec {
            fields: &[
                "Protocol",
                "Mode",
                "TransparentProxy",
                "MutualTLSMode",
                "MeshGateway",
                "Expose",
                "ExternalSNI",
                "UpstreamConfig",
                "Destination",
                "MaxInboundConnections",
                "LocalConnectTimeoutMs",
                "LocalRequestTimeoutMs",
                "BalanceInboundConnections",
                "RateLimits",
                "EnvoyExtensions",
                "Meta",
            ],
            always: || {
                let e = || Value::Object(Map::new());
                vec![
                    ("Protocol", Value::String(String::new())),
                    ("TransparentProxy", e()),
                    ("MeshGateway", e()),
                    ("Expose", e()),
                ]
            },
        },
        "proxy-defaults" => KindSpec {
            fields: &[
                "Config",
                "Mode",
                "TransparentProxy",
                "MutualTLSMode",
                "MeshGateway",
                "Expose",
                "AccessLogs",
                "EnvoyExtensions",
                "FailoverPolicy",
                "PrioritizeByLocality",
                "Meta",
            ],
            always: || {
                let e = || Value::Object(Map::new());
                vec![
                    ("Config", Value::Null),
                    ("TransparentProxy", e()),
                    ("MeshGateway", e()),
                    ("Expose", e()),
                    ("AccessLogs", e()),
                ]
            },
        },
        "service-router" => KindSpec {
            fields: &["Routes", "Meta"],
            always: || vec![("Routes", Value::Null)],
        },
        "service-splitter" => KindSpec {
            fields: &["Splits", "Meta"],
            always: || vec![("Splits", Value::Null)],
        },
        "service-resolver" => KindSpec {
            fields: &[
                "DefaultSubset",
                "Subsets",
                "Redirect",
                "Failover",
                "ConnectTimeout",
                "RequestTimeout",
                "LoadBalancer",
                "PrioritizeByLocality",
                "Meta",
            ],
            always: Vec::new,
        },
        "service-intentions" => KindSpec {
            fields: &["Sources", "JWT", "Meta"],
            always: || vec![("Sources", Value::Null)],
        },
        "mesh" => KindSpec {
            fields: &[
                "TransparentProxy",
                "AllowEnablingPermissiveMutualTLS",
                "ValidateClusters",
                "TLS",
                "HTTP",
                "Peering",
                "Meta",
            ],
            always: || {
                let mut tp = Map::new();
                tp.insert("MeshDestinationsOnly".into(), Value::Bool(false));
                vec![("TransparentProxy", Value::Object(tp))]
            },
        },
        "exported-services" => KindSpec {
            fields: &["Services", "Meta"],
            always: Vec::new,
        },
        "ingress-gateway" => KindSpec {
            fields: &["TLS", "Listeners", "Defaults", "Meta"],
            always: Vec::new,
        },
        "terminating-gateway" => KindSpec {
            fields: &["Services", "Meta"],
            always: Vec::new,
        },
        _ => {
            let _ = empty;
            return None;
        }
    })
}

/// The fields of a struct nested in a kind, by where it sits: `Routes[].Match` is the `Match`
/// of any element of `Routes`, `Subsets{}` any value of the `Subsets` map. As Consul's
/// decoder (`ErrorUnused`), a key that is none of these is refused, with its path
/// (`Splits[0].Foo`). A place not listed (opaque maps, deeper structs) is not checked.
fn nested_fields(kind: &str, at: &str) -> Option<&'static [&'static str]> {
    const HEADERS: &[&str] = &["Add", "Set", "Remove"];
    const EXPOSE_PATH: &[&str] = &[
        "ListenerPort",
        "Path",
        "LocalPathPort",
        "Protocol",
        "ParsedFromCheck",
    ];
    Some(match (kind, at) {
        ("service-defaults", "TransparentProxy") | ("proxy-defaults", "TransparentProxy") => {
            &["OutboundListenerPort", "DialedDirectly"]
        }
        ("mesh", "TransparentProxy") => &["MeshDestinationsOnly"],
        (_, "MeshGateway") => &["Mode"],
        (_, "Expose") => &["Checks", "Paths"],
        (_, "Expose.Paths[]") => EXPOSE_PATH,
        ("service-defaults", "Destination") => &["Addresses", "Port"],
        ("service-defaults", "UpstreamConfig") => &["Overrides", "Defaults"],
        ("proxy-defaults", "AccessLogs") => &[
            "Enabled",
            "DisableListenerLogs",
            "Type",
            "Path",
            "JSONFormat",
            "TextFormat",
        ],
        ("service-router", "Routes[]") => &["Match", "Destination"],
        ("service-router", "Routes[].Match") => &["HTTP"],
        ("service-router", "Routes[].Match.HTTP") => &[
            "PathExact",
            "PathPrefix",
            "PathRegex",
            "CaseInsensitive",
            "Header",
            "QueryParam",
            "Methods",
        ],
        ("service-router", "Routes[].Destination") => &[
            "Service",
            "ServiceSubset",
            "Namespace",
            "Partition",
            "PrefixRewrite",
            "RequestTimeout",
            "IdleTimeout",
            "NumRetries",
            "RetryOnConnectFailure",
            "RetryOn",
            "RetryOnStatusCodes",
            "RequestHeaders",
            "ResponseHeaders",
        ],
        ("service-router", "Routes[].Destination.RequestHeaders")
        | ("service-router", "Routes[].Destination.ResponseHeaders")
        | ("service-splitter", "Splits[].RequestHeaders")
        | ("service-splitter", "Splits[].ResponseHeaders") => HEADERS,
        ("service-splitter", "Splits[]") => &[
            "Weight",
            "Service",
            "ServiceSubset",
            "Namespace",
            "Partition",
            "RequestHeaders",
            "ResponseHeaders",
        ],
        ("service-resolver", "Subsets{}") => &["Filter", "OnlyPassing"],
        ("service-resolver", "Redirect") => &[
            "Service",
            "ServiceSubset",
            "Namespace",
            "Partition",
            "SamenessGroup",
            "Datacenter",
            "Peer",
        ],
        ("service-resolver", "Failover{}") => &[
            "Service",
            "ServiceSubset",
            "Namespace",
            "Datacenters",
            "Targets",
            "Policy",
            "SamenessGroup",
        ],
        ("service-resolver", "LoadBalancer") => &[
            "Policy",
            "RingHashConfig",
            "LeastRequestConfig",
            "HashPolicies",
        ],
        ("service-intentions", "Sources[]") => &[
            "Name",
            "Peer",
            "Namespace",
            "Partition",
            "SamenessGroup",
            "Action",
            "Permissions",
            "Precedence",
            "Type",
            "Description",
            "LegacyID",
            "LegacyMeta",
            "LegacyCreateTime",
            "LegacyUpdateTime",
        ],
        ("mesh", "TLS") => &["Incoming", "Outgoing"],
        ("mesh", "HTTP") => &["SanitizeXForwardedClientCert", "Incoming"],
        ("mesh", "Peering") => &["PeerThroughMeshGateways"],
        ("exported-services", "Services[]") => &["Name", "Namespace", "Consumers"],
        ("exported-services", "Services[].Consumers[]") => &["Peer", "Partition", "SamenessGroup"],
        _ => return None,
    })
}

/// Collects `invalid config key "<path>"` for every key below a top-level field that its
/// struct does not have. `at` is the schema place (`nested_fields`), `shown` the path as
/// Consul prints it (field names, `[i]` for list elements, `[k]` for map values, the unknown
/// key as written).
fn unknown_nested(kind: &str, at: &str, shown: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let (at, shown) = (format!("{at}[]"), format!("{shown}[{i}]"));
                unknown_nested(kind, &at, &shown, item, out);
            }
        }
        Value::Object(map) => {
            let as_map = format!("{at}{{}}");
            if nested_fields(kind, &as_map).is_some() {
                for (k, item) in map {
                    unknown_nested(kind, &as_map, &format!("{shown}[{k}]"), item, out);
                }
                return;
            }
            let Some(fields) = nested_fields(kind, at) else {
                return;
            };
            for (k, item) in map {
                // Consul's aliases that are not just the snake_case of the field.
                let squashed = match k.as_str() {
                    "peer_name" => "Peer".to_string(),
                    _ => k.replace('_', ""),
                };
                // Known fields by their name, the unknown key as written (mapstructure's).
                match fields.iter().find(|f| f.eq_ignore_ascii_case(&squashed)) {
                    Some(f) => {
                        let (at, shown) = (format!("{at}.{f}"), format!("{shown}.{f}"));
                        unknown_nested(kind, &at, &shown, item, out)
                    }
                    None => out.push(format!("invalid config key \"{shown}.{k}\"")),
                }
            }
        }
        _ => {}
    }
}

/// Why a body was refused: a decoding problem (Consul's 400, `Request decoding failed: `)
/// or a rule the entry breaks (its 500).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Decode(String),
    Invalid(String),
}

/// go-multierror's text, as Consul's decoder and validators return it.
fn multierror(errors: &[String]) -> String {
    let head = match errors.len() {
        1 => "1 error occurred:".to_string(),
        n => format!("{n} errors occurred:"),
    };
    let items: String = errors.iter().map(|e| format!("\n\t* {e}")).collect();
    format!("{head}{items}\n\n")
}

/// Decodes and checks a `PUT /v1/config` body (or a `config write` file) as Consul does: the
/// kind (`Kind` or `kind`) must be known, the other keys match the kind's fields in any case
/// or as snake_case, unknown keys are refused; then the kind's rules. Returns the entry to
/// write (indexes zero).
pub fn prepare(body: &[u8]) -> Result<ConfigEntry, Refusal> {
    let decode = |e: String| Refusal::Decode(format!("Request decoding failed: {e}"));
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(decode("EOF".into()));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| decode(e.to_string()))?;
    let Value::Object(input) = value else {
        return Err(decode("'' expected a map, got 'slice'".into()));
    };
    let kind = match input.get("Kind").or_else(|| input.get("kind")) {
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(decode("Kind value in payload is not a string".into())),
        None => {
            return Err(decode(
                "Payload does not contain a kind/Kind key at the top level".into(),
            ))
        }
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(decode(format!("invalid config entry kind: {kind}")));
    }
    let spec = spec(&kind);
    let mut name = String::new();
    let mut fields = Map::new();
    let mut unknown = Vec::new();
    for (key, v) in input {
        if key == "Kind"
            || key == "kind"
            || ["CreateIndex", "ModifyIndex", "Hash"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&key))
        {
            continue;
        }
        if key.eq_ignore_ascii_case("Name") && kind != "mesh" {
            name = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            continue;
        }
        let squashed = key.replace('_', "");
        let field = match &spec {
            Some(spec) => spec
                .fields
                .iter()
                .find(|f| f.eq_ignore_ascii_case(&squashed))
                .map(|f| f.to_string()),
            None => Some(camel(&key)),
        };
        match field {
            Some(f) => {
                if !OPAQUE.contains(&f.as_str()) {
                    unknown_nested(&kind, &f, &f, &v, &mut unknown);
                }
                let v = if OPAQUE.contains(&f.as_str()) {
                    v
                } else {
                    canonical(v)
                };
                fields.insert(f, v);
            }
            None => unknown.push(format!("invalid config key {key:?}")),
        }
    }
    if !unknown.is_empty() {
        return Err(decode(multierror(&unknown)));
    }
    match kind.as_str() {
        "mesh" => name = "mesh".into(),
        "proxy-defaults" if name.is_empty() => name = "global".into(),
        _ => {}
    }
    validate(&kind, &name, &fields).map_err(Refusal::Invalid)?;
    normalize(&kind, &mut fields);
    // The kind's struct order, then its always-present fields where missing.
    let body = match &spec {
        Some(spec) => {
            let mut ordered = Map::new();
            for (f, default) in (spec.always)() {
                fields.entry(f).or_insert(default);
            }
            for f in spec.fields {
                if let Some(v) = fields.remove(*f) {
                    ordered.insert(f.to_string(), v);
                }
            }
            ordered
        }
        None => fields,
    };
    Ok(ConfigEntry {
        kind,
        name,
        body: Value::Object(body).to_string(),
        create_index: 0,
        modify_index: 0,
    })
}

fn validate(kind: &str, name: &str, map: &Map<String, Value>) -> Result<(), String> {
    match kind {
        "proxy-defaults" if name != "global" => {
            return Err(format!(
                "invalid name ({name:?}), only \"global\" is supported"
            ))
        }
        "exported-services" if name != "default" => {
            return Err("exported-services Name must be \"default\"".into())
        }
        _ if name.is_empty() => return Err("Name is required".into()),
        "service-defaults" if name == "*" => {
            return Err(
                "service-defaults name must be the name of a service, and not a wildcard".into(),
            )
        }
        _ => {}
    }
    match kind {
        "service-defaults" => {
            let protocol = map
                .get("Protocol")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            if !["", "tcp", "http", "http2", "grpc"].contains(&protocol.as_str()) {
                return Err(multierror(&[format!(
                    "invalid value for protocol: {protocol}"
                )]));
            }
        }
        "service-splitter" => {
            let splits = map
                .get("Splits")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
                .ok_or("no splits configured")?;
            let total: f64 = splits
                .iter()
                .map(|s| s.get("Weight").and_then(Value::as_f64).unwrap_or(0.0))
                .sum();
            if (total - 100.0).abs() > 0.01 {
                return Err(format!(
                    "the sum of all split weights must be 100, not {total:.6}"
                ));
            }
        }
        "service-intentions" => {
            let sources = map
                .get("Sources")
                .and_then(Value::as_array)
                .filter(|s| !s.is_empty())
                .ok_or("At least one source is required")?;
            for (i, source) in sources.iter().enumerate() {
                let named = source.get("Name").and_then(Value::as_str).unwrap_or("");
                if named.is_empty() {
                    return Err(format!("Sources[{i}].Name is required"));
                }
                let action = source.get("Action").and_then(Value::as_str).unwrap_or("");
                let permissions = source
                    .get("Permissions")
                    .and_then(Value::as_array)
                    .is_some_and(|p| !p.is_empty());
                match (action, permissions) {
                    ("allow" | "deny", false) | ("", true) => {}
                    (_, true) => {
                        return Err(format!(
                            "Sources[{i}].Action must be omitted if Permissions are specified"
                        ))
                    }
                    (_, false) => {
                        return Err(format!(
                            "Sources[{i}].Action must be set to 'allow' or 'deny'"
                        ))
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Consul's Normalize: protocols lower case; an intention source's `Type` is `consul`.
fn normalize(kind: &str, map: &mut Map<String, Value>) {
    if let Some(Value::String(p)) = map.get_mut("Protocol") {
        *p = p.to_ascii_lowercase();
    }
    if kind == "service-intentions" {
        if let Some(Value::Array(sources)) = map.get_mut("Sources") {
            for source in sources.iter_mut().filter_map(Value::as_object_mut) {
                source
                    .entry("Type")
                    .or_insert_with(|| Value::String("consul".into()));
            }
        }
    }
    if kind == "mesh" {
        if let Some(Value::Object(tp)) = map.get_mut("TransparentProxy") {
            tp.entry("MeshDestinationsOnly")
                .or_insert(Value::Bool(false));
        }
    }
}

/// An entry as the API shows it: Kind, Name, the body's fields, then the indexes.
pub fn to_json(entry: &ConfigEntry) -> Value {
    let mut out = Map::new();
    out.insert("Kind".into(), Value::String(entry.kind.clone()));
    if entry.kind != "mesh" {
        out.insert("Name".into(), Value::String(entry.name.clone()));
    }
    if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&entry.body) {
        out.extend(body);
    }
    out.insert("CreateIndex".into(), Value::from(entry.create_index));
    out.insert("ModifyIndex".into(), Value::from(entry.modify_index));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(table: &mut ConfigEntryTable, index: u64, body: &str, cas: Option<u64>) -> bool {
        let entry = prepare(body.as_bytes()).unwrap();
        table.apply(index, &ConfigEntryOp::Set { entry, cas })
    }

    #[test]
    fn writes_with_and_without_cas() {
        let mut t = ConfigEntryTable::default();
        let body = r#"{"Kind":"service-defaults","Name":"web","Protocol":"http"}"#;
        assert!(set(&mut t, 5, body, None));
        assert!(!set(&mut t, 6, body, Some(99)), "stale cas");
        assert!(set(
            &mut t,
            7,
            r#"{"kind":"service-defaults","name":"web","protocol":"GRPC"}"#,
            Some(5)
        ));
        let e = t.get("service-defaults", "web").unwrap();
        assert_eq!((e.create_index, e.modify_index), (5, 7));
        let json = to_json(e);
        assert_eq!(json["Protocol"], "grpc");
        assert_eq!(json["MeshGateway"], serde_json::json!({}));
        let del = |cas| ConfigEntryOp::Delete {
            kind: "service-defaults".into(),
            name: "web".into(),
            cas,
        };
        assert!(!t.apply(8, &del(Some(5))));
        assert!(t.apply(8, &del(Some(7))));
        assert!(t.get("service-defaults", "web").is_none());
        assert_eq!(t.index(), 8);
    }

    #[test]
    fn consuls_rules_refuse_bad_entries() {
        let err = |body: &str| prepare(body.as_bytes()).unwrap_err();
        let decode = |t: &str| Refusal::Decode(format!("Request decoding failed: {t}"));
        let invalid = |t: &str| Refusal::Invalid(t.to_string());
        assert_eq!(
            err(r#"{"Kind":"nope","Name":"x"}"#),
            decode("invalid config entry kind: nope")
        );
        assert_eq!(
            err(r#"{"Kind":"service-defaults","Name":"web","Foo":1}"#),
            decode("1 error occurred:\n\t* invalid config key \"Foo\"\n\n")
        );
        assert_eq!(
            err(r#"{"Kind":"proxy-defaults","Name":"web"}"#),
            invalid("invalid name (\"web\"), only \"global\" is supported")
        );
        assert_eq!(
            err(r#"{"Kind":"service-defaults","Name":"web","Protocol":"https"}"#),
            invalid("1 error occurred:\n\t* invalid value for protocol: https\n\n")
        );
        assert_eq!(
            err(
                r#"{"Kind":"service-splitter","Name":"web","Splits":[{"Weight":60},{"Weight":30}]}"#
            ),
            invalid("the sum of all split weights must be 100, not 90.000000")
        );
        assert_eq!(
            err(
                r#"{"Kind":"service-intentions","Name":"web","Sources":[{"Name":"api","Action":"maybe"}]}"#
            ),
            invalid("Sources[0].Action must be set to 'allow' or 'deny'")
        );
        // Unknown keys below the top level, with their path as Consul prints it.
        assert_eq!(
            err(
                r#"{"Kind":"service-splitter","Name":"web","Splits":[{"Weight":100,"Servce":"v1"}]}"#
            ),
            decode("1 error occurred:\n\t* invalid config key \"Splits[0].Servce\"\n\n")
        );
        assert_eq!(
            err(r#"{"Kind":"service-router","Name":"web","Routes":[{"Match":{"HTTP":{"PathPrefix":"/a","Verb":"GET"}},"Destination":{"Service":"b","Retries":2}}]}"#),
            decode("2 errors occurred:\n\t* invalid config key \"Routes[0].Match.HTTP.Verb\"\n\t* invalid config key \"Routes[0].Destination.Retries\"\n\n")
        );
        assert_eq!(
            err(
                r#"{"Kind":"service-resolver","Name":"web","Subsets":{"v1":{"Filter":"x","Passing":true}}}"#
            ),
            decode("1 error occurred:\n\t* invalid config key \"Subsets[v1].Passing\"\n\n")
        );
        // Known nested keys in any case or snake_case pass, as do opaque maps.
        assert!(prepare(br#"{"kind":"service-resolver","name":"web","redirect":{"service_subset":"v2","Service":"api"},"failover":{"*":{"datacenters":["dc2"]}}}"#).is_ok());
        assert!(prepare(br#"{"Kind":"service-defaults","Name":"web","Meta":{"anything":"goes"},"TransparentProxy":{"dialed_directly":true}}"#).is_ok());
        assert!(prepare(br#"{"Kind":"exported-services","Name":"default","Services":[{"Name":"web","Consumers":[{"peer_name":"p1"}]}]}"#).is_ok());
        assert_eq!(
            err(r#"{"Kind":"mesh","Name":"m"}"#),
            decode("1 error occurred:\n\t* invalid config key \"Name\"\n\n")
        );
        // Opaque maps keep their keys as written; snake_case and any case reach the fields.
        let e = prepare(br#"{"kind":"proxy-defaults","config":{"local_connect_timeout_ms":1000},"mesh_gateway":{"mode":"local"}}"#).unwrap();
        assert_eq!(e.name, "global");
        let json = to_json(&e);
        assert_eq!(json["Config"]["local_connect_timeout_ms"], 1000);
        assert_eq!(json["MeshGateway"]["Mode"], "local");
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "Kind",
                "Name",
                "Config",
                "TransparentProxy",
                "MeshGateway",
                "Expose",
                "AccessLogs",
                "CreateIndex",
                "ModifyIndex"
            ]
        );
        let mesh = to_json(&prepare(br#"{"Kind":"mesh"}"#).unwrap());
        assert_eq!(
            mesh,
            serde_json::json!({"Kind":"mesh","TransparentProxy":{"MeshDestinationsOnly":false},"CreateIndex":0,"ModifyIndex":0})
        );
    }
}
