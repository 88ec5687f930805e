//! `tribune acl ...`: bootstrap, policies, tokens, roles, auth methods, binding rules and
//! the agent's tokens, printed as Consul's CLI prints them (`-format=json` for JSON).

use serde_json::{json, Value};

use super::client::{connect, Client};
use crate::http::acl_json::{go_time_string, parse_rfc3339_ns};

const USAGE: &str = "Usage: tribune acl <subcommand> [options] [args]

Subcommands:
    auth-method      Manage Consul's ACL auth methods
    binding-rule     Manage Consul's ACL binding rules
    bootstrap        Bootstrap Consul's ACL system
    policy           Manage Consul's ACL policies
    role             Manage Consul's ACL roles
    set-agent-token  Assign tokens for the Consul agent's usage
    token            Manage Consul's ACL tokens";

pub fn run(args: &[String]) -> i32 {
    let Some(sub) = args.first() else {
        eprintln!("{USAGE}");
        return 1;
    };
    let rest = &args[1..];
    let (verb, rest) = match sub.as_str() {
        "policy" | "token" | "role" | "auth-method" | "binding-rule" => match rest.first() {
            Some(v) => (format!("{sub} {v}"), &rest[1..]),
            None => {
                eprintln!("Usage: tribune acl {sub} <subcommand> [options]");
                return 1;
            }
        },
        _ => (sub.clone(), rest),
    };
    let result = match verb.as_str() {
        "bootstrap" => bootstrap(rest),
        "set-agent-token" => set_agent_token(rest),
        "policy create" => policy_write(rest, None),
        "policy update" => policy_update(rest),
        "policy read" => read_named(rest, "policy", POLICY_FLAGS, policy_text),
        "policy list" => named_list(rest, "/v1/acl/policies", "policy", true),
        "policy delete" => delete(rest, "policy", "id", &["name"]),
        "token create" => token_create(rest),
        "token update" => token_update(rest),
        "token read" => token_read(rest),
        "token list" => token_list(rest),
        "token clone" => token_clone(rest),
        "token delete" => delete(rest, "token", "id", &[]),
        "role create" => role_create(rest),
        "role read" => read_named(rest, "role", &["id", "name", "format"], role_text),
        "role list" => named_list(rest, "/v1/acl/roles", "role", false),
        "role update" => role_update(rest),
        "role delete" => delete(rest, "role", "id", &["name"]),
        "auth-method create" => auth_method_write(rest, false),
        "auth-method update" => auth_method_write(rest, true),
        "auth-method read" => read_one(rest, "auth-method", "name", auth_method_text),
        "auth-method list" => simple_list(rest, "/v1/acl/auth-methods", "Name"),
        "auth-method delete" => delete(rest, "auth-method", "name", &[]),
        "binding-rule create" => binding_rule_write(rest, false),
        "binding-rule update" => binding_rule_write(rest, true),
        "binding-rule read" => read_one(rest, "binding-rule", "id", binding_rule_text),
        "binding-rule list" => simple_list(rest, "/v1/acl/binding-rules", "ID"),
        "binding-rule delete" => delete(rest, "binding-rule", "id", &[]),
        _ => Err(format!("Unknown command: acl {verb}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn json_of(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("Error decoding the answer: {e}"))
}

fn call(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
    what: &str,
) -> Result<Value, String> {
    let bytes = body.map(|b| b.to_string().into_bytes());
    let a = client.call(method, path, bytes.as_deref())?;
    if a.status != 200 {
        return Err(format!("{what}: {}", a.error_text()));
    }
    if a.body.is_empty() {
        return Ok(Value::Null);
    }
    json_of(&a.body)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a value prints")
}

fn time_of(v: &Value) -> String {
    v.as_str()
        .and_then(parse_rfc3339_ns)
        .map(go_time_string)
        .unwrap_or_default()
}

fn links(v: &Value, title: &str, out: &mut String) {
    if let Some(list) = v.as_array().filter(|l| !l.is_empty()) {
        out.push_str(&format!("\n{title}:"));
        for l in list {
            let id = l["ID"].as_str().unwrap_or_default();
            let name = l["Name"].as_str().unwrap_or_default();
            out.push_str(&format!("\n   {id} - {name}"));
        }
    }
}

fn identities(t: &Value, out: &mut String) {
    if let Some(list) = t["ServiceIdentities"].as_array().filter(|l| !l.is_empty()) {
        out.push_str("\nService Identities:");
        for si in list {
            let dcs: Vec<&str> = (si["Datacenters"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            let dcs = if dcs.is_empty() {
                "all".to_string()
            } else {
                dcs.join(", ")
            };
            let name = si["ServiceName"].as_str().unwrap_or_default();
            out.push_str(&format!("\n   {name} (Datacenters: {dcs})"));
        }
    }
    if let Some(list) = t["NodeIdentities"].as_array().filter(|l| !l.is_empty()) {
        out.push_str("\nNode Identities:");
        for ni in list {
            let name = ni["NodeName"].as_str().unwrap_or_default();
            let dc = ni["Datacenter"].as_str().unwrap_or_default();
            out.push_str(&format!("\n   {name} (Datacenter: {dc})"));
        }
    }
}

/// Consul's token block (`AccessorID:` ... `Policies:`).
fn token_text(t: &Value) -> String {
    let s = |k: &str| t[k].as_str().unwrap_or_default().to_string();
    let mut out = format!(
        "AccessorID:       {}\nSecretID:         {}\nDescription:      {}\nLocal:            {}",
        s("AccessorID"),
        s("SecretID"),
        s("Description"),
        t["Local"].as_bool().unwrap_or(false)
    );
    if !s("AuthMethod").is_empty() {
        out.push_str(&format!("\nAuth Method:      {}", s("AuthMethod")));
    }
    out.push_str(&format!(
        "\nCreate Time:      {}",
        time_of(&t["CreateTime"])
    ));
    if !t["ExpirationTime"].is_null() {
        out.push_str(&format!(
            "\nExpiration Time:  {}",
            time_of(&t["ExpirationTime"])
        ));
    }
    links(&t["Policies"], "Policies", &mut out);
    links(&t["Roles"], "Roles", &mut out);
    identities(t, &mut out);
    out
}

fn policy_text(p: &Value) -> String {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let dcs: Vec<&str> = (p["Datacenters"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    format!(
        "ID:           {}\nName:         {}\nDescription:  {}\nDatacenters:  {}\nRules:\n{}",
        s("ID"),
        s("Name"),
        s("Description"),
        dcs.join(", "),
        s("Rules")
    )
}

fn role_text(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    let mut out = format!(
        "ID:           {}\nName:         {}\nDescription:  {}",
        s("ID"),
        s("Name"),
        s("Description")
    );
    links(&r["Policies"], "Policies", &mut out);
    identities(r, &mut out);
    out
}

fn print(format_json: bool, v: &Value, text: impl FnOnce(&Value) -> String) {
    if format_json {
        println!("{}", pretty(v));
    } else {
        println!("{}", text(v));
    }
}

fn json_flag(p: &super::flags::Parsed) -> Result<bool, String> {
    match p.value("format") {
        None | Some("pretty") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(format!("Invalid format: {other}")),
    }
}

fn bootstrap(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["format"])?;
    let secret = p.positional.first().map(|path| {
        if path == "-" {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
            s.trim().to_string()
        } else {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        }
    });
    let body = secret.map(|s| json!({ "BootstrapSecret": s }));
    let t = call(
        &client,
        "PUT",
        "/v1/acl/bootstrap",
        body.as_ref(),
        "Failed ACL bootstrapping",
    )?;
    print(json_flag(&p)?, &t, token_text);
    Ok(())
}

fn set_agent_token(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[])?;
    let [kind, token] = p.positional.as_slice() else {
        return Err("Missing TYPE and TOKEN arguments".into());
    };
    let path_kind = match kind.as_str() {
        "default" | "agent" | "replication" | "config_file_service_registration" | "dns" => {
            kind.as_str()
        }
        "recovery" | "agent_recovery" | "agent_master" => "agent_recovery",
        other => return Err(format!("Unknown token type {other:?}")),
    };
    let path = format!("/v1/agent/token/{path_kind}");
    call(
        &client,
        "PUT",
        &path,
        Some(&json!({ "Token": token })),
        "Failed setting token",
    )?;
    println!("ACL token {kind:?} set successfully");
    Ok(())
}

/// `-rules` as Consul reads it: literal text, `@file`, or `-` for stdin.
fn rules_arg(raw: &str) -> Result<String, String> {
    if let Some(path) = raw.strip_prefix('@') {
        return std::fs::read_to_string(path)
            .map_err(|e| format!("Failed to read rules file {path}: {e}"));
    }
    if raw == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        return Ok(s);
    }
    Ok(raw.to_string())
}

const POLICY_FLAGS: &[&str] = &[
    "name",
    "description",
    "rules",
    "valid-datacenter",
    "format",
    "id",
    "from-file",
];

fn policy_body(p: &super::flags::Parsed) -> Result<Value, String> {
    let mut body = serde_json::Map::new();
    if let Some(n) = p.value("name") {
        body.insert("Name".into(), json!(n));
    }
    if let Some(d) = p.value("description") {
        body.insert("Description".into(), json!(d));
    }
    if let Some(r) = p.value("rules") {
        body.insert("Rules".into(), json!(rules_arg(r)?));
    }
    if let Some(dcs) = p.values.get("valid-datacenter") {
        body.insert("Datacenters".into(), json!(dcs));
    }
    Ok(Value::Object(body))
}

fn policy_write(args: &[String], id: Option<&str>) -> Result<(), String> {
    let (p, client) = connect(args, &[], POLICY_FLAGS)?;
    if id.is_none() && p.value("name").is_none() {
        return Err("Missing required '-name' flag".into());
    }
    let body = policy_body(&p)?;
    let policy = call(
        &client,
        "PUT",
        "/v1/acl/policy",
        Some(&body),
        "Failed to create new policy",
    )?;
    print(json_flag(&p)?, &policy, policy_text);
    Ok(())
}

/// An ID from `-id`, or the ID of the object `-name` names.
fn id_of(client: &Client, p: &super::flags::Parsed, kind: &str) -> Result<String, String> {
    if let Some(id) = p.value("id") {
        return Ok(id.to_string());
    }
    let Some(name) = p.value("name") else {
        return Err(format!("Must specify either the {kind} ID or name"));
    };
    let v = call(
        client,
        "GET",
        &format!("/v1/acl/{kind}/name/{name}"),
        None,
        &format!("Error reading {kind}"),
    )?;
    Ok(v["ID"].as_str().unwrap_or_default().to_string())
}

fn policy_update(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], POLICY_FLAGS)?;
    let id = id_of(&client, &p, "policy")?;
    let path = format!("/v1/acl/policy/{id}");
    let current = call(&client, "GET", &path, None, "Error reading policy")?;
    let mut body = current.as_object().cloned().unwrap_or_default();
    for (k, v) in policy_body(&p)?.as_object().cloned().unwrap_or_default() {
        body.insert(k, v);
    }
    let policy = call(
        &client,
        "PUT",
        &path,
        Some(&Value::Object(body)),
        "Failed to update policy",
    )?;
    print(json_flag(&p)?, &policy, policy_text);
    Ok(())
}

const TOKEN_FLAGS: &[&str] = &[
    "description",
    "policy-id",
    "policy-name",
    "role-id",
    "role-name",
    "service-identity",
    "node-identity",
    "expires-ttl",
    "accessor",
    "secret",
    "format",
    "id",
    "templated-policy",
    "var",
];

fn token_body(p: &super::flags::Parsed) -> Result<serde_json::Map<String, Value>, String> {
    let mut body = serde_json::Map::new();
    let all = |name: &str| p.values.get(name).cloned().unwrap_or_default();
    let mut policies: Vec<Value> = all("policy-id")
        .into_iter()
        .map(|id| json!({"ID": id}))
        .collect();
    policies.extend(all("policy-name").into_iter().map(|n| json!({"Name": n})));
    if !policies.is_empty() {
        body.insert("Policies".into(), json!(policies));
    }
    let mut roles: Vec<Value> = all("role-id")
        .into_iter()
        .map(|id| json!({"ID": id}))
        .collect();
    roles.extend(all("role-name").into_iter().map(|n| json!({"Name": n})));
    if !roles.is_empty() {
        body.insert("Roles".into(), json!(roles));
    }
    let services: Vec<Value> = all("service-identity")
        .into_iter()
        .map(|si| match si.split_once(':') {
            Some((name, dcs)) => {
                json!({"ServiceName": name, "Datacenters": dcs.split(',').collect::<Vec<_>>()})
            }
            None => json!({"ServiceName": si}),
        })
        .collect();
    if !services.is_empty() {
        body.insert("ServiceIdentities".into(), json!(services));
    }
    let nodes = all("node-identity")
        .into_iter()
        .map(|ni| match ni.split_once(':') {
            Some((name, dc)) => Ok(json!({"NodeName": name, "Datacenter": dc})),
            None => Err(format!("Malformed -node-identity argument: {ni:?}")),
        })
        .collect::<Result<Vec<Value>, String>>()?;
    if !nodes.is_empty() {
        body.insert("NodeIdentities".into(), json!(nodes));
    }
    if let Some(d) = p.value("description") {
        body.insert("Description".into(), json!(d));
    }
    Ok(body)
}

fn token_create(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["local"], TOKEN_FLAGS)?;
    let mut body = token_body(&p)?;
    if p.flag("local") {
        body.insert("Local".into(), json!(true));
    }
    if let Some(ttl) = p.value("expires-ttl") {
        body.insert("ExpirationTTL".into(), json!(ttl));
    }
    if let Some(a) = p.value("accessor") {
        body.insert("AccessorID".into(), json!(a));
    }
    if let Some(s) = p.value("secret") {
        body.insert("SecretID".into(), json!(s));
    }
    let t = call(
        &client,
        "PUT",
        "/v1/acl/token",
        Some(&Value::Object(body)),
        "Failed to create new token",
    )?;
    print(json_flag(&p)?, &t, token_text);
    Ok(())
}

fn token_update(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &[
            "merge-policies",
            "merge-roles",
            "merge-service-identities",
            "merge-node-identities",
        ],
        TOKEN_FLAGS,
    )?;
    let Some(id) = p.value("id") else {
        return Err("Cannot update a token without specifying the -id parameter".into());
    };
    let path = format!("/v1/acl/token/{id}");
    let current = call(&client, "GET", &path, None, "Failed to retrieve the token")?;
    let mut body = current.as_object().cloned().unwrap_or_default();
    for (k, v) in token_body(&p)? {
        let merge = match k.as_str() {
            "Policies" => p.flag("merge-policies"),
            "Roles" => p.flag("merge-roles"),
            "ServiceIdentities" => p.flag("merge-service-identities"),
            "NodeIdentities" => p.flag("merge-node-identities"),
            _ => false,
        };
        let merged = match (merge, body.get(&k).and_then(Value::as_array), v.as_array()) {
            (true, Some(old), Some(new)) => {
                json!(old.iter().chain(new).cloned().collect::<Vec<_>>())
            }
            _ => v,
        };
        body.insert(k, merged);
    }
    let t = call(
        &client,
        "PUT",
        &path,
        Some(&Value::Object(body)),
        "Failed to update token",
    )?;
    println!("Token updated successfully.");
    print(json_flag(&p)?, &t, token_text);
    Ok(())
}

fn token_read(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["self", "expanded"], &["id", "format"])?;
    let path = match (p.flag("self"), p.value("id")) {
        (true, _) => "/v1/acl/token/self".to_string(),
        (false, Some(id)) => format!("/v1/acl/token/{id}"),
        (false, None) => return Err("Must specify the -id parameter".into()),
    };
    let t = call(&client, "GET", &path, None, "Error reading token")?;
    print(json_flag(&p)?, &t, token_text);
    Ok(())
}

fn token_list(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &[],
        &["format", "role-id", "policy-id", "method", "service-name"],
    )?;
    let mut query: Vec<String> = Vec::new();
    for (flag, param) in [
        ("policy-id", "policy"),
        ("role-id", "role"),
        ("method", "authmethod"),
        ("service-name", "servicename"),
    ] {
        if let Some(v) = p.value(flag) {
            query.push(format!("{param}={v}"));
        }
    }
    let path = if query.is_empty() {
        "/v1/acl/tokens".to_string()
    } else {
        format!("/v1/acl/tokens?{}", query.join("&"))
    };
    let list = call(
        &client,
        "GET",
        &path,
        None,
        "Failed to retrieve the token list",
    )?;
    print(json_flag(&p)?, &list, |list| {
        let items: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .map(token_text)
            .collect();
        items.join("\n\n")
    });
    Ok(())
}

fn token_clone(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["id", "description", "format"])?;
    let Some(id) = p.value("id") else {
        return Err("Cannot clone a token without specifying the -id parameter".into());
    };
    let mut body = serde_json::Map::new();
    if let Some(d) = p.value("description") {
        body.insert("Description".into(), json!(d));
    }
    let path = format!("/v1/acl/token/{id}/clone");
    let t = call(
        &client,
        "PUT",
        &path,
        Some(&Value::Object(body)),
        "Failed to clone token",
    )?;
    print(json_flag(&p)?, &t, token_text);
    Ok(())
}

fn role_create(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &[],
        &[
            "name",
            "description",
            "policy-id",
            "policy-name",
            "service-identity",
            "node-identity",
            "format",
        ],
    )?;
    let Some(name) = p.value("name") else {
        return Err("Missing required '-name' flag".into());
    };
    let mut body = token_body(&p)?;
    body.insert("Name".into(), json!(name));
    let r = call(
        &client,
        "PUT",
        "/v1/acl/role",
        Some(&Value::Object(body)),
        "Failed to create new role",
    )?;
    print(json_flag(&p)?, &r, role_text);
    Ok(())
}

/// `policy|role read -id|-name`: the object, by ID or by the ID its name has.
fn read_named(
    args: &[String],
    kind: &str,
    flags: &[&str],
    text: fn(&Value) -> String,
) -> Result<(), String> {
    let (p, client) = connect(args, &[], flags)?;
    let id = id_of(&client, &p, kind)?;
    let path = format!("/v1/acl/{kind}/{id}");
    let v = call(
        &client,
        "GET",
        &path,
        None,
        &format!("Error reading {kind}"),
    )?;
    print(json_flag(&p)?, &v, text);
    Ok(())
}

/// `policy|role list`: `Name:` then the indented `ID:`, `Description:` (and, for policies,
/// `Datacenters:`) of each, as Consul prints them.
fn named_list(args: &[String], path: &str, kind: &str, datacenters: bool) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["format"])?;
    let what = format!("Failed to retrieve the {kind} list");
    let list = call(&client, "GET", path, None, &what)?;
    print(json_flag(&p)?, &list, |list| {
        let items: Vec<String> = (list.as_array().into_iter().flatten())
            .map(|item| {
                let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
                let mut out = format!(
                    "{}:\n   ID:           {}\n   Description:  {}",
                    s("Name"),
                    s("ID"),
                    s("Description")
                );
                if datacenters {
                    out.push_str("\n   Datacenters:  ");
                }
                out
            })
            .collect();
        items.join("\n")
    });
    Ok(())
}

fn simple_list(args: &[String], path: &str, key: &str) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["format"])?;
    let list = call(&client, "GET", path, None, "Failed to retrieve the list")?;
    print(json_flag(&p)?, &list, |list| {
        let items: Vec<String> = (list.as_array().into_iter().flatten())
            .map(|item| item[key].as_str().unwrap_or_default().to_string())
            .collect();
        items.join("\n")
    });
    Ok(())
}

fn delete(args: &[String], kind: &str, key_flag: &str, extra: &[&str]) -> Result<(), String> {
    let values: Vec<&str> = [key_flag]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let (p, client) = connect(args, &[], &values)?;
    let key = if kind == "policy" || kind == "role" {
        id_of(&client, &p, kind)?
    } else {
        p.value(key_flag)
            .map(str::to_string)
            .ok_or_else(|| format!("Must specify the -{key_flag} parameter"))?
    };
    call(
        &client,
        "DELETE",
        &format!("/v1/acl/{kind}/{key}"),
        None,
        &format!("Error deleting {kind}"),
    )?;
    let what = match kind {
        "auth-method" => "Auth-method",
        "binding-rule" => "Binding rule",
        "policy" => "Policy",
        "role" => "Role",
        _ => "Token",
    };
    println!("{what} {key:?} deleted successfully");
    Ok(())
}

/// `tribune login -method=NAME -bearer-token-file=FILE -token-sink-file=FILE [-meta k=v]`:
/// a token from an auth method, its secret written to the sink file (as Consul's CLI does).
pub fn login(args: &[String]) -> i32 {
    let result = (|| -> Result<(), String> {
        let (p, client) = connect(
            args,
            &[],
            &["method", "bearer-token-file", "token-sink-file", "meta"],
        )?;
        let method = p.value("method").ok_or("Missing required '-method' flag")?;
        let bearer_file = p
            .value("bearer-token-file")
            .ok_or("Missing required '-bearer-token-file' flag")?;
        let sink = p
            .value("token-sink-file")
            .ok_or("Missing required '-token-sink-file' flag")?;
        let bearer = std::fs::read_to_string(bearer_file)
            .map_err(|e| format!("Error reading bearer token file: {e}"))?;
        let mut meta = serde_json::Map::new();
        for kv in p.values.get("meta").into_iter().flatten() {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("Malformed -meta argument: {kv:?}"))?;
            meta.insert(k.into(), json!(v));
        }
        let body = json!({"AuthMethod": method, "BearerToken": bearer.trim(), "Meta": meta});
        let token = call(
            &client,
            "POST",
            "/v1/acl/login",
            Some(&body),
            "Error logging in",
        )?;
        let secret = token["SecretID"].as_str().unwrap_or_default();
        std::fs::write(sink, secret).map_err(|e| format!("Error writing token to file sink: {e}"))
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `tribune logout -token=<secret of a login token>`.
pub fn logout(args: &[String]) -> i32 {
    let result = connect(args, &[], &[]).and_then(|(_, client)| {
        call(
            &client,
            "POST",
            "/v1/acl/logout",
            None,
            "Error destroying token",
        )
    });
    match result {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn auth_method_text(m: &Value) -> String {
    let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    let mut out = format!("Name:          {}\nType:          {}", s("Name"), s("Type"));
    if !s("DisplayName").is_empty() {
        out.push_str(&format!("\nDisplay Name:  {}", s("DisplayName")));
    }
    out.push_str(&format!("\nDescription:   {}", s("Description")));
    if !s("MaxTokenTTL").is_empty() {
        out.push_str(&format!("\nMaxTokenTTL:   {}", s("MaxTokenTTL")));
    }
    if !s("TokenLocality").is_empty() {
        out.push_str(&format!("\nTokenLocality: {}", s("TokenLocality")));
    }
    out.push_str(&format!("\nConfig:\n{}", pretty(&m["Config"])));
    out
}

fn binding_rule_text(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    format!(
        "ID:           {}\nAuthMethod:   {}\nDescription:  {}\nBindType:     {}\nBindName:     {}\nSelector:     {}",
        s("ID"),
        s("AuthMethod"),
        s("Description"),
        s("BindType"),
        s("BindName"),
        s("Selector")
    )
}

/// `read -<key_flag> X` of one object at `/v1/acl/<kind>/X`.
fn read_one(
    args: &[String],
    kind: &str,
    key_flag: &str,
    text: fn(&Value) -> String,
) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[key_flag, "format"])?;
    let key = p
        .value(key_flag)
        .ok_or_else(|| format!("Must specify the -{key_flag} parameter"))?;
    let v = call(
        &client,
        "GET",
        &format!("/v1/acl/{kind}/{key}"),
        None,
        &format!("Error reading {kind}"),
    )?;
    print(json_flag(&p)?, &v, text);
    Ok(())
}

/// `auth-method create|update -type -name -display-name -description -max-token-ttl
/// -token-locality -config=<json|@file>`.
fn auth_method_write(args: &[String], update: bool) -> Result<(), String> {
    let flags = [
        "type",
        "name",
        "display-name",
        "description",
        "max-token-ttl",
        "token-locality",
        "config",
        "format",
    ];
    let (p, client) = connect(args, &[], &flags)?;
    let name = p.value("name").ok_or("Missing required '-name' flag")?;
    let mut body = serde_json::Map::new();
    for (flag, key) in [
        ("type", "Type"),
        ("display-name", "DisplayName"),
        ("description", "Description"),
        ("max-token-ttl", "MaxTokenTTL"),
        ("token-locality", "TokenLocality"),
    ] {
        if let Some(v) = p.value(flag) {
            body.insert(key.into(), json!(v));
        }
    }
    body.insert("Name".into(), json!(name));
    if let Some(c) = p.value("config") {
        let text = rules_arg(c)?;
        let config: Value =
            serde_json::from_str(&text).map_err(|e| format!("Error parsing the config: {e}"))?;
        body.insert("Config".into(), config);
    }
    let (method, path) = match update {
        true => ("PUT", format!("/v1/acl/auth-method/{name}")),
        false => ("PUT", "/v1/acl/auth-method".to_string()),
    };
    let what = if update {
        "Failed to update auth method"
    } else {
        "Failed to create new auth method"
    };
    let v = call(&client, method, &path, Some(&Value::Object(body)), what)?;
    print(json_flag(&p)?, &v, auth_method_text);
    Ok(())
}

/// `binding-rule create|update -method -bind-type -bind-name -selector -description [-id]`.
fn binding_rule_write(args: &[String], update: bool) -> Result<(), String> {
    let flags = [
        "id",
        "method",
        "bind-type",
        "bind-name",
        "selector",
        "description",
        "format",
    ];
    let (p, client) = connect(args, &[], &flags)?;
    let mut body = serde_json::Map::new();
    for (flag, key) in [
        ("method", "AuthMethod"),
        ("bind-type", "BindType"),
        ("bind-name", "BindName"),
        ("selector", "Selector"),
        ("description", "Description"),
    ] {
        if let Some(v) = p.value(flag) {
            body.insert(key.into(), json!(v));
        }
    }
    let path = if update {
        let id = p
            .value("id")
            .ok_or("Cannot update a binding rule without specifying the -id parameter")?;
        body.insert("ID".into(), json!(id));
        format!("/v1/acl/binding-rule/{id}")
    } else {
        "/v1/acl/binding-rule".to_string()
    };
    let what = if update {
        "Failed to update binding rule"
    } else {
        "Failed to create new binding rule"
    };
    let v = call(&client, "PUT", &path, Some(&Value::Object(body)), what)?;
    print(json_flag(&p)?, &v, binding_rule_text);
    Ok(())
}

/// `role update -id|-name ... [-description] [-policy-name ...]`: the role with the flags'
/// fields replaced.
fn role_update(args: &[String]) -> Result<(), String> {
    let flags = [
        "id",
        "name",
        "description",
        "policy-id",
        "policy-name",
        "service-identity",
        "node-identity",
        "format",
    ];
    let (p, client) = connect(args, &[], &flags)?;
    let id = id_of(&client, &p, "role")?;
    let path = format!("/v1/acl/role/{id}");
    let mut body = call(&client, "GET", &path, None, "Error reading role")?
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in token_body(&p)? {
        body.insert(k, v);
    }
    let r = call(
        &client,
        "PUT",
        &path,
        Some(&Value::Object(body)),
        "Failed to update role",
    )?;
    print(json_flag(&p)?, &r, role_text);
    Ok(())
}
