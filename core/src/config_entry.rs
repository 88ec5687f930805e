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
                let key = (entry.kind.clone(), entry.name.clone());
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
                let key = (kind.clone(), name.clone());
                let modify = self.entries.get(&key).map_or(0, |e| e.modify_index);
                if cas.is_some_and(|c| c != modify) {
                    return false;
                }
                // Deleting what is not there succeeds (Consul's answer is `true`).
                self.entries.remove(&key);
            }
        }
        self.index = index;
        true
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&ConfigEntry> {
        self.entries.get(&(kind.to_string(), name.to_string()))
    }

    /// Entries of `kind`, by name.
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
            .map(|e| ((e.kind.clone(), e.name.clone()), e.clone()))
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

/// `snake_case` → `CamelCase`, as Consul's `TranslateKeys` and case-insensitive decoding
/// accept `protocol` for `Protocol` (initialisms as Consul spells them).
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

/// Decodes and checks a `PUT /v1/config` body (or a `config write` file) as Consul does:
/// the kind must be known, the name set (and fixed for `proxy-defaults` and `mesh`), each
/// kind's rules hold. Returns the entry to write (indexes zero) or Consul's text.
pub fn prepare(body: &[u8]) -> Result<ConfigEntry, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("Request decoding failed: {e}"))?;
    let Value::Object(map) = canonical(value) else {
        return Err("Request decoding failed: expected a JSON object".into());
    };
    let mut map: Map<String, Value> = map;
    let kind = match map.remove("Kind") {
        Some(Value::String(k)) => k,
        _ => return Err(
            "Request decoding failed: Payload does not contain a kind/Kind key at the top level"
                .into(),
        ),
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "Request decoding failed: invalid config entry kind: {kind}"
        ));
    }
    let name = match map.remove("Name") {
        Some(Value::String(n)) => n,
        None => String::new(),
        Some(other) => {
            return Err(format!(
                "Request decoding failed: Name must be a string, got {other}"
            ))
        }
    };
    for key in ["CreateIndex", "ModifyIndex", "Hash"] {
        map.remove(key);
    }
    validate(&kind, &name, &map)?;
    normalize(&kind, &mut map);
    Ok(ConfigEntry {
        kind,
        name,
        body: Value::Object(map).to_string(),
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
        "mesh" if name != "mesh" => {
            return Err(format!(
                "invalid name ({name:?}), only \"mesh\" is supported"
            ))
        }
        _ if name.is_empty() => return Err("Name is required".into()),
        _ => {}
    }
    if let Some(p) = map.get("Protocol") {
        let p = p.as_str().ok_or("Protocol must be a string")?;
        if !["", "tcp", "http", "http2", "grpc"].contains(&p.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "Protocol {p:?} is invalid: must be one of tcp, http, http2, grpc"
            ));
        }
    }
    match kind {
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
                    "the sum of all split weights must be 100, not {}",
                    trim_float(total)
                ));
            }
        }
        "service-intentions" => {
            let sources = map.get("Sources").and_then(Value::as_array);
            for (i, source) in sources.into_iter().flatten().enumerate() {
                let named = source.get("Name").and_then(Value::as_str).unwrap_or("");
                if named.is_empty() {
                    return Err(format!("Sources[{i}].Name is required"));
                }
                let action = source.get("Action").and_then(Value::as_str);
                let permissions = source.get("Permissions").and_then(Value::as_array);
                match (action, permissions) {
                    (Some("allow" | "deny"), _) => {}
                    (Some(other), _) => {
                        return Err(format!(
                            "Sources[{i}].Action must be set to 'allow' or 'deny', not {other:?}"
                        ))
                    }
                    (None, Some(p)) if !p.is_empty() => {}
                    (None, _) => {
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

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Consul's normalized form: protocols lower case; the empty nested objects its API structs
/// always carry for `service-defaults` and `proxy-defaults`.
fn normalize(kind: &str, map: &mut Map<String, Value>) {
    if let Some(Value::String(p)) = map.get_mut("Protocol") {
        *p = p.to_ascii_lowercase();
    }
    if matches!(kind, "service-defaults" | "proxy-defaults") {
        for key in ["TransparentProxy", "MeshGateway", "Expose"] {
            map.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
    }
}

/// An entry as the API shows it: Kind, Name, the body's fields, then the indexes.
pub fn to_json(entry: &ConfigEntry) -> Value {
    let mut out = Map::new();
    out.insert("Kind".into(), Value::String(entry.kind.clone()));
    out.insert("Name".into(), Value::String(entry.name.clone()));
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
        assert!(err(r#"{"Kind":"nope","Name":"x"}"#).contains("invalid config entry kind: nope"));
        assert_eq!(
            err(r#"{"Kind":"proxy-defaults","Name":"web"}"#),
            "invalid name (\"web\"), only \"global\" is supported"
        );
        assert_eq!(
            err(
                r#"{"Kind":"service-splitter","Name":"web","Splits":[{"Weight":60},{"Weight":30}]}"#
            ),
            "the sum of all split weights must be 100, not 90"
        );
        assert_eq!(
            err(
                r#"{"Kind":"service-intentions","Name":"web","Sources":[{"Name":"api","Action":"maybe"}]}"#
            ),
            "Sources[0].Action must be set to 'allow' or 'deny', not \"maybe\""
        );
        // Opaque maps keep their keys as written.
        let e = prepare(br#"{"Kind":"proxy-defaults","Name":"global","Config":{"local_connect_timeout_ms":1000}}"#).unwrap();
        assert!(e.body.contains("local_connect_timeout_ms"));
    }
}
