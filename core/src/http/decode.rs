//! JSON bodies decoded as Go's `encoding/json` with `DisallowUnknownFields` does: a key
//! matches a field exactly or case-insensitively (plus declared snake_case aliases), unknown
//! keys are an error, `null` means absent, the last duplicate wins. Pure.

use serde_json::{Map, Value};

use super::query::parse_go_duration;

/// A field: its Go name and the aliases Consul declares for it.
pub type Field = (&'static str, &'static [&'static str]);

/// A decoded object: values by Go field name.
#[derive(Debug, Default)]
pub struct Fields {
    values: Vec<(&'static str, Value)>,
}

/// Decodes `value` as an object with the given fields. The error is Go's text, which Consul
/// wraps as `Request decode failed: <text>`.
pub fn fields(value: Value, known: &[Field]) -> Result<Fields, String> {
    let map: Map<String, Value> = match value {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type object",
                kind(&other)
            ))
        }
    };
    let mut out = Fields::default();
    for (key, v) in map {
        let name = known
            .iter()
            .find(|(n, aliases)| *n == key || aliases.contains(&key.as_str()))
            .or_else(|| known.iter().find(|(n, _)| n.eq_ignore_ascii_case(&key)))
            .map(|(n, _)| *n)
            .ok_or_else(|| format!("json: unknown field {key:?}"))?;
        if v.is_null() {
            continue;
        }
        out.values.retain(|(n, _)| *n != name);
        out.values.push((name, v));
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, field: &str, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field .{field} of type {go_type}",
        kind(v)
    )
}

impl Fields {
    /// The raw value of a field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Takes a field's raw value out.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.values.iter().position(|(n, _)| *n == name)?;
        Some(self.values.remove(at).1)
    }

    /// A string field ("" when absent).
    pub fn string(&self, name: &str) -> Result<String, String> {
        match self.get(name) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(type_error(v, name, "string")),
        }
    }

    /// An unsigned integer field (0 when absent).
    pub fn uint(&self, name: &str) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| type_error(v, name, "int")),
        }
    }

    /// A float field (0 when absent or null).
    pub fn float(&self, name: &str) -> Result<f64, String> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(0.0),
            Some(v) => v.as_f64().ok_or_else(|| type_error(v, name, "float64")),
        }
    }

    /// A list of floats (empty when absent or null).
    pub fn floats(&self, name: &str) -> Result<Vec<f64>, String> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_f64().ok_or_else(|| type_error(i, name, "float64")))
                .collect(),
            Some(v) => Err(type_error(v, name, "[]float64")),
        }
    }

    /// A boolean field (false when absent).
    pub fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.get(name) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(type_error(v, name, "bool")),
        }
    }

    /// A list of strings (empty when absent).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| type_error(i, name, "string"))
                })
                .collect(),
            Some(v) => Err(type_error(v, name, "[]string")),
        }
    }

    /// A string → string map, sorted by key (empty when absent).
    pub fn string_map(&self, name: &str) -> Result<Vec<(String, String)>, String> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) => {
                let mut out: Vec<(String, String)> = m
                    .iter()
                    .map(|(k, v)| {
                        v.as_str()
                            .map(|s| (k.clone(), s.to_string()))
                            .ok_or_else(|| type_error(v, name, "string"))
                    })
                    .collect::<Result<_, _>>()?;
                out.sort();
                Ok(out)
            }
            Some(v) => Err(type_error(v, name, "map[string]string")),
        }
    }

    /// A duration: a Go duration string, or a number of nanoseconds (Consul's rule).
    pub fn duration_ns(&self, name: &str) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(0),
            Some(Value::String(s)) if s.is_empty() => Ok(0),
            Some(Value::String(s)) => parse_go_duration(s)
                .map(|d| d.as_nanos() as u64)
                .ok_or_else(|| format!("time: invalid duration {s:?}")),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| type_error(v, name, "time.Duration")),
        }
    }
}

/// Formats nanoseconds as Go's `time.Duration.String()`: `10s`, `1m30s`, `500ms`, `0s`.
pub fn format_go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_fraction(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_fraction(ns as f64 / 1e6));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = ns / 60_000_000_000 % 60;
    let seconds = (ns % 60_000_000_000) as f64 / 1e9;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim_fraction(seconds)));
    out
}

fn trim_fraction(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `TaggedAddresses` of a service: name → {Address, Port}, sorted by name.
pub fn tagged_addresses(f: &Fields) -> Result<Vec<(String, String, u32)>, String> {
    let Some(Value::Object(m)) = f.get("TaggedAddresses") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, v) in m {
        let a = fields(v.clone(), &[("Address", &[]), ("Port", &[])])?;
        out.push((name.clone(), a.string("Address")?, a.uint("Port")? as u32));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_matching_rules() {
        const KNOWN: &[Field] = &[
            ("Name", &[]),
            ("EnableTagOverride", &["enable_tag_override"]),
            ("Port", &[]),
        ];
        let f = fields(
            serde_json::json!({"name": "web", "enable_tag_override": true, "PORT": 80}),
            KNOWN,
        )
        .unwrap();
        assert_eq!(f.string("Name").unwrap(), "web");
        assert!(f.boolean("EnableTagOverride").unwrap());
        assert_eq!(f.uint("Port").unwrap(), 80);
        assert_eq!(
            fields(serde_json::json!({"Service": "x"}), KNOWN).unwrap_err(),
            "json: unknown field \"Service\""
        );
        assert!(fields(serde_json::json!({"Name": null}), KNOWN)
            .unwrap()
            .get("Name")
            .is_none());
        assert!(fields(serde_json::json!({"Port": "80"}), KNOWN)
            .unwrap()
            .uint("Port")
            .is_err());
    }

    #[test]
    fn go_duration_strings() {
        assert_eq!(format_go_duration(10_000_000_000), "10s");
        assert_eq!(format_go_duration(90_000_000_000), "1m30s");
        assert_eq!(format_go_duration(500_000_000), "500ms");
        assert_eq!(format_go_duration(1_500_000_000), "1.5s");
        assert_eq!(format_go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_go_duration(0), "0s");
    }
}
