//! `/v1/acl/*` bodies as Consul decodes and checks them, and its JSON shapes. Pure: the
//! handler (`http::acl_api`) reads the local replica of the ACL table, calls `prepare_*` to
//! turn a body into the object to propose (names resolved to IDs, Consul's checks and
//! texts), and renders what it reads with the `*_json` functions.

use serde_json::{json, Map, Value};

use crate::acl::model::*;
use crate::acl::rules::parse_rules;
use crate::acl::table::AclTable;
use crate::acl::templates;
use crate::civil::{civil_from_days, days_from_civil};
use crate::error::ApiError;

use super::decode::format_go_duration;
use super::query::parse_go_duration;

/// Shortest and longest expiration Consul accepts on a token.
const EXPIRATION_MIN_NS: u64 = 60 * 1_000_000_000;
const EXPIRATION_MAX_NS: u64 = 24 * 3600 * 1_000_000_000;

fn internal(text: impl Into<String>) -> ApiError {
    ApiError::Internal(text.into())
}

fn bad(text: impl Into<String>) -> ApiError {
    ApiError::BadRequest(text.into())
}

/// Parses a JSON body as an object (Go's decoder: an empty body is an EOF error).
fn object(body: &[u8], what: &str) -> Result<Map<String, Value>, ApiError> {
    let fail = |e: String| bad(format!("{what} decoding failed: {e}"));
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(fail(
            "json: cannot unmarshal into Go value of type object".into(),
        )),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// A field by Go's rules: exact name first, then case-insensitively; `null` is absent.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name)
        .or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

fn string(m: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match field(m, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!(
            "json: cannot unmarshal into Go struct field .{name} of type string"
        ))),
    }
}

fn strings(m: &Map<String, Value>, name: &str) -> Result<Vec<String>, ApiError> {
    match field(m, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "json: cannot unmarshal into Go struct field .{name} of type string"
                ))
            }),
        Some(_) => Err(bad(format!(
            "json: cannot unmarshal into Go struct field .{name} of type []string"
        ))),
    }
}

fn objects<'a>(
    m: &'a Map<String, Value>,
    name: &str,
) -> Result<Vec<&'a Map<String, Value>>, ApiError> {
    match field(m, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(Value::as_object)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(format!(
                    "json: cannot unmarshal into Go struct field .{name} of type object"
                ))
            }),
        Some(_) => Err(bad(format!(
            "json: cannot unmarshal into Go struct field .{name} of type array"
        ))),
    }
}

/// Whether `s` is a UUID as Consul writes them (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The text Consul's state store gives for a lookup by something that is not a UUID.
pub fn not_a_uuid(what: &str) -> ApiError {
    internal(format!(
        "failed acl {what} lookup: index error: UUID must be 36 characters"
    ))
}

/// Consul's `acl.IsValidPolicyName` (also for roles): 1–128 of letters, digits, `-`, `_`.
fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

// ----------------------------------------------------------------------------------------
// Policies

/// `PUT /v1/acl/policy[/<id>]`: the policy to propose. `url_id`: the update's path ID.
pub fn prepare_policy(
    table: &AclTable,
    body: &[u8],
    url_id: Option<&str>,
    new_id: impl FnOnce() -> String,
) -> Result<AclPolicy, ApiError> {
    let m = object(body, "Policy")?;
    let body_id = string(&m, "ID")?;
    let id = match url_id {
        None if !body_id.is_empty() => {
            return Err(bad("Cannot specify the ID when creating a new policy"))
        }
        None => new_id(),
        Some(url) if !body_id.is_empty() && body_id != url => {
            return Err(bad("Policy ID in URL and payload do not match"))
        }
        Some(url) => url.to_string(),
    };
    let policy = AclPolicy {
        id: id.clone(),
        name: string(&m, "Name")?,
        description: string(&m, "Description")?,
        rules: string(&m, "Rules")?,
        datacenters: strings(&m, "Datacenters")?,
        create_index: 0,
        modify_index: 0,
    };
    if url_id.is_some() {
        let Some(existing) = table.policy(&id) else {
            return Err(internal(format!(
                "Invalid Policy: A Policy with ID {id:?} does not exist"
            )));
        };
        if id == GLOBAL_MANAGEMENT_ID {
            if policy.rules != existing.rules {
                return Err(internal(
                    "Changing the Rules for the builtin global-management policy is not permitted",
                ));
            }
            if policy.datacenters != existing.datacenters {
                return Err(internal(
                    "Changing the Datacenters of the builtin global-management policy is not permitted",
                ));
            }
        }
    }
    if !valid_name(&policy.name) && url_id != Some(GLOBAL_READ_ONLY_ID) {
        return Err(internal(
            "Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
        ));
    }
    if let Some(other) = table.policy_by_name(&policy.name) {
        if other.id != id {
            return Err(internal(format!(
                "Invalid Policy: A Policy with Name {:?} already exists",
                policy.name
            )));
        }
    }
    parse_rules(&policy.rules).map_err(internal)?;
    Ok(policy)
}

pub fn policy_json(p: &AclPolicy) -> Value {
    let mut out = json!({
        "ID": p.id,
        "Name": p.name,
        "Description": p.description,
        "Rules": p.rules,
    });
    if !p.datacenters.is_empty() {
        out["Datacenters"] = json!(p.datacenters);
    }
    out["Hash"] = json!(hash_of(&[
        &p.name,
        &p.description,
        &p.rules,
        &p.datacenters.join(",")
    ]));
    out["CreateIndex"] = json!(p.create_index);
    out["ModifyIndex"] = json!(p.modify_index);
    out
}

pub fn policy_stub_json(p: &AclPolicy) -> Value {
    let mut out = policy_json(p);
    out.as_object_mut().expect("an object").remove("Rules");
    out
}

// ----------------------------------------------------------------------------------------
// Tokens and roles: their grants

fn resolve_links(
    table: &AclTable,
    m: &Map<String, Value>,
    field_name: &str,
    kind: &str,
) -> Result<Vec<Link>, ApiError> {
    let mut out: Vec<Link> = Vec::new();
    for link in objects(m, field_name)? {
        let id = string(link, "ID")?;
        let name = string(link, "Name")?;
        let found = if !id.is_empty() {
            let found = match kind {
                "policy" => table.policy(&id).map(|p| (p.id.clone(), p.name.clone())),
                _ => table.role(&id).map(|r| (r.id.clone(), r.name.clone())),
            };
            found.ok_or_else(|| internal(format!("No such ACL {kind} with ID {id:?}")))?
        } else {
            let found = match kind {
                "policy" => table
                    .policy_by_name(&name)
                    .map(|p| (p.id.clone(), p.name.clone())),
                _ => table
                    .role_by_name(&name)
                    .map(|r| (r.id.clone(), r.name.clone())),
            };
            found.ok_or_else(|| internal(format!("No such ACL {kind} with name {name:?}")))?
        };
        if !out.iter().any(|l| l.id == found.0) {
            out.push(Link {
                id: found.0,
                name: found.1,
            });
        }
    }
    Ok(out)
}

fn decode_grants(
    table: &AclTable,
    m: &Map<String, Value>,
    local: bool,
    what: &str,
) -> Result<Grants, ApiError> {
    let mut grants = Grants {
        policies: resolve_links(table, m, "Policies", "policy")?,
        roles: if what == "Token" {
            resolve_links(table, m, "Roles", "role")?
        } else {
            Vec::new()
        },
        ..Grants::default()
    };
    for si in objects(m, "ServiceIdentities")? {
        let service_name = string(si, "ServiceName")?;
        let datacenters = strings(si, "Datacenters")?;
        if service_name.is_empty() {
            return Err(internal(format!(
                "{what} {} is missing a service name",
                "service identity"
            )));
        }
        if !crate::acl::valid_identity_name(&service_name) {
            return Err(internal(format!(
                "Service identity {service_name:?} has an invalid name. Only lowercase \
                 alphanumeric characters, '-' and '_' are allowed"
            )));
        }
        if local && !datacenters.is_empty() {
            return Err(internal(
                "cannot specify a list of datacenters on a local token",
            ));
        }
        grants.service_identities.push(ServiceIdentity {
            service_name,
            datacenters,
        });
    }
    for ni in objects(m, "NodeIdentities")? {
        let node_name = string(ni, "NodeName")?;
        let datacenter = string(ni, "Datacenter")?;
        if node_name.is_empty() {
            return Err(internal(format!(
                "{what} node identity is missing a node name"
            )));
        }
        if datacenter.is_empty() {
            return Err(internal(format!(
                "{what} node identity is missing a datacenter"
            )));
        }
        if !crate::acl::valid_identity_name(&node_name) {
            return Err(internal(
                "Node identity has an invalid name. Only lowercase alphanumeric characters, \
                 '-' and '_' are allowed",
            ));
        }
        grants.node_identities.push(NodeIdentity {
            node_name,
            datacenter,
        });
    }
    for tp in objects(m, "TemplatedPolicies")? {
        let template_name = string(tp, "TemplateName")?;
        let Some(template) = templates::template(&template_name) else {
            return Err(internal(format!(
                "no such ACL templated policy with Name {template_name:?}"
            )));
        };
        let name = match field(tp, "TemplateVariables").and_then(Value::as_object) {
            Some(vars) => string(vars, "Name")?,
            None => String::new(),
        };
        if template.needs_name && name.is_empty() {
            return Err(internal(format!(
                "validation error for templated policy {template_name:?}: name: name is required"
            )));
        }
        if template.needs_name && !crate::acl::valid_identity_name(&name) {
            return Err(internal(format!(
                "validation error for templated policy {template_name:?}: name: Does not \
                 match pattern '^[a-z0-9]([a-z0-9\\-_]*[a-z0-9])?$'"
            )));
        }
        grants.templated_policies.push(TemplatedPolicyLink {
            template_name,
            name,
            datacenters: strings(tp, "Datacenters")?,
        });
    }
    Ok(grants)
}

fn grants_json(table: &AclTable, g: &Grants, out: &mut Map<String, Value>) {
    // Names are looked up now: a renamed policy shows its new name.
    let links = |links: &[Link], name_of: &dyn Fn(&str) -> Option<String>| -> Value {
        links
            .iter()
            .map(|l| json!({"ID": l.id, "Name": name_of(&l.id).unwrap_or_else(|| l.name.clone())}))
            .collect()
    };
    if !g.policies.is_empty() {
        let name_of = |id: &str| table.policy(id).map(|p| p.name.clone());
        out.insert("Policies".into(), links(&g.policies, &name_of));
    }
    if !g.roles.is_empty() {
        let name_of = |id: &str| table.role(id).map(|r| r.name.clone());
        out.insert("Roles".into(), links(&g.roles, &name_of));
    }
    if !g.service_identities.is_empty() {
        let v: Vec<Value> = (g.service_identities.iter())
            .map(|si| {
                let mut o = json!({"ServiceName": si.service_name});
                if !si.datacenters.is_empty() {
                    o["Datacenters"] = json!(si.datacenters);
                }
                o
            })
            .collect();
        out.insert("ServiceIdentities".into(), json!(v));
    }
    if !g.node_identities.is_empty() {
        let v: Vec<Value> = (g.node_identities.iter())
            .map(|ni| json!({"NodeName": ni.node_name, "Datacenter": ni.datacenter}))
            .collect();
        out.insert("NodeIdentities".into(), json!(v));
    }
    if !g.templated_policies.is_empty() {
        let v: Vec<Value> = (g.templated_policies.iter())
            .map(|tp| {
                let mut o = json!({"TemplateName": tp.template_name});
                if !tp.name.is_empty() {
                    o["TemplateVariables"] = json!({"name": tp.name});
                }
                if !tp.datacenters.is_empty() {
                    o["Datacenters"] = json!(tp.datacenters);
                }
                o
            })
            .collect();
        out.insert("TemplatedPolicies".into(), json!(v));
    }
}

/// How a token body is meant.
pub enum TokenWrite<'a> {
    Create,
    /// `PUT /v1/acl/token/<accessor>`.
    Update(&'a str),
}

/// `PUT /v1/acl/token[/<accessor>]`: the token to propose. `now_ns`: this server's clock
/// (create time, expiration from a TTL); `new_uuid` makes IDs the body leaves out.
pub fn prepare_token(
    table: &AclTable,
    body: &[u8],
    write: TokenWrite,
    now_ns: u64,
    mut new_uuid: impl FnMut() -> String,
) -> Result<AclToken, ApiError> {
    let m = object(body, "Token")?;
    let mut accessor_id = string(&m, "AccessorID")?;
    let mut secret_id = string(&m, "SecretID")?;
    let local = match field(&m, "Local") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad("Token decoding failed: json: cannot unmarshal into Go struct field .Local of type bool"))?,
    };
    let description = string(&m, "Description")?;
    let existing = match write {
        TokenWrite::Update(url) => {
            if !accessor_id.is_empty() && accessor_id != url {
                return Err(bad("Token Accessor ID in URL and payload do not match"));
            }
            if !is_uuid(url) {
                return Err(not_a_uuid("token"));
            }
            accessor_id = url.to_string();
            let Some(existing) = table.token(url) else {
                return Err(internal(format!("Cannot find token {url:?}")));
            };
            if !secret_id.is_empty() && secret_id != existing.secret_id {
                return Err(internal("Changing a tokens SecretID is not permitted"));
            }
            if field(&m, "Local").is_some() && local != existing.local {
                return Err(internal(format!("Cannot toggle local mode of {url}")));
            }
            secret_id = existing.secret_id.clone();
            Some(existing)
        }
        TokenWrite::Create => {
            if accessor_id.is_empty() {
                accessor_id = new_uuid();
            } else {
                if !is_uuid(&accessor_id) {
                    return Err(internal("Invalid Token: AccessorID is not a valid UUID"));
                }
                if accessor_id.starts_with(RESERVED_ID_PREFIX) {
                    return Err(internal(format!(
                        "Invalid Token: UUIDs with the prefix {RESERVED_ID_PREFIX:?} are reserved"
                    )));
                }
                if table.token(&accessor_id).is_some() {
                    return Err(internal("Invalid Token: AccessorID is already in use"));
                }
            }
            if secret_id.is_empty() {
                secret_id = new_uuid();
            } else {
                if !is_uuid(&secret_id) {
                    return Err(internal("Invalid Token: SecretID is not a valid UUID"));
                }
                if secret_id.starts_with(RESERVED_ID_PREFIX) {
                    return Err(internal(format!(
                        "Invalid Token: UUIDs with the prefix {RESERVED_ID_PREFIX:?} are reserved"
                    )));
                }
                if table.token_by_secret(&secret_id).is_some() {
                    return Err(internal("Invalid Token: SecretID is already in use"));
                }
            }
            None
        }
    };
    let grants = decode_grants(table, &m, local, "Token")?;
    let ttl_text = string(&m, "ExpirationTTL")?;
    let time_text = string(&m, "ExpirationTime")?;
    let (expiration_time_ns, expiration_ttl) = match existing {
        // Expiration cannot change on update; Consul keeps the original.
        Some(old) => (old.expiration_time_ns, old.expiration_ttl.clone()),
        None => {
            if !ttl_text.is_empty() && !time_text.is_empty() {
                return Err(internal(
                    "Expiration TTL and Expiration Time cannot both be set",
                ));
            }
            let ttl_ns = if !ttl_text.is_empty() {
                let ttl = parse_go_duration(&ttl_text).ok_or_else(|| {
                    bad(format!(
                        "Token decoding failed: time: invalid duration {ttl_text:?}"
                    ))
                })?;
                ttl.as_nanos() as u64
            } else if !time_text.is_empty() {
                let at = parse_rfc3339_ns(&time_text).ok_or_else(|| {
                    bad(format!(
                        "Token decoding failed: parsing time {time_text:?} as RFC3339"
                    ))
                })?;
                at.saturating_sub(now_ns).max(1)
            } else {
                0
            };
            if ttl_ns != 0 {
                if ttl_ns < EXPIRATION_MIN_NS {
                    return Err(internal(format!(
                        "ExpirationTime cannot be less than {} in the future (was {})",
                        format_go_duration(EXPIRATION_MIN_NS),
                        format_go_duration(ttl_ns)
                    )));
                }
                if ttl_ns > EXPIRATION_MAX_NS {
                    return Err(internal(format!(
                        "ExpirationTime cannot be more than {} in the future (was {})",
                        format_go_duration(EXPIRATION_MAX_NS),
                        format_go_duration(ttl_ns)
                    )));
                }
                (now_ns.saturating_add(ttl_ns), ttl_text)
            } else {
                (0, String::new())
            }
        }
    };
    Ok(AclToken {
        accessor_id,
        secret_id,
        description,
        grants,
        local: existing.map_or(local, |e| e.local),
        auth_method: existing.map_or(String::new(), |e| e.auth_method.clone()),
        expiration_time_ns,
        expiration_ttl,
        create_time_ns: existing.map_or(now_ns, |e| e.create_time_ns),
        create_index: 0,
        modify_index: 0,
    })
}

/// `PUT /v1/acl/token/<accessor>/clone`: the copy to propose.
pub fn prepare_clone(
    table: &AclTable,
    accessor: &str,
    body: &[u8],
    now_ns: u64,
    mut new_uuid: impl FnMut() -> String,
) -> Result<AclToken, ApiError> {
    let m = object(body, "Token")?;
    if !is_uuid(accessor) {
        return Err(not_a_uuid("token"));
    }
    let Some(source) = table.token(accessor) else {
        return Err(internal("Cannot find token to clone"));
    };
    if !source.auth_method.is_empty() {
        return Err(internal("Cannot clone a token created from an auth method"));
    }
    let description = match field(&m, "Description") {
        Some(_) => string(&m, "Description")?,
        None => source.description.clone(),
    };
    Ok(AclToken {
        accessor_id: new_uuid(),
        secret_id: new_uuid(),
        description,
        create_time_ns: now_ns,
        create_index: 0,
        modify_index: 0,
        ..source.clone()
    })
}

/// The token JSON. `show_secret`: the caller has `acl:write` (else `<hidden>`).
pub fn token_json(table: &AclTable, t: &AclToken, show_secret: bool) -> Value {
    let mut out = Map::new();
    out.insert("AccessorID".into(), json!(t.accessor_id));
    let secret = if show_secret {
        t.secret_id.as_str()
    } else {
        "<hidden>"
    };
    out.insert("SecretID".into(), json!(secret));
    out.insert("Description".into(), json!(t.description));
    grants_json(table, &t.grants, &mut out);
    out.insert("Local".into(), json!(t.local));
    if !t.auth_method.is_empty() {
        out.insert("AuthMethod".into(), json!(t.auth_method));
    }
    if t.expiration_time_ns != 0 {
        out.insert(
            "ExpirationTime".into(),
            json!(rfc3339_nanos(t.expiration_time_ns)),
        );
    }
    if !t.expiration_ttl.is_empty() {
        if let Some(d) = parse_go_duration(&t.expiration_ttl) {
            out.insert(
                "ExpirationTTL".into(),
                json!(format_go_duration(d.as_nanos() as u64)),
            );
        }
    }
    out.insert("CreateTime".into(), json!(rfc3339_nanos(t.create_time_ns)));
    out.insert(
        "Hash".into(),
        json!(hash_of(&[
            &t.accessor_id,
            &t.description,
            &format!("{:?}", t.grants),
            &t.local.to_string()
        ])),
    );
    out.insert("CreateIndex".into(), json!(t.create_index));
    out.insert("ModifyIndex".into(), json!(t.modify_index));
    Value::Object(out)
}

/// `GET /v1/acl/tokens` filters (`?policy=`, `?role=`, `?authmethod=`, `?servicename=`).
pub fn token_matches(
    t: &AclToken,
    policy: Option<&str>,
    role: Option<&str>,
    auth_method: Option<&str>,
    service: Option<&str>,
) -> bool {
    policy.is_none_or(|p| t.grants.policies.iter().any(|l| l.id == p))
        && role.is_none_or(|r| t.grants.roles.iter().any(|l| l.id == r))
        && auth_method.is_none_or(|m| t.auth_method == m)
        && service.is_none_or(|s| {
            t.grants
                .service_identities
                .iter()
                .any(|si| si.service_name == s)
        })
}

/// `PUT /v1/acl/role[/<id>]`.
pub fn prepare_role(
    table: &AclTable,
    body: &[u8],
    url_id: Option<&str>,
    new_id: impl FnOnce() -> String,
) -> Result<AclRole, ApiError> {
    let m = object(body, "Role")?;
    let body_id = string(&m, "ID")?;
    let id = match url_id {
        None if !body_id.is_empty() => {
            return Err(bad("Cannot specify the ID when creating a new role"))
        }
        None => new_id(),
        Some(url) if !body_id.is_empty() && body_id != url => {
            return Err(bad("Role ID in URL and payload do not match"))
        }
        Some(url) => {
            if table.role(url).is_none() {
                return Err(internal(format!("Cannot find role {url}")));
            }
            url.to_string()
        }
    };
    let name = string(&m, "Name")?;
    if !valid_name(&name) {
        return Err(internal(
            "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
        ));
    }
    if let Some(other) = table.role_by_name(&name) {
        if other.id != id {
            return Err(internal(format!(
                "Invalid Role: A Role with Name {name:?} already exists"
            )));
        }
    }
    Ok(AclRole {
        id,
        name,
        description: string(&m, "Description")?,
        grants: decode_grants(table, &m, false, "Role")?,
        create_index: 0,
        modify_index: 0,
    })
}

pub fn role_json(table: &AclTable, r: &AclRole) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), json!(r.id));
    out.insert("Name".into(), json!(r.name));
    out.insert("Description".into(), json!(r.description));
    grants_json(table, &r.grants, &mut out);
    out.insert(
        "Hash".into(),
        json!(hash_of(&[
            &r.name,
            &r.description,
            &format!("{:?}", r.grants)
        ])),
    );
    out.insert("CreateIndex".into(), json!(r.create_index));
    out.insert("ModifyIndex".into(), json!(r.modify_index));
    Value::Object(out)
}

// ----------------------------------------------------------------------------------------
// Auth methods and binding rules

/// `PUT /v1/acl/auth-method[/<name>]`. Types Consul CE knows: `kubernetes`, `jwt`, `oidc`.
pub fn prepare_auth_method(
    table: &AclTable,
    body: &[u8],
    url_name: Option<&str>,
) -> Result<AclAuthMethod, ApiError> {
    let m = object(body, "AuthMethod")?;
    let name = string(&m, "Name")?;
    let name = match url_name {
        Some(url) if !name.is_empty() && name != url => {
            return Err(bad("AuthMethod Name in URL and payload do not match"))
        }
        Some(url) => {
            if table.auth_method(url).is_none() {
                return Err(internal(format!(
                    "Cannot find auth method with name {url:?}"
                )));
            }
            url.to_string()
        }
        None => name,
    };
    if name.is_empty() || !valid_name(&name) {
        return Err(internal(
            "Invalid Auth Method: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
        ));
    }
    let kind = string(&m, "Type")?;
    if url_name.is_none() && table.auth_method(&name).is_some() {
        return Err(internal(format!(
            "Invalid Auth Method: A AuthMethod with Name {name:?} already exists"
        )));
    }
    if !matches!(kind.as_str(), "kubernetes" | "jwt" | "oidc") {
        return Err(internal(
            "Invalid Auth Method: Type should be one of: [jwt kubernetes oidc]",
        ));
    }
    let config = field(&m, "Config").cloned().unwrap_or(json!({}));
    if kind == "jwt" {
        let c = config.as_object().cloned().unwrap_or_default();
        let keys = strings(&c, "JWTValidationPubKeys")?;
        let jwks = string(&c, "JWKSURL")?;
        let oidc = string(&c, "OIDCDiscoveryURL")?;
        let set = [!keys.is_empty(), !jwks.is_empty(), !oidc.is_empty()];
        if set.iter().filter(|s| **s).count() != 1 {
            return Err(internal("Invalid Auth Method: exactly one of 'JWTValidationPubKeys', 'JWKSURL', or 'OIDCDiscoveryURL' must be set for type \"jwt\""));
        }
    }
    let max_token_ttl_ns = match field(&m, "MaxTokenTTL") {
        None => 0,
        Some(Value::String(s)) if s.is_empty() => 0,
        Some(Value::String(s)) => parse_go_duration(s)
            .ok_or_else(|| {
                bad(format!(
                    "Request decoding failed: time: invalid duration {s:?}"
                ))
            })?
            .as_nanos() as u64,
        Some(v) => v.as_u64().unwrap_or(0),
    };
    // Consul's bounds for a login token's lifetime (0: no limit).
    let bounded = (EXPIRATION_MIN_NS..=EXPIRATION_MAX_NS).contains(&max_token_ttl_ns);
    if max_token_ttl_ns != 0 && !bounded {
        return Err(internal(format!(
            "MaxTokenTTL {} must be between {} and {}",
            format_go_duration(max_token_ttl_ns),
            format_go_duration(EXPIRATION_MIN_NS),
            format_go_duration(EXPIRATION_MAX_NS)
        )));
    }
    let token_locality = string(&m, "TokenLocality")?;
    if !matches!(token_locality.as_str(), "" | "local" | "global") {
        return Err(internal(
            "Invalid Auth Method: TokenLocality should be one of 'local' or 'global'",
        ));
    }
    Ok(AclAuthMethod {
        name,
        kind,
        display_name: string(&m, "DisplayName")?,
        description: string(&m, "Description")?,
        max_token_ttl_ns,
        token_locality,
        config_json: config.to_string(),
        create_index: 0,
        modify_index: 0,
    })
}

pub fn auth_method_json(m: &AclAuthMethod) -> Value {
    let mut out = json!({"Name": m.name, "Type": m.kind});
    if !m.display_name.is_empty() {
        out["DisplayName"] = json!(m.display_name);
    }
    if !m.description.is_empty() {
        out["Description"] = json!(m.description);
    }
    if m.max_token_ttl_ns != 0 {
        out["MaxTokenTTL"] = json!(format_go_duration(m.max_token_ttl_ns));
    }
    if !m.token_locality.is_empty() {
        out["TokenLocality"] = json!(m.token_locality);
    }
    out["Config"] = serde_json::from_str(&m.config_json).unwrap_or(json!({}));
    out["CreateIndex"] = json!(m.create_index);
    out["ModifyIndex"] = json!(m.modify_index);
    out
}

/// `PUT /v1/acl/binding-rule[/<id>]`.
pub fn prepare_binding_rule(
    table: &AclTable,
    body: &[u8],
    url_id: Option<&str>,
    new_id: impl FnOnce() -> String,
) -> Result<AclBindingRule, ApiError> {
    let m = object(body, "BindingRule")?;
    let body_id = string(&m, "ID")?;
    let id = match url_id {
        None if !body_id.is_empty() => {
            return Err(bad(
                "Cannot specify the ID when creating a new binding rule",
            ))
        }
        None => new_id(),
        Some(url) if !body_id.is_empty() && body_id != url => {
            return Err(bad("BindingRule ID in URL and payload do not match"))
        }
        Some(url) => {
            if table.binding_rule(url).is_none() {
                return Err(internal(format!("Cannot find binding rule {url}")));
            }
            url.to_string()
        }
    };
    let auth_method = string(&m, "AuthMethod")?;
    if auth_method.is_empty() {
        return Err(internal("Invalid Binding Rule: no AuthMethod is set"));
    }
    if table.auth_method(&auth_method).is_none() {
        return Err(internal(format!(
            "Invalid Binding Rule: AuthMethod is not found: {auth_method:?}"
        )));
    }
    let bind_type = string(&m, "BindType")?;
    if !matches!(
        bind_type.as_str(),
        "service" | "node" | "role" | "policy" | "templated-policy"
    ) {
        return Err(internal(format!(
            "Invalid Binding Rule: unknown BindType {bind_type:?}"
        )));
    }
    let bind_name = string(&m, "BindName")?;
    if bind_name.is_empty() {
        return Err(internal("Invalid Binding Rule: no BindName is set"));
    }
    let selector = string(&m, "Selector")?;
    if !selector.trim().is_empty() {
        if let Err(e) = super::filter::parse(&selector) {
            return Err(internal(format!(
                "invalid Binding Rule: Selector is invalid: {e}"
            )));
        }
    }
    Ok(AclBindingRule {
        id,
        description: string(&m, "Description")?,
        auth_method,
        selector,
        bind_type,
        bind_name,
        create_index: 0,
        modify_index: 0,
    })
}

pub fn binding_rule_json(r: &AclBindingRule) -> Value {
    json!({
        "ID": r.id,
        "Description": r.description,
        "AuthMethod": r.auth_method,
        "Selector": r.selector,
        "BindType": r.bind_type,
        "BindName": r.bind_name,
        "CreateIndex": r.create_index,
        "ModifyIndex": r.modify_index,
    })
}

// ----------------------------------------------------------------------------------------
// Templated policies

pub fn templated_policy_json(t: &templates::Template) -> Value {
    json!({
        "TemplateName": t.name,
        "Schema": templates::schema(t),
        "Template": t.text.trim_start_matches('\n'),
        "Description": t.description,
    })
}

/// `POST /v1/acl/templated-policy/preview/<name>`: the synthetic policy it would make.
pub fn templated_preview(name: &str, body: &[u8], id: String) -> Result<Value, ApiError> {
    let Some(t) = templates::template(name) else {
        return Err(ApiError::NotFound(format!(
            "Invalid templated policy Name: {name:?}"
        )));
    };
    let m = object(body, "Request")?;
    let var = string(&m, "Name")?;
    if t.needs_name && var.is_empty() {
        return Err(bad(format!(
            "validation error for templated policy {name:?}: name: name is required"
        )));
    }
    if t.needs_name && !crate::acl::valid_identity_name(&var) {
        return Err(bad(format!(
            "validation error for templated policy {name:?}: name: Does not match pattern \
             '^[a-z0-9]([a-z0-9\\-_]*[a-z0-9])?$'"
        )));
    }
    let rules = templates::render(t, &var);
    let hash = hash_of(&[name, &var]);
    let suffix: String = hash
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    Ok(json!({
        "ID": id,
        "Name": format!("synthetic-policy-{}", suffix.to_lowercase()),
        "Description": format!("synthetic policy generated from templated policy: {name}"),
        "Rules": rules.trim_start_matches('\n'),
        "Hash": hash,
        "CreateIndex": 0,
        "ModifyIndex": 0,
    }))
}

// ----------------------------------------------------------------------------------------
// Bootstrap

/// `PUT /v1/acl/bootstrap`'s optional body: `BootstrapSecret`, which must be a UUID.
pub fn bootstrap_secret(body: &[u8]) -> Result<Option<String>, ApiError> {
    let m = object(body, "Request")?;
    let secret = string(&m, "BootstrapSecret")?;
    if secret.is_empty() {
        return Ok(None);
    }
    if !is_uuid(&secret) {
        return Err(bad("Invalid bootstrap secret: must be a UUID"));
    }
    Ok(Some(secret))
}

/// The management token a bootstrap (or `initial_management`) creates.
pub fn management_token(
    accessor_id: String,
    secret_id: String,
    description: &str,
    now_ns: u64,
) -> AclToken {
    AclToken {
        accessor_id,
        secret_id,
        description: description.into(),
        grants: Grants {
            policies: vec![Link {
                id: GLOBAL_MANAGEMENT_ID.into(),
                name: GLOBAL_MANAGEMENT_NAME.into(),
            }],
            ..Grants::default()
        },
        local: false,
        auth_method: String::new(),
        expiration_time_ns: 0,
        expiration_ttl: String::new(),
        create_time_ns: now_ns,
        create_index: 0,
        modify_index: 0,
    }
}

// ----------------------------------------------------------------------------------------
// Helpers: hashes and times

/// A stable content hash shown as `Hash`. Consul's is blake2b-256 over the fields; ours is
/// two crc32c's over the same fields (clients compare it only with itself).
fn hash_of(parts: &[&str]) -> String {
    use base64::Engine as _;
    let mut a = 0u32;
    let mut b = 0x9e37_79b9u32;
    for p in parts {
        a = crc32c::crc32c_append(a, p.as_bytes());
        a = crc32c::crc32c_append(a, &[0]);
        b = crc32c::crc32c_append(b, &a.to_le_bytes());
    }
    let mut bytes = Vec::with_capacity(8);
    bytes.extend_from_slice(&a.to_be_bytes());
    bytes.extend_from_slice(&b.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Unix nanoseconds as Go's `time.RFC3339Nano` in UTC (`2024-05-01T10:00:00.123456789Z`;
/// trailing zeros of the fraction dropped, as Go does).
pub fn rfc3339_nanos(ns: u64) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let frac = ns % 1_000_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Unix nanoseconds as Go's `time.Time.String()` prints them in UTC, as the CLI shows times
/// (`2021-10-28 13:11:12.509786767 +0000 UTC`).
pub fn go_time_string(ns: u64) -> String {
    let rfc = rfc3339_nanos(ns);
    let (date, rest) = rfc.split_once('T').expect("RFC 3339 has a T");
    format!("{date} {} +0000 UTC", rest.trim_end_matches('Z'))
}

/// Parses RFC 3339 (`2024-05-01T10:00:00Z`, fractions, `+02:00` offsets) to unix ns.
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut frac_ns = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &r[digits.len()..];
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        frac_ns = padded.parse().ok()?;
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = rest.get(1..3)?.parse::<i64>().ok()?;
            let om = rest.get(4..6)?.parse::<i64>().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_s;
    // Times outside u64 nanoseconds (before 1970, after 2554) are not ones we take.
    let ns = secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)?;
    u64::try_from(ns).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_as_go_writes_them() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00Z");
        let ns = 1_714_557_600_123_456_789;
        assert_eq!(rfc3339_nanos(ns), "2024-05-01T10:00:00.123456789Z");
        assert_eq!(parse_rfc3339_ns("2024-05-01T10:00:00.123456789Z"), Some(ns));
        assert_eq!(
            parse_rfc3339_ns("2024-05-01T12:00:00.123456789+02:00"),
            Some(ns)
        );
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
    }

    #[test]
    fn uuids_are_checked_as_consul_does() {
        assert!(is_uuid("00000000-DEAD-BEEF-0000-000000000000"));
        assert!(!is_uuid("unknown"));
        assert!(!is_uuid("0123456789abcdef0123456789abcdef"));
    }
}
