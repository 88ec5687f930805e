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

/// The pure cores never touch the OS: that is what lets a simulator drive them.
#[test]
fn pure_cores_do_no_io() {
    let pure = [
        "src/catalog",
        "src/agent",
        "src/dns",
        "src/http/decode.rs",
        "src/http/filter.rs",
        "src/kv",
        "src/raft",
        "src/http/query.rs",
        "src/http/route.rs",
        "src/http/response.rs",
        "src/gossip/swim.rs",
        "src/gossip/wire.rs",
        "src/gossip/sim.rs",
        "src/rpc",
        "src/codec.rs",
        "src/snapshot.rs",
        "src/state",
        "src/error.rs",
    ];
    let banned = [
        "std::fs",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "std::thread",
        "Instant::now",
        "SystemTime",
        "thread_rng",
        "tokio::",
        "crate::io",
        "crate::shard",
    ];
    for p in pure {
        let path = root().join(p);
        let mut files = Vec::new();
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path);
        }
        for file in files {
            if file.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for b in banned {
                assert!(
                    !text.contains(b),
                    "{} uses {b}; pure cores must not do IO",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn architecture_paths_exist() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for token in text.split('`').skip(1).step_by(2) {
        let looks_like_path = (token.starts_with("src/")
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
