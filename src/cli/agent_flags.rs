//! Every flag of `consul agent` (1.21), with its usage text, in the order `-h` prints them;
//! plus ours (`-shards`). Flags the agent does not act on yet are accepted and named in one
//! warning (`NOT_ACTED_ON`), so tools that start Consul with them keep working.

use super::flags::FlagSpec;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    /// `-name` or `-name=true|false`.
    Bool,
    /// `-name=<value>` or `-name <value>`; repeatable ones keep every value.
    Value,
}

use Kind::{Bool, Value};

/// (name, kind, usage). `-datacenter` is printed under "HTTP API Options", as Consul does.
pub const AGENT_FLAGS: &[(&str, Kind, &str)] = &[
    ("advertise", Value, "Sets the advertise address to use."),
    ("advertise-wan", Value, "Sets address to advertise on WAN instead of -advertise address."),
    ("allow-write-http-from", Value, "Only allow write endpoint calls from given network. CIDR format, can be specified multiple times."),
    ("alt-domain", Value, "Alternate domain to use for DNS interface."),
    ("auto-reload-config", Bool, "Watches config files for changes and auto reloads the files when modified."),
    ("bind", Value, "Sets the bind address for cluster communication."),
    ("bootstrap", Bool, "Sets server to bootstrap mode."),
    ("bootstrap-expect", Value, "Sets server to expect bootstrap mode."),
    ("check_output_max_size", Value, "Sets the maximum output size for checks on this agent"),
    ("client", Value, "Sets the address to bind for client access. This includes RPC, DNS, HTTP, HTTPS and gRPC (if configured)."),
    ("config-dir", Value, "Path to a directory to read configuration files from. This will read every file ending in '.json' as configuration in this directory in alphabetical order. Can be specified multiple times."),
    ("config-file", Value, "Path to a file in JSON or HCL format with a matching file extension. Can be specified multiple times."),
    ("config-format", Value, "Config files are in this format irrespective of their extension. Must be 'hcl' or 'json'"),
    ("data-dir", Value, "Path to a data directory to store agent state."),
    ("datacenter", Value, "Datacenter of the agent."),
    ("default-query-time", Value, "the amount of time a blocking query will wait before Consul will force a response. This value can be overridden by the 'wait' query parameter."),
    ("dev", Bool, "Starts the agent in development mode."),
    ("disable-host-node-id", Bool, "Setting this to true will prevent Consul from using information from the host to generate a node ID, and will cause Consul to generate a random node ID instead."),
    ("disable-keyring-file", Bool, "Disables the backing up of the keyring to a file."),
    ("dns-port", Value, "DNS port to use."),
    ("domain", Value, "Domain to use for DNS interface."),
    ("enable-local-script-checks", Bool, "Enables health check scripts from configuration file."),
    ("enable-script-checks", Bool, "Enables health check scripts."),
    ("encrypt", Value, "Provides the gossip encryption key."),
    ("grpc-port", Value, "Sets the gRPC API port to listen on."),
    ("grpc-tls-port", Value, "Sets the gRPC-TLS API port to listen on."),
    ("hcl", Value, "hcl config fragment. Can be specified multiple times."),
    ("http-port", Value, "Sets the HTTP API port to listen on."),
    ("https-port", Value, "Sets the HTTPS API port to listen on."),
    ("join", Value, "Address of an agent to join at start time. Can be specified multiple times."),
    ("join-wan", Value, "Address of an agent to join -wan at start time. Can be specified multiple times."),
    ("log-file", Value, "Path to the file the logs get written to"),
    ("log-json", Bool, "Output logs in JSON format."),
    ("log-level", Value, "Log level of the agent."),
    ("log-rotate-bytes", Value, "Maximum number of bytes that should be written to a log file"),
    ("log-rotate-duration", Value, "Time after which log rotation needs to be performed"),
    ("log-rotate-max-files", Value, "Maximum number of log file archives to keep"),
    ("max-query-time", Value, "the maximum amount of time a blocking query can wait before Consul will force a response. Consul applies jitter to the wait time. The jittered time will be capped to MaxQueryTime."),
    ("node", Value, "Name of this node. Must be unique in the cluster."),
    ("node-id", Value, "A unique ID for this node across space and time. Defaults to a randomly-generated ID that persists in the data-dir."),
    ("node-meta", Value, "An arbitrary metadata key/value pair for this node, of the format `key:value`. Can be specified multiple times."),
    ("non-voting-server", Bool, "(Enterprise-only) DEPRECATED: -read-replica should be used instead"),
    ("pid-file", Value, "Path to file to store agent PID."),
    ("primary-gateway", Value, "Address of a mesh gateway in the primary datacenter to use to bootstrap WAN federation at start time with retries enabled. Can be specified multiple times."),
    ("protocol", Value, "Sets the protocol version. Defaults to latest."),
    ("raft-protocol", Value, "Sets the Raft protocol version. Defaults to latest."),
    ("read-replica", Bool, "(Enterprise-only) This flag is used to make the server not participate in the Raft quorum, and have it only receive the data replication stream. This can be used to add read scalability to a cluster in cases where a high volume of reads to servers are needed."),
    ("recursor", Value, "Address of an upstream DNS server. Can be specified multiple times."),
    ("rejoin", Bool, "Ignores a previous leave and attempts to rejoin the cluster."),
    ("retry-interval", Value, "Time to wait between join attempts."),
    ("retry-interval-wan", Value, "Time to wait between join -wan attempts."),
    ("retry-join", Value, "Address of an agent to join at start time with retries enabled. Can be specified multiple times."),
    ("retry-join-wan", Value, "Address of an agent to join -wan at start time with retries enabled. Can be specified multiple times."),
    ("retry-max", Value, "Maximum number of join attempts. Defaults to 0, which will retry indefinitely."),
    ("retry-max-wan", Value, "Maximum number of join -wan attempts. Defaults to 0, which will retry indefinitely."),
    ("segment", Value, "(Enterprise-only) Sets the network segment to join."),
    ("serf-lan-allowed-cidrs", Value, "Networks (eg: 192.168.1.0/24) allowed for Serf LAN. Can be specified multiple times."),
    ("serf-lan-bind", Value, "Address to bind Serf LAN listeners to."),
    ("serf-lan-port", Value, "Sets the Serf LAN port to listen on."),
    ("serf-wan-allowed-cidrs", Value, "Networks (eg: 192.168.1.0/24) allowed for Serf WAN (other datacenters). Can be specified multiple times."),
    ("serf-wan-bind", Value, "Address to bind Serf WAN listeners to."),
    ("serf-wan-port", Value, "Sets the Serf WAN port to listen on."),
    ("server", Bool, "Switches agent to server mode."),
    ("server-port", Value, "Sets the server port to listen on."),
    ("shards", Value, "(Tribune) Number of shard cores, one pinned thread each. Defaults to every core the process may run on."),
    ("syslog", Bool, "Enables logging to syslog."),
    ("ui", Bool, "Enables the built-in static web UI server."),
    ("ui-content-path", Value, "Sets the external UI path to a string. Defaults to: /ui/ "),
    ("ui-dir", Value, "Path to directory containing the web UI resources."),
];

/// Flags accepted without an effect yet (the agent says so once at start).
pub const NOT_ACTED_ON: &[&str] = &[
    "advertise",
    "advertise-wan",
    "allow-write-http-from",
    "auto-reload-config",
    "check_output_max_size",
    "default-query-time",
    "disable-host-node-id",
    "grpc-port",
    "grpc-tls-port",
    "max-query-time",
    "node-meta",
    "non-voting-server",
    "primary-gateway",
    "protocol",
    "raft-protocol",
    "read-replica",
    "retry-interval-wan",
    "retry-max",
    "retry-max-wan",
    "segment",
    "serf-lan-allowed-cidrs",
    "serf-lan-bind",
    "serf-wan-allowed-cidrs",
    "serf-wan-bind",
];

/// The names of the boolean flags and of those taking a value, for `flags::parse`.
pub fn spec() -> (Vec<&'static str>, Vec<&'static str>) {
    let of = |kind: Kind| {
        AGENT_FLAGS
            .iter()
            .filter(move |(_, k, _)| *k == kind)
            .map(|(n, _, _)| *n)
            .collect()
    };
    (of(Bool), of(Value))
}

pub fn flag_spec<'a>(names: &'a (Vec<&'static str>, Vec<&'static str>)) -> FlagSpec<'a> {
    FlagSpec {
        bools: &names.0,
        values: &names.1,
    }
}

const HELP: &str = "Usage: tribune agent [options]

  Starts the Consul agent and runs until an interrupt is received. The
  agent represents a single node in a cluster.";

/// `tribune agent -h`, laid out as Consul's `flags.Usage` lays it out.
pub fn usage() -> String {
    let flag = |(name, kind, text): &(&str, Kind, &str)| {
        let example = match (kind, text.find('`')) {
            (Bool, _) => String::new(),
            (Value, Some(open)) => {
                let rest = &text[open + 1..];
                let close = rest.find('`').unwrap_or(rest.len());
                format!("=<{}>", &rest[..close])
            }
            (Value, None) if *name == "config-format" => "=<string>".into(),
            (Value, None) => "=<value>".into(),
        };
        format!("  -{name}{example}\n{}\n", super::flags::wrap(text, 5))
    };
    let mut out = format!("{HELP}\n\nHTTP API Options\n\n");
    for f in AGENT_FLAGS.iter().filter(|f| f.0 == "datacenter") {
        out.push_str(&flag(f));
        out.push('\n');
    }
    out.push_str("Command Options\n\n");
    for f in AGENT_FLAGS.iter().filter(|f| f.0 != "datacenter") {
        out.push_str(&flag(f));
        out.push('\n');
    }
    out.trim_end().to_string()
}
