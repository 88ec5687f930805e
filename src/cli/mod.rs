//! The `tribune` command line: `agent` runs an agent; every other verb is a client of our
//! HTTP API (never of internals), as Consul's CLI is.

pub mod acl;
pub mod agent;
pub mod agent_flags;
pub mod catalog;
pub mod client;
pub mod cluster;
pub mod complete;
pub mod config_cmd;
pub mod config_file;
pub mod debug;
pub mod flags;
pub mod help;
pub mod kv;
pub mod lock;
pub mod operator;
pub mod tls;
pub mod watch;

use crate::version::{CONSUL_API_VERSION, REVISION};

const USAGE: &str =
    "Usage: tribune [--version] [--help] [-autocomplete-(un)install] <command> [<args>]

Available commands are:
    acl        Interact with Consul's ACLs
    agent      Runs a Tribune agent
    catalog    Interact with the catalog
    config     Interact with Consul's Centralized Configurations
    debug      Records a debugging archive for operators
    event      Fire a new event
    force-leave Forces a member of the cluster to enter the \"left\" state
    info       Provides debugging information for operators.
    join       Tell Consul agent to join cluster
    keygen     Generates a new encryption key
    keyring    Manages gossip layer encryption keys
    kv         Interact with the key-value store
    leave      Gracefully leaves the Consul cluster and shuts down
    lock       Execute a command holding a lock
    login      Login to Consul using an auth method
    logout     Destroy a Consul token created with login
    maint      Controls node or service maintenance mode
    members    Lists the members of a Consul cluster
    monitor    Stream logs from a Consul agent
    operator   Provides cluster-level tools for Consul operators
    reload     Triggers the agent to reload configuration files
    rtt        Estimates network round trip time between nodes
    services   Interact with services
    snapshot   Saves, restores and inspects snapshots of Consul server state
    tls        Builtin helpers for creating CAs and certificates
    validate   Validate config files/directories
    version    Prints the Tribune version
    watch      Watch for changes in Consul";

/// Runs the command line; returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    // The shell asking for completions (`complete -C tribune tribune`).
    if let Ok(line) = std::env::var("COMP_LINE") {
        for c in complete::candidates(&line) {
            println!("{c}");
        }
        return 0;
    }
    match args.first().map(String::as_str) {
        Some("-autocomplete-install") => return complete::install(false),
        Some("-autocomplete-uninstall") => return complete::install(true),
        _ => {}
    }
    let Some(verb) = args.first() else {
        eprintln!("{USAGE}");
        return 1;
    };
    let rest = &args[1..];
    let path = help::command_path(&args);
    help::set_command(&path);
    if flags::wants_help(rest) {
        // Groups (`kv -h`, `acl token -h`) list their subcommands; commands that parse
        // no flags print their usage here; the others print theirs as they parse.
        if let Some(text) = help::group_usage(&path) {
            println!("{text}");
            return 0;
        }
        if matches!(verb.as_str(), "validate" | "keygen") {
            let spec = flags::FlagSpec {
                bools: &["quiet"],
                values: &["config-format"],
            };
            let none = flags::FlagSpec {
                bools: &[],
                values: &[],
            };
            println!(
                "{}",
                help::usage(if verb == "validate" { &spec } else { &none })
            );
            return 0;
        }
    }
    match verb.as_str() {
        "acl" => acl::run(rest),
        "login" => acl::login(rest),
        "logout" => acl::logout(rest),
        "agent" => agent::run(rest),
        "kv" => kv::run(rest),
        "validate" => agent::validate(rest),
        "members" => catalog::members(rest),
        "catalog" => catalog::catalog(rest),
        "services" => catalog::services(rest),
        "maint" => catalog::maint(rest),
        "join" => cluster::join(rest),
        "leave" => cluster::leave(rest),
        "reload" => cluster::reload(rest),
        "monitor" => cluster::monitor(rest),
        "debug" => debug::run(rest),
        "config" => config_cmd::run(rest),
        "force-leave" => cluster::force_leave(rest),
        "operator" => cluster::operator(rest),
        "info" => cluster::info(rest),
        "keygen" => cluster::keygen(rest),
        "keyring" => cluster::keyring(rest),
        "rtt" => cluster::rtt(rest),
        "snapshot" => cluster::snapshot(rest),
        "event" => cluster::event(rest),
        "tls" => tls::run(rest),
        "watch" => watch::run(rest),
        "lock" => lock::run(rest),
        "version" | "-version" | "--version" | "-v" => {
            if rest
                .iter()
                .any(|a| a.trim_start_matches('-') == "format=json")
            {
                println!(
                    "{{\n    \"Version\": \"{CONSUL_API_VERSION}\",\n    \"Revision\": \"{REVISION}\",\n    \
                     \"Prerelease\": \"\",\n    \"FIPS\": \"\",\n    \"BuildDate\": \"\",\n    \"RPC\": {{\n        \
                     \"Default\": 2,\n        \"Min\": 2,\n        \"Max\": 3\n    }}\n}}"
                );
            } else {
                println!("Consul v{CONSUL_API_VERSION}");
                println!("Revision {REVISION}");
                println!("Build Date 1970-01-01T00:00:00Z");
                println!(
                    "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use \
                     protocol >2 when speaking to compatible agents)"
                );
            }
            0
        }
        "-h" | "--help" | "help" | "-help" => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!("Unknown command: {other:?}\n\n{USAGE}");
            1
        }
    }
}
