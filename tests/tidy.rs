//! Repository hygiene as a test: module headers, no debug leftovers, pure cores stay pure,
//! and every path ARCHITECTURE.md names exists.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn modules_have_headers_and_no_leftovers() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("core/src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} lacks a //! header",
            file.display()
        );
        for banned in ["dbg!(", "todo!(", "unimplemented!(", "FIXME"] {
            assert!(
                !text.contains(banned),
                "{} contains {banned}",
                file.display()
            );
        }
    }
}

/// The pure cores never touch the OS: that is what lets a simulator drive them. They are
/// their own crate (`core/`), so the compiler keeps the runtime out: its dependency list may
/// hold no runtime, socket or io_uring crate. `std` is always there, so its IO names are
/// still looked for in the text.
#[test]
fn pure_cores_do_no_io() {
    let manifest = std::fs::read_to_string(root().join("core/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("core/Cargo.toml has dependencies")
        .split("\n[")
        .next()
        .unwrap();
    let runtime_crates = [
        "tokio",
        "hyper",
        "socket2",
        "io-uring",
        "mio",
        "glommio",
        "async-std",
        "smol",
        "libc",
        "nix",
        "quinn",
        "rustls",
        "ureq",
        "core_affinity",
        "mimalloc",
    ];
    for line in dependencies.lines() {
        let name = line.split('=').next().unwrap_or("").trim();
        assert!(
            !runtime_crates.contains(&name),
            "core/Cargo.toml depends on {name}: the pure cores must not do IO"
        );
    }
    let banned = [
        "std::fs",
        "std::net::TcpStream",
        "TcpListener",
        "UdpSocket",
        "std::thread",
        "Instant::now",
        "SystemTime",
        "thread_rng",
        "std::process",
        "std::env",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("core/src"), &mut files);
    for file in files {
        if file.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for b in banned {
            // Gossip encryption draws nonces and keys from the OS's CSPRNG: a seeded,
            // injected generator would make them predictable.
            if b == "thread_rng" && file.ends_with("gossip/crypto.rs") {
                continue;
            }
            assert!(
                !text.contains(b),
                "{} uses {b}; pure cores must not do IO",
                file.display()
            );
        }
    }
}

#[test]
fn architecture_paths_exist() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for token in text.split('`').skip(1).step_by(2) {
        let looks_like_path = (token.starts_with("src/")
            || token.starts_with("core/")
            || token.starts_with("tests/")
            || token.starts_with("benches/")
            || token.starts_with("loadgen/")
            || token.starts_with("perf/")
            || token.starts_with("docs/"))
            && !token.contains(' ');
        if looks_like_path {
            assert!(
                root().join(token).exists(),
                "ARCHITECTURE.md names {token}, which does not exist"
            );
        }
    }
}

/// The HTTP API's pure files: what `node` may use of `http`, and what they may use of each
/// other.
const PURE_HTTP: &[&str] = &[
    "query",
    "route",
    "response",
    "decode",
    "request",
    "filter",
    "catalog_json",
    "agent_defs",
    "session_json",
    "acl_json",
];

/// Every `<prefix><name>` path segment the file names.
fn named<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// The layers, each using only those below it: the pure cores; `node` (the shared shell:
/// `ShardCtx`, frontends, agent and gossip runtimes, the RPC client); the HTTP handlers in
/// `http`; `shard` (threads, listeners, the Raft core). Checked on the text of every file, so
/// a new import upward fails here.
#[test]
fn layers_never_import_upward() {
    let mut files = Vec::new();
    rust_files(&root().join("src/node"), &mut files);
    rust_files(&root().join("src/http"), &mut files);
    rust_files(&root().join("core/src/http"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.display().to_string();
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let in_node = name.contains("src/node/");
        let pure_http = !in_node && PURE_HTTP.contains(&stem);
        assert!(!text.contains("crate::shard"), "{name} imports shard");
        if in_node || pure_http {
            for used in named(&text, "crate::http::") {
                assert!(
                    PURE_HTTP.contains(&used),
                    "{name} uses http::{used}, a handler"
                );
            }
        }
        if pure_http {
            assert!(
                !text.contains("crate::node"),
                "{name} is pure but uses node"
            );
            for used in named(&text, "super::") {
                assert!(
                    PURE_HTTP.contains(&used) || used.is_empty(), // `super::*` in tests
                    "{name} is pure but uses http::{used}"
                );
            }
        }
    }
}
