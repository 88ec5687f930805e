//! Prepared queries (`/v1/query`): the replicated table, the definitions as Consul decodes
//! and checks them, and how an executed name finds its query (by ID, by name, or by the
//! longest `name_prefix_match` template) and renders a template. Pure.

use std::collections::BTreeMap;

use rkyv::{Archive, Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One prepared query: its ID, its name and template type (how it is found), and the whole
/// definition as Consul's JSON (without ID and indexes).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PreparedQuery {
    pub id: String,
    pub name: String,
    /// `Template.Type` (`name_prefix_match`, or empty for a plain query).
    pub template: String,
    pub definition: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl PreparedQuery {
    /// The session the query is bound to (`Session`), or empty. Read from the definition:
    /// kept out of the record so the snapshot format stays as it is.
    pub fn session(&self) -> String {
        serde_json::from_str::<Value>(&self.definition)
            .ok()
            .and_then(|d| d["Session"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A write to the table (`Command::PreparedQuery`).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum QueryOp {
    Create(PreparedQuery),
    Update(PreparedQuery),
    Delete { id: String },
}

/// Every prepared query, by ID; replicated on every shard.
#[derive(Clone, Debug, Default)]
pub struct QueryTable {
    queries: BTreeMap<String, PreparedQuery>,
    index: u64,
}

impl QueryTable {
    /// Applies `op` at `index`, or says why not (Consul's texts).
    pub fn apply(&mut self, index: u64, op: &QueryOp) -> Result<(), String> {
        match op {
            QueryOp::Create(q) | QueryOp::Update(q) => {
                let existing = self.queries.get(&q.id);
                if matches!(op, QueryOp::Update(_)) && existing.is_none() {
                    return Err(format!(
                        "Cannot modify non-existent prepared query: '{}'",
                        q.id
                    ));
                }
                // Exact names here: the log's meaning must not change under replay. The
                // handler refuses a name differing only in case before proposing it
                // (`conflicting_name`).
                let exact = (!q.name.is_empty())
                    .then(|| self.queries.values().find(|o| o.name == q.name))
                    .flatten();
                if let Some(other) = exact.filter(|o| o.id != q.id) {
                    return Err(format!(
                        "Name {:?} aliases an existing query name ({})",
                        q.name, other.id
                    ));
                }
                let create_index = existing.map_or(index, |e| e.create_index);
                self.queries.insert(
                    q.id.clone(),
                    PreparedQuery {
                        create_index,
                        modify_index: index,
                        ..q.clone()
                    },
                );
            }
            QueryOp::Delete { id } => {
                self.queries.remove(id);
            }
        }
        self.index = index;
        Ok(())
    }

    /// Deletes the queries bound to session `id`, which died at `index`.
    pub fn delete_bound_to(&mut self, index: u64, id: &str) {
        let before = self.queries.len();
        // The substring test first: most session deaths bind no query, and parsing every
        // definition on each would cost the lock-heavy workloads.
        self.queries
            .retain(|_, q| !(q.definition.contains(id) && q.session() == id));
        if self.queries.len() != before {
            self.index = index;
        }
    }

    /// Consul's text for a query named `name` (in any case) other than `id`, if one exists.
    pub fn conflicting_name(&self, name: &str, id: &str) -> Option<String> {
        let other = self.by_name(name).filter(|o| o.id != id)?;
        Some(format!(
            "Name {name:?} aliases an existing query name ({})",
            other.id
        ))
    }

    pub fn get(&self, id: &str) -> Option<&PreparedQuery> {
        self.queries.get(id)
    }

    /// Names compare case-insensitively (Consul's name index is lowercased), so DNS, which
    /// may change a name's case, finds the same query.
    fn by_name(&self, name: &str) -> Option<&PreparedQuery> {
        let name = name.to_lowercase();
        (!name.is_empty())
            .then(|| {
                self.queries
                    .values()
                    .find(|q| q.name.to_lowercase() == name)
            })
            .flatten()
    }

    /// What `execute`/`explain` of `id_or_name` runs, as Consul resolves it: an ID, an exact
    /// name, else the template whose name is the longest prefix of it (an empty-named
    /// template matches everything).
    pub fn resolve(&self, id_or_name: &str) -> Option<&PreparedQuery> {
        if let Some(q) = self.queries.get(id_or_name) {
            return Some(q);
        }
        if let Some(q) = self.by_name(id_or_name).filter(|q| q.template.is_empty()) {
            return Some(q);
        }
        let lowered = id_or_name.to_lowercase();
        self.queries
            .values()
            .filter(|q| !q.template.is_empty() && lowered.starts_with(&q.name.to_lowercase()))
            .max_by_key(|q| q.name.len())
    }

    pub fn list(&self) -> Vec<&PreparedQuery> {
        self.queries.values().collect()
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn export(&self) -> Vec<PreparedQuery> {
        self.queries.values().cloned().collect()
    }

    pub fn restore(&mut self, index: u64, queries: &[PreparedQuery]) {
        self.queries = queries.iter().map(|q| (q.id.clone(), q.clone())).collect();
        self.index = index;
    }
}

/// A definition's list of strings (`Tags`, `IgnoreCheckIDs`, `Datacenters`): its string
/// items, none when it is not a list.
pub fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `Failover` as shown: `Targets` only when given (`omitempty` in Consul's struct).
fn failover_json(nearest: i64, datacenters: Vec<String>, targets: Vec<Value>) -> Value {
    let mut failover = json!({"NearestN": nearest, "Datacenters": datacenters});
    if !targets.is_empty() {
        failover["Targets"] = Value::Array(targets);
    }
    failover
}

/// Decodes and checks a definition (`POST`/`PUT /v1/query`), as Consul's `parseQuery` does;
/// returns Consul's JSON of it (every field, in its order) or its text.
pub fn prepare(body: &[u8], id: &str) -> Result<Value, String> {
    let input: Value =
        serde_json::from_slice(body).map_err(|e| format!("Request decode failed: {e}"))?;
    let get = |obj: &Value, key: &str| -> Value {
        obj.as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    };
    let text = |v: Value| v.as_str().unwrap_or("").to_string();
    let given_id = text(get(&input, "ID"));
    if id.is_empty() && !given_id.is_empty() {
        return Err("ID must be empty when creating a new prepared query".into());
    }
    let name = text(get(&input, "Name"));
    let session = text(get(&input, "Session"));
    let template = get(&input, "Template");
    let template_type = text(get(&template, "Type"));
    if !template_type.is_empty() && template_type != "name_prefix_match" {
        return Err(format!("Bad Template.Type '{template_type}'"));
    }
    let regexp = text(get(&template, "Regexp"));
    if !regexp.is_empty() {
        regex::Regex::new(&regexp).map_err(|e| format!("Invalid template Regexp: {e}"))?;
    }
    if name.is_empty() && session.is_empty() && template_type.is_empty() {
        return Err("Must be bound to a session".into());
    }
    let service = get(&input, "Service");
    let service_name = text(get(&service, "Service"));
    if service_name.is_empty() {
        return Err("Must provide a Service name to query".into());
    }
    let failover = get(&service, "Failover");
    let nearest = get(&failover, "NearestN").as_i64().unwrap_or(0);
    if nearest < 0 {
        return Err(format!("Bad NearestN '{nearest}', must be >= 0"));
    }
    let strings = |v: Value| string_list(&v);
    let datacenters = strings(get(&failover, "Datacenters"));
    let targets: Vec<Value> = get(&failover, "Targets")
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| json!({"Peer": text(get(t, "Peer")), "Datacenter": text(get(t, "Datacenter"))}))
        .collect();
    if !targets.is_empty() && (nearest != 0 || !datacenters.is_empty()) {
        return Err("Targets cannot be populated with NearestN or Datacenters".into());
    }
    let dns = get(&input, "DNS");
    let ttl = text(get(&dns, "TTL"));
    if !ttl.is_empty() && crate::http::query::parse_go_duration(&ttl).is_none() {
        return Err(format!(
            "Bad DNS TTL '{ttl}': time: invalid duration {ttl:?}"
        ));
    }
    let map = |v: Value| -> Value {
        match v {
            Value::Object(m) => Value::Object(m),
            _ => Value::Object(Map::new()),
        }
    };
    Ok(json!({
        "ID": id,
        "Name": name,
        "Session": session,
        "Token": text(get(&input, "Token")),
        "Template": {
            "Type": template_type,
            "Regexp": regexp,
            "RemoveEmptyTags": get(&template, "RemoveEmptyTags").as_bool().unwrap_or(false),
        },
        "Service": {
            "Service": service_name,
            "Failover": failover_json(nearest, datacenters, targets),
            "OnlyPassing": get(&service, "OnlyPassing").as_bool().unwrap_or(false),
            "IgnoreCheckIDs": strings(get(&service, "IgnoreCheckIDs")),
            "Near": text(get(&service, "Near")),
            "Tags": strings(get(&service, "Tags")),
            "NodeMeta": map(get(&service, "NodeMeta")),
            "ServiceMeta": map(get(&service, "ServiceMeta")),
            "Connect": {"Enabled": false},
        },
        "DNS": {"TTL": ttl},
    }))
}

/// A template's definition with `${name.full}`, `${name.prefix}`, `${name.suffix}` and
/// `${match(N)}` (the `Regexp`'s groups on the executed name) filled in everywhere; tags
/// that render empty are dropped with `RemoveEmptyTags`.
pub fn render(definition: &Value, query_name: &str, executed: &str) -> Value {
    let regexp = definition["Template"]["Regexp"].as_str().unwrap_or("");
    let groups: Vec<String> = regex::Regex::new(regexp)
        .ok()
        .filter(|_| !regexp.is_empty())
        .and_then(|re| re.captures(executed))
        .map(|caps| {
            caps.iter()
                .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    // Go's `strings.TrimPrefix`: case-sensitive, the whole name when it is no prefix.
    let suffix = executed.strip_prefix(query_name).unwrap_or(executed);
    let fill = |s: &str| -> String {
        let mut out = s
            .replace("${name.full}", executed)
            .replace("${name.prefix}", query_name)
            .replace("${name.suffix}", suffix)
            .replace("${agent.segment}", "");
        for (i, g) in groups.iter().enumerate() {
            out = out.replace(&format!("${{match({i})}}"), g);
        }
        // Groups the regexp did not have render empty, as Consul's interpolation does.
        while let (Some(start), true) = (out.find("${match("), out.contains(")}")) {
            let end = out[start..].find(")}").map_or(out.len(), |e| start + e + 2);
            out.replace_range(start..end, "");
        }
        out
    };
    fn walk(v: &Value, fill: &dyn Fn(&str) -> String) -> Value {
        match v {
            Value::String(s) => Value::String(fill(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, fill)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        // The template's own settings stay as written.
                        let v = if k == "Template" {
                            v.clone()
                        } else {
                            walk(v, fill)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut out = walk(definition, &fill);
    if definition["Template"]["RemoveEmptyTags"].as_bool() == Some(true) {
        if let Some(tags) = out["Service"]["Tags"].as_array_mut() {
            tags.retain(|t| t.as_str().is_some_and(|t| !t.is_empty()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: &str, body: &str) -> PreparedQuery {
        let def = prepare(body.as_bytes(), id).unwrap();
        PreparedQuery {
            id: id.into(),
            name: def["Name"].as_str().unwrap().into(),
            template: def["Template"]["Type"].as_str().unwrap().into(),
            definition: def.to_string(),
            create_index: 0,
            modify_index: 0,
        }
    }

    #[test]
    fn definitions_are_checked_with_consuls_texts() {
        let err = |b: &str| prepare(b.as_bytes(), "").unwrap_err();
        assert_eq!(
            err(r#"{"Service":{"Service":"web"}}"#),
            "Must be bound to a session"
        );
        assert_eq!(
            err(r#"{"Name":"q"}"#),
            "Must provide a Service name to query"
        );
        assert_eq!(
            err(r#"{"Name":"q","Service":{"Service":"web","Failover":{"NearestN":-1}}}"#),
            "Bad NearestN '-1', must be >= 0"
        );
        assert_eq!(
            err(r#"{"ID":"x","Name":"q","Service":{"Service":"web"}}"#),
            "ID must be empty when creating a new prepared query"
        );
        assert!(
            err(r#"{"Name":"q","Service":{"Service":"web"},"DNS":{"TTL":"ten"}}"#)
                .starts_with("Bad DNS TTL 'ten'")
        );
    }

    #[test]
    fn names_ids_and_the_longest_template_prefix_resolve() {
        let mut t = QueryTable::default();
        let plain = query("id-1", r#"{"Name":"web","Service":{"Service":"web"}}"#);
        let tmpl = query(
            "id-2",
            r#"{"Name":"geo-","Template":{"Type":"name_prefix_match"},"Service":{"Service":"${name.suffix}"}}"#,
        );
        let longer = query(
            "id-3",
            r#"{"Name":"geo-db-","Template":{"Type":"name_prefix_match"},"Service":{"Service":"db"}}"#,
        );
        for (i, q) in [plain, tmpl, longer].into_iter().enumerate() {
            t.apply(i as u64 + 1, &QueryOp::Create(q)).unwrap();
        }
        assert_eq!(t.resolve("id-1").unwrap().name, "web");
        assert_eq!(t.resolve("web").unwrap().id, "id-1");
        assert_eq!(t.resolve("geo-api").unwrap().id, "id-2");
        assert_eq!(t.resolve("geo-db-1").unwrap().id, "id-3");
        assert!(t.resolve("nothing").is_none());
        let dup = query("id-4", r#"{"Name":"web","Service":{"Service":"x"}}"#);
        assert!(t
            .apply(9, &QueryOp::Create(dup))
            .unwrap_err()
            .contains("aliases an existing query name"));
        let missing = query("id-9", r#"{"Name":"n","Service":{"Service":"x"}}"#);
        assert_eq!(
            t.apply(9, &QueryOp::Update(missing)).unwrap_err(),
            "Cannot modify non-existent prepared query: 'id-9'"
        );
    }

    #[test]
    fn templates_render_names_and_regexp_groups() {
        let def = prepare(
            br#"{"Name":"geo-","Template":{"Type":"name_prefix_match","Regexp":"^geo-(.+?)-(.+)$","RemoveEmptyTags":true},"Service":{"Service":"${match(1)}","Tags":["${match(2)}","${match(5)}","v1"]}}"#,
            "id",
        )
        .unwrap();
        let out = render(&def, "geo-", "geo-web-east");
        assert_eq!(out["Service"]["Service"], "web");
        assert_eq!(out["Service"]["Tags"], json!(["east", "v1"]));
        let plain = prepare(br#"{"Name":"p-","Template":{"Type":"name_prefix_match"},"Service":{"Service":"${name.suffix}"}}"#, "id").unwrap();
        assert_eq!(render(&plain, "p-", "p-api")["Service"]["Service"], "api");
    }
}
