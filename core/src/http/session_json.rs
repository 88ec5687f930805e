//! `/v1/session/*` bodies: the create request as Consul's HTTP handler decodes it (defaults,
//! `LockDelay` in seconds or nanoseconds or a duration, `Behavior`, `TTL` bounds) and the
//! session JSON in Consul's field order. Pure.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::decode::{self, Field};
use super::query::parse_go_duration;
use crate::session::{Behavior, Session};

/// Consul's `session_ttl_min` default and `SessionTTLMax`.
pub const SESSION_TTL_MIN: Duration = Duration::from_secs(10);
pub const SESSION_TTL_MAX: Duration = Duration::from_secs(24 * 3600);
/// `LockDelay` numbers below this are seconds, as Consul's `lockDelayMinThreshold`.
const LOCK_DELAY_SECONDS_BELOW: u64 = 1000;

const CREATE_FIELDS: &[Field] = &[
    ("ID", &[]),
    ("Name", &[]),
    ("Node", &[]),
    ("LockDelay", &["lock_delay"]),
    ("Behavior", &[]),
    ("TTL", &[]),
    ("NodeChecks", &["node_checks"]),
    ("ServiceChecks", &["service_checks"]),
    ("Checks", &[]),
    ("Namespace", &[]),
    ("Partition", &[]),
];

/// Why a create body is refused: a body that does not decode (400 `Request decode failed:
/// …`), or a session Consul's server refuses (500 with its text).
#[derive(Debug, PartialEq, Eq)]
pub enum CreateError {
    Decode(String),
    Invalid(String),
}

/// Decodes `PUT /v1/session/create`'s body (empty = all defaults) into a session without
/// ID or indexes. `default_node` is the agent's own node name.
pub fn parse_create(body: &[u8], default_node: &str) -> Result<Session, CreateError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| CreateError::Decode(e.to_string()))?
    };
    let f = decode::fields(value, CREATE_FIELDS).map_err(CreateError::Decode)?;
    let decode = CreateError::Decode;
    let node = match f.string("Node").map_err(decode)? {
        n if n.is_empty() => default_node.to_string(),
        n => n,
    };
    let lock_delay_ns = match f.get("LockDelay") {
        None => 15_000_000_000,
        Some(Value::Number(n)) => {
            let n = n
                .as_u64()
                .ok_or_else(|| CreateError::Decode(format!("invalid LockDelay {n}")))?;
            match n < LOCK_DELAY_SECONDS_BELOW {
                true => n * 1_000_000_000,
                false => n,
            }
        }
        Some(Value::String(s)) => parse_go_duration(s)
            .map(|d| d.as_nanos() as u64)
            .ok_or_else(|| CreateError::Decode(format!("time: invalid duration \"{s}\"")))?,
        Some(other) => return Err(CreateError::Decode(format!("invalid LockDelay {other}"))),
    };
    let behavior = match f.string("Behavior").map_err(CreateError::Decode)?.as_str() {
        "" | "release" => Behavior::Release,
        "delete" => Behavior::Delete,
        other => {
            return Err(CreateError::Invalid(format!(
                "Invalid Behavior setting '{other}'"
            )))
        }
    };
    let ttl = f.string("TTL").map_err(CreateError::Decode)?;
    if !ttl.is_empty() {
        let parsed = parse_go_duration(&ttl).ok_or_else(|| {
            CreateError::Invalid(format!(
                "Session TTL '{ttl}' invalid: time: invalid duration \"{ttl}\""
            ))
        })?;
        // Go keeps a negative duration negative (ours clamps it to zero): refuse it too.
        let negative = ttl
            .strip_prefix('-')
            .and_then(parse_go_duration)
            .filter(|d| !d.is_zero());
        if let Some(magnitude) = negative {
            return Err(CreateError::Invalid(format!(
                "Invalid Session TTL '-{}', must be between [10s=24h0m0s]",
                magnitude.as_nanos()
            )));
        }
        if !parsed.is_zero() && !(SESSION_TTL_MIN..=SESSION_TTL_MAX).contains(&parsed) {
            return Err(CreateError::Invalid(format!(
                "Invalid Session TTL '{}', must be between [10s=24h0m0s]",
                parsed.as_nanos()
            )));
        }
    }
    // `NodeChecks` (or the deprecated `Checks`) replaces the serfHealth default, even empty.
    let node_checks = match (f.get("NodeChecks"), f.get("Checks")) {
        (Some(_), _) => f.strings("NodeChecks").map_err(CreateError::Decode)?,
        (None, Some(_)) => f.strings("Checks").map_err(CreateError::Decode)?,
        (None, None) => vec!["serfHealth".to_string()],
    };
    let service_checks = match f.get("ServiceChecks") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for item in items {
                let c = decode::fields(item.clone(), &[("ID", &[]), ("Namespace", &[])])
                    .map_err(CreateError::Decode)?;
                ids.push(c.string("ID").map_err(CreateError::Decode)?);
            }
            ids
        }
        Some(other) => {
            return Err(CreateError::Decode(format!(
                "json: cannot unmarshal {other} into Go struct field of type []ServiceCheck"
            )))
        }
    };
    Ok(Session {
        id: String::new(),
        name: f.string("Name").map_err(CreateError::Decode)?,
        node,
        lock_delay_ns,
        behavior,
        ttl: if parse_go_duration(&ttl).is_some_and(|d| d.is_zero()) {
            String::new()
        } else {
            ttl
        },
        node_checks,
        service_checks,
        create_index: 0,
        modify_index: 0,
    })
}

/// The create body with `Node` set to `node` when the client left it out, so the session
/// belongs to the agent that received the request even once forwarded to a server. A body
/// that is not a JSON object is passed on untouched (the server reports the error).
pub fn with_default_node(body: &[u8], node: &str) -> bytes::Bytes {
    let parsed = match body.iter().all(u8::is_ascii_whitespace) {
        true => Ok(Value::Object(Default::default())),
        false => serde_json::from_slice::<Value>(body),
    };
    let Ok(Value::Object(mut map)) = parsed else {
        return bytes::Bytes::copy_from_slice(body);
    };
    let given = map
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("node") && v.as_str().is_some_and(|n| !n.is_empty()));
    if !given {
        map.retain(|k, _| !k.eq_ignore_ascii_case("node"));
        map.insert("Node".into(), Value::String(node.into()));
    }
    bytes::Bytes::from(Value::Object(map).to_string())
}

/// A session as Consul's JSON has it, fields in its order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    name: &'a str,
    node: &'a str,
    lock_delay: u64,
    behavior: &'static str,
    #[serde(rename = "TTL")]
    ttl: &'a str,
    node_checks: Option<&'a [String]>,
    service_checks: Option<Vec<ServiceCheckJson<'a>>>,
    create_index: u64,
    modify_index: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceCheckJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    namespace: &'a str,
}

impl<'a> SessionJson<'a> {
    pub fn new(s: &'a Session) -> SessionJson<'a> {
        SessionJson {
            id: &s.id,
            name: &s.name,
            node: &s.node,
            lock_delay: s.lock_delay_ns,
            behavior: s.behavior.as_str(),
            ttl: &s.ttl,
            node_checks: (!s.node_checks.is_empty()).then_some(&s.node_checks[..]),
            service_checks: (!s.service_checks.is_empty()).then(|| {
                let check = |id: &'a String| ServiceCheckJson { id, namespace: "" };
                s.service_checks.iter().map(check).collect()
            }),
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The create body faces the network: any bytes, and any object with Consul's keys
        /// and values of any JSON type, give a session or an error, never a panic; a body
        /// the receiving agent rewrote still parses the same way.
        #[test]
        fn create_bodies_never_panic(
            raw in prop::collection::vec(any::<u8>(), 0..200),
            keys in prop::collection::vec(prop::sample::select(vec![
                "Name", "Node", "LockDelay", "Behavior", "TTL", "NodeChecks", "ServiceChecks",
                "Checks", "lock_delay", "ID",
            ]), 0..6),
            values in prop::collection::vec(prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| serde_json::json!(f)),
                "[a-z0-9.]{0,6}".prop_map(Value::from),
                Just(serde_json::json!(["serfHealth", 3])),
                Just(serde_json::json!([{"ID": "c"}, {"ID": 4}, "x"])),
            ], 0..6),
        ) {
            let _ = parse_create(&raw, "a");
            let _ = with_default_node(&raw, "a");
            let body: serde_json::Map<String, Value> = keys
                .iter()
                .zip(values)
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            let bytes = Value::Object(body).to_string();
            let direct = parse_create(bytes.as_bytes(), "a");
            let _ = parse_create(&with_default_node(bytes.as_bytes(), "a"), "a");
            if let Ok(s) = direct {
                prop_assert!(!s.node.is_empty());
            }
        }
    }

    #[test]
    fn defaults_are_consuls() {
        let s = parse_create(b"", "agent-1").unwrap();
        assert_eq!(s.node, "agent-1");
        assert_eq!(s.lock_delay_ns, 15_000_000_000);
        assert_eq!(s.behavior, Behavior::Release);
        assert_eq!(s.node_checks, ["serfHealth"]);
        assert!(s.ttl.is_empty() && s.service_checks.is_empty());
        let json = serde_json::to_string(&SessionJson::new(&s)).unwrap();
        assert_eq!(
            json,
            r#"{"ID":"","Name":"","Node":"agent-1","LockDelay":15000000000,"Behavior":"release","TTL":"","NodeChecks":["serfHealth"],"ServiceChecks":null,"CreateIndex":0,"ModifyIndex":0}"#
        );
    }

    #[test]
    fn fields_decode_as_consul_decodes_them() {
        let body = br#"{"Name":"x","LockDelay":5,"Behavior":"delete","TTL":"30s","NodeChecks":[],"ServiceChecks":[{"ID":"web-check"}]}"#;
        let s = parse_create(body, "a").unwrap();
        assert_eq!(
            s.lock_delay_ns, 5_000_000_000,
            "a number below 1000 is seconds"
        );
        assert_eq!((s.behavior, s.ttl.as_str()), (Behavior::Delete, "30s"));
        assert!(
            s.node_checks.is_empty(),
            "an empty list drops the serfHealth default"
        );
        assert_eq!(s.service_checks, ["web-check"]);
        let ns = parse_create(br#"{"LockDelay":2000000000}"#, "a").unwrap();
        assert_eq!(
            ns.lock_delay_ns, 2_000_000_000,
            "larger numbers are nanoseconds"
        );
        let text = parse_create(br#"{"LockDelay":"1m"}"#, "a").unwrap();
        assert_eq!(text.lock_delay_ns, 60_000_000_000);
        let old = parse_create(br#"{"Checks":["a","b"]}"#, "a").unwrap();
        assert_eq!(old.node_checks, ["a", "b"]);
        assert_eq!(parse_create(br#"{"TTL":"0s"}"#, "a").unwrap().ttl, "");
    }

    #[test]
    fn the_receiving_agent_fills_in_the_node() {
        let filled = with_default_node(b"", "client-1");
        assert_eq!(parse_create(&filled, "server-1").unwrap().node, "client-1");
        let given = with_default_node(br#"{"node":"n9","TTL":"10s"}"#, "client-1");
        assert_eq!(parse_create(&given, "server-1").unwrap().node, "n9");
        assert_eq!(
            &with_default_node(b"[1]", "c")[..],
            b"[1]",
            "left for the server to refuse"
        );
    }

    #[test]
    fn bad_bodies_get_consuls_errors() {
        let invalid = |body: &[u8]| match parse_create(body, "a") {
            Err(CreateError::Invalid(text)) => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            invalid(br#"{"Behavior":"keep"}"#),
            "Invalid Behavior setting 'keep'"
        );
        assert_eq!(
            invalid(br#"{"TTL":"5s"}"#),
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"
        );
        assert_eq!(
            invalid(br#"{"TTL":"-5s"}"#),
            "Invalid Session TTL '-5000000000', must be between [10s=24h0m0s]"
        );
        assert_eq!(
            invalid(br#"{"TTL":"soon"}"#),
            "Session TTL 'soon' invalid: time: invalid duration \"soon\""
        );
        assert!(matches!(
            parse_create(br#"{"Bogus":1}"#, "a"),
            Err(CreateError::Decode(e)) if e.contains("unknown field")
        ));
        assert!(matches!(
            parse_create(b"{", "a"),
            Err(CreateError::Decode(_))
        ));
        assert!(matches!(
            parse_create(br#"{"LockDelay":"later"}"#, "a"),
            Err(CreateError::Decode(_))
        ));
    }
}
