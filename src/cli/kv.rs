//! `tribune kv get|put|delete|export|import`, with Consul's flags and output.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::client::{connect, escape_key};
use super::flags::Parsed;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Pair {
    key: String,
    flags: u64,
    value: Option<String>,
    #[serde(default)]
    session: String,
    lock_index: u64,
    create_index: u64,
    modify_index: u64,
}

/// `consul kv export` entry (lower-case field names).
#[derive(Serialize, Deserialize)]
struct Exported {
    key: String,
    flags: u64,
    value: String,
}

fn decode(value: &Option<String>) -> Vec<u8> {
    value
        .as_deref()
        .and_then(|v| B64.decode(v).ok())
        .unwrap_or_default()
}

/// Runs a `kv` subcommand; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let Some(sub) = args.first() else {
        eprintln!("Usage: tribune kv <subcommand> [options] [args]\n\nSubcommands: delete export get import put");
        return 1;
    };
    let rest = &args[1..];
    let result = match sub.as_str() {
        "get" => get(rest),
        "put" => put(rest),
        "delete" => delete(rest),
        "export" => export(rest),
        "import" => import(rest),
        other => Err(format!("Unknown kv subcommand: {other}")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn one_key(p: &Parsed, allow_empty: bool) -> Result<String, String> {
    match p.positional.as_slice() {
        [] if allow_empty => Ok(String::new()),
        [] => Err("Error! Missing KEY argument".into()),
        [key] => Ok(key.strip_prefix('/').unwrap_or(key).to_string()),
        more => Err(format!(
            "Too many arguments (expected 1, got {})",
            more.len()
        )),
    }
}

fn get(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &["recurse", "keys", "detailed", "base64"],
        &["separator"],
    )?;
    let key = one_key(&p, p.flag("recurse") || p.flag("keys"))?;
    let stale = if p.flag("stale") { "&stale" } else { "" };
    let show = |v: &[u8]| {
        if p.flag("base64") {
            B64.encode(v)
        } else {
            String::from_utf8_lossy(v).into_owned()
        }
    };
    if p.flag("keys") {
        let sep = p.value("separator").unwrap_or("/");
        let path = format!("/v1/kv/{}?keys&separator={sep}{stale}", escape_key(&key));
        for k in client.get_list::<String>(&path)? {
            println!("{k}");
        }
        return Ok(());
    }
    if p.flag("recurse") {
        let pairs: Vec<Pair> =
            client.get_list(&format!("/v1/kv/{}?recurse{stale}", escape_key(&key)))?;
        for (i, pair) in pairs.iter().enumerate() {
            if p.flag("detailed") {
                print_detailed(pair, p.flag("base64"));
                if i + 1 < pairs.len() {
                    println!();
                }
            } else {
                println!("{}:{}", pair.key, show(&decode(&pair.value)));
            }
        }
        return Ok(());
    }
    let query = if stale.is_empty() {
        String::new()
    } else {
        "?stale".into()
    };
    let a = client.call("GET", &format!("/v1/kv/{}{query}", escape_key(&key)), None)?;
    if a.status == 404 {
        return Err(format!("Error! No key exists at: {key}"));
    }
    if a.status != 200 {
        return Err(format!("Error querying Consul agent: {}", a.error_text()));
    }
    let pairs: Vec<Pair> = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
    let pair = pairs.first().ok_or("Error! empty answer")?;
    if p.flag("detailed") {
        print_detailed(pair, p.flag("base64"));
    } else {
        println!("{}", show(&decode(&pair.value)));
    }
    Ok(())
}

/// Consul's `prettyKVPair`: a tabwriter with padding 6, so the value column starts at 17.
fn print_detailed(pair: &Pair, base64: bool) {
    let value = decode(&pair.value);
    let value = if base64 {
        B64.encode(&value)
    } else {
        String::from_utf8_lossy(&value).into_owned()
    };
    let session = if pair.session.is_empty() {
        "-"
    } else {
        pair.session.as_str()
    };
    for (name, v) in [
        ("CreateIndex", pair.create_index.to_string()),
        ("Flags", pair.flags.to_string()),
        ("Key", pair.key.clone()),
        ("LockIndex", pair.lock_index.to_string()),
        ("ModifyIndex", pair.modify_index.to_string()),
        ("Session", session.to_string()),
        ("Value", value),
    ] {
        println!("{name:<17}{v}");
    }
}

/// Reads `<data>`, `-` (stdin) or `@file`, as Consul's `kv put` and `kv import` do.
fn read_data(arg: Option<&String>) -> Result<Vec<u8>, String> {
    match arg.map(String::as_str) {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
                .map_err(|e| format!("Failed to read stdin: {e}"))?;
            Ok(buf)
        }
        Some(s) if s.starts_with('@') => {
            std::fs::read(&s[1..]).map_err(|e| format!("Failed to read file: {e}"))
        }
        Some(s) => Ok(s.as_bytes().to_vec()),
    }
}

fn put(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(
        args,
        &["cas", "base64", "acquire", "release"],
        &["modify-index", "flags", "session"],
    )?;
    let key = p
        .positional
        .first()
        .ok_or("Error! Missing KEY argument")?
        .clone();
    if p.positional.len() > 2 {
        return Err(format!(
            "Too many arguments (expected 1 or 2, got {})",
            p.positional.len()
        ));
    }
    if (p.flag("acquire") || p.flag("release")) && p.value("session").is_none() {
        return Err("Error! Missing -session (required with -acquire and -release)".into());
    }
    let mut data = read_data(p.positional.get(1))?;
    if p.flag("base64") {
        data = B64
            .decode(&data)
            .map_err(|e| format!("Error! Cannot base 64 decode data: {e}"))?;
    }
    let mut query = Vec::new();
    if let Some(f) = p.value("flags") {
        query.push(format!("flags={f}"));
    }
    if p.flag("cas") {
        query.push(format!("cas={}", p.value("modify-index").unwrap_or("0")));
    }
    if let Some(s) = p.value("session") {
        if p.flag("acquire") {
            query.push(format!("acquire={s}"));
        } else if p.flag("release") {
            query.push(format!("release={s}"));
        }
    }
    let path = format!(
        "/v1/kv/{}{}{}",
        escape_key(&key),
        if query.is_empty() { "" } else { "?" },
        query.join("&")
    );
    let a = client.call("PUT", &path, Some(&data))?;
    if a.status != 200 {
        return Err(format!("Error! Failed writing data: {}", a.error_text()));
    }
    let ok = a.body.windows(4).any(|w| w == b"true");
    match (ok, p.flag("cas"), p.flag("acquire"), p.flag("release")) {
        (true, _, true, _) => println!("Success! Lock acquired on: {key}"),
        (true, _, _, true) => println!("Success! Lock released on: {key}"),
        (true, ..) => println!("Success! Data written to: {key}"),
        (false, true, ..) => return Err(format!("Error! Did not write to {key}: CAS failed")),
        (false, _, true, _) => return Err(format!("Error! Did not acquire lock on: {key}")),
        (false, ..) => return Err(format!("Error! Failed writing data to {key}")),
    }
    Ok(())
}

fn delete(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &["recurse", "cas"], &["modify-index"])?;
    let key = one_key(&p, p.flag("recurse"))?;
    if p.flag("recurse") && p.flag("cas") {
        return Err("Cannot specify both -cas and -recurse!".into());
    }
    let query = if p.flag("recurse") {
        "?recurse".to_string()
    } else if p.flag("cas") {
        format!("?cas={}", p.value("modify-index").unwrap_or("0"))
    } else {
        String::new()
    };
    let a = client.call(
        "DELETE",
        &format!("/v1/kv/{}{query}", escape_key(&key)),
        None,
    )?;
    if a.status != 200 {
        return Err(format!(
            "Error! Did not delete key {key}: {}",
            a.error_text()
        ));
    }
    if !a.body.windows(4).any(|w| w == b"true") {
        return Err(format!("Error! Did not delete key {key}: CAS failed"));
    }
    if p.flag("recurse") {
        println!("Success! Deleted keys with prefix: {key}");
    } else {
        println!("Success! Deleted key: {key}");
    }
    Ok(())
}

fn export(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &[])?;
    let prefix = one_key(&p, true)?;
    let pairs: Vec<Pair> = client.get_list(&format!("/v1/kv/{}?recurse", escape_key(&prefix)))?;
    let exported: Vec<Exported> = pairs
        .into_iter()
        .map(|p| Exported {
            key: p.key,
            flags: p.flags,
            value: p.value.unwrap_or_default(),
        })
        .collect();
    // Consul indents the export with tabs.
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    exported.serialize(&mut ser).map_err(|e| e.to_string())?;
    println!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

fn import(args: &[String]) -> Result<(), String> {
    let (p, client) = connect(args, &[], &["prefix"])?;
    let data = read_data(p.positional.first())?;
    let entries: Vec<Exported> =
        serde_json::from_slice(&data).map_err(|e| format!("Error! Cannot unmarshal data: {e}"))?;
    let prefix = p.value("prefix").unwrap_or("");
    for entry in entries {
        let value = B64
            .decode(&entry.value)
            .map_err(|e| format!("Error! Cannot base 64 decode value: {e}"))?;
        let key = format!("{prefix}{}", entry.key);
        let a = client.call(
            "PUT",
            &format!("/v1/kv/{}?flags={}", escape_key(&key), entry.flags),
            Some(&value),
        )?;
        if a.status != 200 {
            return Err(format!(
                "Error! Failed writing data for key {key}: {}",
                a.error_text()
            ));
        }
        println!("Imported: {key}");
    }
    Ok(())
}
