//! `tribune config write|read|list|delete`: config entries through `/v1/config`, printed as
//! Consul's CLI prints them.

use super::catalog::finish;
use super::client::connect;

pub fn run(args: &[String]) -> i32 {
    let rest = args.get(1..).unwrap_or_default();
    finish(match args.first().map(String::as_str) {
        Some("write") => write(rest),
        Some("read") => read(rest),
        Some("list") => list(rest),
        Some("delete") => delete(rest),
        _ => Err("Usage: tribune config <write|read|list|delete> [options]".into()),
    })
}

/// The entry in a file (or stdin for `-`): JSON or HCL, as Consul's `config write` reads it.
fn read_entry(path: &str) -> Result<serde_json::Value, String> {
    let text = match path {
        "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("Failed to read stdin: {e}"))?;
            s
        }
        p => std::fs::read_to_string(p).map_err(|e| format!("Failed to read file: {e}"))?,
    };
    serde_json::from_str(&text)
        .or_else(|_| hcl::from_str::<serde_json::Value>(&text))
        .map_err(|e| format!("Failed to decode config entry input: {e}"))
}

fn kind_and_name(entry: &serde_json::Value) -> (String, String) {
    let field = |upper: &str, lower: &str| {
        entry
            .get(upper)
            .or_else(|| entry.get(lower))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    (field("Kind", "kind"), field("Name", "name"))
}

fn write(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["cas"], &["modify-index"])?;
    let [path] = p.positional.as_slice() else {
        return Err(
            "Must provide exactly one positional argument to specify the config entry to write"
                .into(),
        );
    };
    let entry = read_entry(path)?;
    let (kind, name) = kind_and_name(&entry);
    let query = match (p.flag("cas"), p.value("modify-index")) {
        (true, Some(i)) => format!("?cas={i}"),
        (true, None) => return Err("Must specify a -modify-index greater than 0 with -cas".into()),
        (false, _) => String::new(),
    };
    let body = entry.to_string();
    let a = client.call("PUT", &format!("/v1/config{query}"), Some(body.as_bytes()))?;
    if a.status != 200 {
        return Err(format!(
            "Error writing config entry {kind}/{name}: {}",
            a.error_text()
        ));
    }
    match String::from_utf8_lossy(&a.body).trim() {
        "true" => println!("Config entry written: {kind}/{name}"),
        _ => return Err(format!("Config entry not updated: {kind}/{name}")),
    }
    Ok(())
}

fn need<'a>(p: &'a super::flags::Parsed, flag: &str) -> Result<&'a str, String> {
    p.value(flag)
        .ok_or_else(|| format!("Must specify the -{flag} parameter"))
}

fn read(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["kind", "name"])?;
    let (kind, name) = (need(&p, "kind")?, need(&p, "name")?);
    let a = client.call("GET", &format!("/v1/config/{kind}/{name}"), None)?;
    if a.status != 200 {
        return Err(format!(
            "Error reading config entry {kind}/{name}: {}",
            a.error_text()
        ));
    }
    let entry: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&entry, &mut ser).map_err(|e| e.to_string())?;
    println!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

fn list(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["kind", "filter"])?;
    let kind = need(&p, "kind")?;
    let path = match p.value("filter") {
        Some(f) => format!(
            "/v1/config/{kind}?filter={}",
            percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => format!("/v1/config/{kind}"),
    };
    let a = client.call("GET", &path, None)?;
    if a.status != 200 {
        return Err(format!(
            "Error listing config entries for kind {kind:?}: {}",
            a.error_text()
        ));
    }
    let entries: Vec<serde_json::Value> =
        serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    for e in entries {
        println!("{}", e["Name"].as_str().unwrap_or(""));
    }
    Ok(())
}

fn delete(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["cas"], &["kind", "name", "modify-index"])?;
    let (kind, name) = (need(&p, "kind")?, need(&p, "name")?);
    let query = match (p.flag("cas"), p.value("modify-index")) {
        (true, Some(i)) => format!("?cas={i}"),
        (true, None) => return Err("Must specify a -modify-index greater than 0 with -cas".into()),
        (false, _) => String::new(),
    };
    let a = client.call("DELETE", &format!("/v1/config/{kind}/{name}{query}"), None)?;
    if a.status != 200 {
        return Err(format!(
            "Error deleting config entry {kind}/{name}: {}",
            a.error_text()
        ));
    }
    // Without -cas the agent answers `{}`; with it, whether the delete happened.
    match String::from_utf8_lossy(&a.body).trim() {
        "false" => return Err(format!("Config entry not deleted: {kind}/{name}")),
        _ => println!("Config entry deleted: {kind}/{name}"),
    }
    Ok(())
}
