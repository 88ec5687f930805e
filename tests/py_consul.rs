//! The real py-consul client (installed by `.ci/run`) against a real agent.

mod support;

use support::{free_port, Agent};

#[test]
fn py_consul_kv_and_blocking() {
    run_script("py_consul_kv.py");
}

#[test]
fn py_consul_agent_catalog_health() {
    run_script("py_consul_catalog.py");
}

fn run_script(name: &str) {
    let agent = Agent::start(free_port(), None);
    let script = format!("{}/tests/clients/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(agent.port.to_string())
        .output()
        .expect("python3 must be installed (see .ci/run)");
    assert!(
        out.status.success(),
        "py-consul checks failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
