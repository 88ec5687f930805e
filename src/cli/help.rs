//! `-h` / `-help` / `--help` on every command: the usage is built from the flags the command
//! actually declares (its `FlagSpec`, so no flag can be missing from it), a description of
//! each flag and of each command, laid out as Consul's `flags.Usage` lays it out. An unknown
//! flag prints the error and the same usage, as Go's flag package does for Consul.

use std::cell::RefCell;

use super::flags::{wrap, FlagSpec};

thread_local! {
    /// The command being run (`kv put`), set by `cli::run` before it dispatches.
    static COMMAND: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records which command runs, for its usage.
pub fn set_command(path: &str) {
    COMMAND.with(|c| *c.borrow_mut() = path.to_string());
}

/// Every command path the CLI knows (`kv put`), for shell completion.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|(p, _, _)| *p)
}

/// The command `args` name (`kv put` of `kv put -cas k v`): the longest run of leading words
/// that names a command, else the first word.
pub fn command_path(args: &[String]) -> String {
    let words: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    (1..=words.len().min(3))
        .rev()
        .map(|n| words[..n].join(" "))
        .find(|path| COMMANDS.iter().any(|(p, _, _)| p == path))
        .unwrap_or_else(|| words.first().map(|w| w.to_string()).unwrap_or_default())
}

fn command() -> String {
    COMMAND.with(|c| c.borrow().clone())
}

/// (command, arguments after the options, description).
const COMMANDS: &[(&str, &str, &str)] = &[
    ("acl", "<subcommand>", "Create, update, read, list and delete ACL policies, roles, tokens, auth methods and binding rules, and bootstrap the ACL system."),
    ("acl policy", "<subcommand>", "Manages ACL policies."),
    ("acl token", "<subcommand>", "Manages ACL tokens."),
    ("acl role", "<subcommand>", "Manages ACL roles."),
    ("acl auth-method", "<subcommand>", "Manages ACL auth methods."),
    ("acl binding-rule", "<subcommand>", "Manages ACL binding rules."),
    ("snapshot", "<subcommand>", "Saves, restores and inspects snapshots of the servers' state."),
    ("tls", "<subcommand>", "Builtin helpers for creating CAs and certificates."),
    ("tls ca", "<subcommand>", "Helpers for certificate authorities."),
    ("tls cert", "<subcommand>", "Helpers for certificates."),
    ("operator raft", "<subcommand>", "Inspects and changes the Raft configuration."),
    ("operator autopilot", "<subcommand>", "Inspects and changes Autopilot's configuration."),
    ("acl bootstrap", "", "Bootstraps the ACL system and prints the initial management token."),
    ("acl policy create", "", "Creates a new ACL policy."),
    ("acl policy update", "", "Updates an ACL policy, by -id or -name."),
    ("acl policy read", "", "Reads an ACL policy, by -id or -name."),
    ("acl policy list", "", "Lists every ACL policy."),
    ("acl policy delete", "", "Deletes an ACL policy, by -id or -name."),
    ("acl token create", "", "Creates a new ACL token."),
    ("acl token update", "", "Updates an ACL token."),
    ("acl token read", "", "Reads an ACL token, by -accessor-id or -self."),
    ("acl token clone", "", "Clones an ACL token."),
    ("acl token list", "", "Lists every ACL token."),
    ("acl token delete", "", "Deletes an ACL token."),
    ("acl role create", "", "Creates a new ACL role."),
    ("acl role update", "", "Updates an ACL role."),
    ("acl role read", "", "Reads an ACL role, by -id or -name."),
    ("acl role list", "", "Lists every ACL role."),
    ("acl role delete", "", "Deletes an ACL role."),
    ("acl auth-method create", "", "Creates a new ACL auth method."),
    ("acl auth-method update", "", "Updates an ACL auth method."),
    ("acl auth-method read", "", "Reads an ACL auth method."),
    ("acl auth-method list", "", "Lists every ACL auth method."),
    ("acl auth-method delete", "", "Deletes an ACL auth method."),
    ("acl binding-rule create", "", "Creates a new ACL binding rule."),
    ("acl binding-rule update", "", "Updates an ACL binding rule."),
    ("acl binding-rule read", "", "Reads an ACL binding rule."),
    ("acl binding-rule list", "", "Lists every ACL binding rule."),
    ("acl binding-rule delete", "", "Deletes an ACL binding rule."),
    ("acl set-agent-token", "TYPE TOKEN", "Sets one of the agent's ACL tokens (default, agent, agent_recovery, replication, config_file_service_registration, dns)."),
    ("login", "", "Exchanges a bearer token for a Consul ACL token through an auth method."),
    ("logout", "", "Destroys the ACL token created by login."),
    ("catalog", "<subcommand>", "Interacts with the catalog: datacenters, nodes and services."),
    ("catalog datacenters", "", "Lists the known datacenters, nearest first."),
    ("catalog nodes", "", "Lists the nodes of the catalog."),
    ("catalog services", "", "Lists the services of the catalog."),
    ("services", "<subcommand>", "Registers and deregisters services with the local agent."),
    ("services register", "[FILE...]", "Registers a service with the local agent, from flags or definition files."),
    ("services deregister", "[FILE...]", "Deregisters a service from the local agent, by -id or definition files."),
    ("kv", "<subcommand>", "Interacts with the key-value store."),
    ("kv get", "[KEY_OR_PREFIX]", "Retrieves the value of a key, or the keys and values under a prefix."),
    ("kv put", "KEY [DATA]", "Writes DATA (or the contents of @FILE, or stdin for -) at KEY."),
    ("kv delete", "KEY_OR_PREFIX", "Removes a key, or every key under a prefix with -recurse."),
    ("kv export", "[PREFIX]", "Exports the keys under PREFIX as JSON for kv import."),
    ("kv import", "[DATA]", "Imports keys from the JSON kv export wrote (a file with @FILE, or stdin)."),
    ("members", "", "Lists the members of the cluster as this agent sees them."),
    ("join", "ADDRESS...", "Tells the agent to join the cluster through the given addresses."),
    ("leave", "", "Causes the agent to leave the cluster gracefully and shut down."),
    ("force-leave", "NODE", "Forces a member of the cluster to enter the \"left\" state."),
    ("reload", "", "Causes the agent to reload its configuration files."),
    ("monitor", "", "Shows recent log messages of a Consul agent, and attaches to the agent, outputting log messages as they occur in real time."),
    ("config", "<subcommand>", "Interacts with Consul's centralized configuration entries."),
    ("config write", "FILE_OR_-", "Writes the config entry in FILE (JSON or HCL; - reads stdin)."),
    ("config read", "", "Reads the config entry of -kind named -name."),
    ("config list", "", "Lists the names of the config entries of -kind."),
    ("config delete", "", "Deletes the config entry of -kind named -name."),
    ("debug", "", "Monitors a Consul agent for the specified period of time, recording information about the agent, cluster, and environment to an archive written to the current directory."),
    ("maint", "", "Enables or disables maintenance mode for the node or a service."),
    ("info", "", "Provides debugging information for operators."),
    ("keygen", "", "Generates a new 32-byte gossip encryption key."),
    ("keyring", "", "Manages the gossip encryption keys of the cluster."),
    ("rtt", "NODE1 [NODE2]", "Estimates the network round trip time between two nodes."),
    ("event", "[PAYLOAD]", "Dispatches a custom user event across the datacenter."),
    ("lock", "PREFIX CHILD", "Runs CHILD while holding a lock (or, with -n, a semaphore slot) on PREFIX."),
    ("watch", "[CHILD]", "Watches for changes in a view of the data and runs CHILD (or prints) on each."),
    ("operator", "<subcommand>", "Provides cluster-level tools for Consul operators."),
    ("operator raft list-peers", "", "Displays the current Raft peer configuration."),
    ("operator raft remove-peer", "", "Removes a server from the Raft configuration."),
    ("operator raft transfer-leader", "", "Transfers Raft leadership to another server."),
    ("operator autopilot get-config", "", "Displays the current Autopilot configuration."),
    ("operator autopilot set-config", "", "Modifies the current Autopilot configuration."),
    ("operator autopilot state", "", "Displays the current Autopilot state."),
    ("snapshot save", "FILE", "Retrieves an atomic, point-in-time snapshot of the state of the servers."),
    ("snapshot restore", "FILE", "Restores an atomic, point-in-time snapshot of the state of the servers."),
    ("snapshot inspect", "FILE", "Displays information about a snapshot file on disk."),
    ("tls ca create", "", "Creates a new certificate authority."),
    ("tls cert create", "", "Creates a new certificate signed by the CA."),
    ("validate", "FILE_OR_DIRECTORY...", "Performs a thorough sanity test on the agent's configuration files."),
];

/// What each flag means (and its default when it has one), whatever command declares it.
const FLAGS: &[(&str, &str)] = &[
    ("http-addr", "The `address` and port of the Consul HTTP agent. The value can be an IP address or DNS address, but it must also include the port. This can also be specified via the CONSUL_HTTP_ADDR environment variable. The default value is http://127.0.0.1:8500. The scheme can also be set to HTTPS by setting the environment variable CONSUL_HTTP_SSL=true."),
    ("token", "ACL token to use in the request. This can also be specified via the CONSUL_HTTP_TOKEN environment variable. If unspecified, the query will default to the token of the Consul agent at the HTTP address."),
    ("token-file", "File containing the ACL token to use in the request instead of one specified via the -token argument or CONSUL_HTTP_TOKEN environment variable. This can also be specified via the CONSUL_HTTP_TOKEN_FILE environment variable."),
    ("datacenter", "Name of the datacenter to query. If unspecified, this will default to the datacenter of the queried agent."),
    ("ca-file", "Path to a CA file to use for TLS when communicating with Consul. This can also be specified via the CONSUL_CACERT environment variable."),
    ("ca-path", "Path to a directory of CA certificates to use for TLS when communicating with Consul. This can also be specified via the CONSUL_CAPATH environment variable."),
    ("client-cert", "Path to a client cert file to use for TLS when 'verify_incoming' is enabled. This can also be specified via the CONSUL_CLIENT_CERT environment variable."),
    ("client-key", "Path to a client key file to use for TLS when 'verify_incoming' is enabled. This can also be specified via the CONSUL_CLIENT_KEY environment variable."),
    ("tls-server-name", "The server name to use as the SNI host when connecting via TLS. This can also be specified via the CONSUL_TLS_SERVER_NAME environment variable. (Tribune: accepted, not acted on yet: the address's host is the name checked.)"),
    ("stale", "Permit any Consul server (non-leader) to respond to this request. This allows for lower latency and higher throughput, but can result in stale data. This option has no effect on non-read operations. The default value is false."),
    ("format", "Output format: pretty or json. The default value is pretty."),
    ("id", "The ID of the object to act on (a UUID, or a unique prefix of one)."),
    ("name", "The name of the object to act on."),
    ("description", "A description of the object."),
    ("recurse", "Act on every key under the prefix instead of one key. The default value is false."),
    ("keys", "List the keys under the prefix instead of their values. The default value is false."),
    ("separator", "String to use as a separator between keys with -keys. The default value is \"/\"."),
    ("detailed", "Provide additional metadata about each item. The default value is false."),
    ("base64", "Treat the data as base 64 encoded. The default value is false."),
    ("cas", "Perform a check-and-set operation: the write happens only if the key's modify index is -modify-index. The default value is false."),
    ("modify-index", "The modify index the key must have for -cas. The default value is 0."),
    ("flags", "Unsigned integer value to assign to the key's flags. The default value is 0."),
    ("acquire", "Obtain a lock on the key with the session given by -session. The default value is false."),
    ("release", "Release the lock held on the key by the session given by -session. The default value is false."),
    ("session", "The ID of the session to acquire or release the lock with."),
    ("prefix", "Use the key as a prefix. The default value is false."),
    ("wan", "Act on the WAN (server) pool instead of the LAN pool. The default value is false."),
    ("segment", "(Enterprise-only) The network segment to act on."),
    ("partition", "(Enterprise-only) The admin partition to act on."),
    ("status", "Only show the members whose status matches this regular expression."),
    ("prune", "Remove the member from the member list entirely instead of leaving it in the \"left\" state. The default value is false."),
    ("node", "The node to act on, or to filter by."),
    ("node-meta", "Metadata to filter nodes by, of the form `key:value`. Can be specified multiple times."),
    ("near", "Node name to sort the result by round trip time from; `_agent` for the agent's own node."),
    ("filter", "A filter expression (go-bexpr syntax) the results must match."),
    ("service", "The service (name or ID) to act on."),
    ("tags", "Show the tags of each service. The default value is false."),
    ("tag", "Only the instances with this tag."),
    ("meta", "Metadata to add, of the form `key=value`. Can be specified multiple times."),
    ("address", "The address to act on (ip:port for Raft peers)."),
    ("port", "The port of the service."),
    ("kind", "The kind of the service, or of the config entry."),
    ("enable", "Enable maintenance mode. The default value is false."),
    ("disable", "Disable maintenance mode. The default value is false."),
    ("reason", "A text saying why maintenance mode is on."),
    ("log-level", "Log level of the agent. The default value is INFO."),
    ("log-json", "Output logs in JSON format. The default value is false."),
    ("cleanup-dead-servers", "Controls whether Consul will remove dead servers from the Raft peer list when a new server joins. Must be one of [true|false]."),
    ("last-contact-threshold", "Controls the maximum amount of time a server can go without contact from the leader before being considered unhealthy. Must be a duration value such as \"200ms\"."),
    ("max-trailing-logs", "Controls the maximum number of log entries that a server can trail the leader by before being considered unhealthy."),
    ("min-quorum", "Sets the minimum number of servers required in a cluster before autopilot can prune dead servers."),
    ("server-stabilization-time", "Controls the minimum amount of time a server must be stable in the 'healthy' state before being added to the cluster. Must be a duration value such as \"10s\"."),
    ("redundancy-zone-tag", "(Enterprise-only) Controls the node_meta tag name used for separating servers into different redundancy zones."),
    ("disable-upgrade-migration", "(Enterprise-only) Controls whether Consul will avoid promoting new servers until it can perform a migration. Must be one of [true|false]."),
    ("upgrade-version-tag", "(Enterprise-only) The node_meta tag to use for version info when performing upgrade migrations."),
    ("rules", "The policy rules, in HCL or JSON; @FILE reads them from a file."),
    ("from-file", "Read the policy rules from this file."),
    ("valid-datacenter", "A datacenter the policy is valid in. Can be specified multiple times."),
    ("policy-id", "The ID of a policy to link. Can be specified multiple times."),
    ("policy-name", "The name of a policy to link. Can be specified multiple times."),
    ("role-id", "The ID of a role to link. Can be specified multiple times."),
    ("role-name", "The name of a role to link. Can be specified multiple times."),
    ("service-identity", "A service identity to add, as `NAME[:DATACENTER1,DATACENTER2,...]`. Can be specified multiple times."),
    ("node-identity", "A node identity to add, as `NODENAME:DATACENTER`. Can be specified multiple times."),
    ("accessor", "The accessor ID of the token."),
    ("accessor-id", "The accessor ID of the token."),
    ("secret", "The secret ID of the token."),
    ("expires-ttl", "Duration of time this token should be valid for."),
    ("local", "Create the token only in this datacenter. The default value is false."),
    ("self", "Read the token the request is made with. The default value is false."),
    ("expanded", "Show the policies and roles the token links, expanded. The default value is false."),
    ("method", "The auth method to log in through, or of the binding rule."),
    ("bearer-token-file", "Path to a file holding the bearer token to log in with."),
    ("token-sink-file", "The file to write the token from login to."),
    ("n", "Optional limit on the number of concurrent lock holders (a semaphore). The default value is 1."),
    ("monitor-retry", "Number of times to retry if Consul returns a 500 error while monitoring the lock. The default value is 3."),
    ("pass-stdin", "Pass stdin to the child process. The default value is false."),
    ("shell", "Use a shell to run the command. The default value is true."),
    ("timeout", "Maximum amount of time to wait to acquire the lock."),
    ("try", "Attempt to acquire the lock up to the given timeout."),
    ("verbose", "Enable verbose (debugging) output. The default value is false."),
    ("child-exit-code", "Exit with the child's exit code (2 when the child was stopped by a lost lock). The default value is false."),
    ("install", "Install a new encryption key, as base 64."),
    ("use", "Change the primary encryption key to this one."),
    ("remove", "Remove this encryption key."),
    ("list", "List the installed keys. The default value is false."),
    ("list-primary", "List the primary keys in use. The default value is false."),
    ("local-only", "Act only on the local datacenter's LAN pool. The default value is false."),
    ("relay-factor", "Members to relay answers through (0 to 5). The default value is 0."),
    ("shard", "Number of the shard to act on."),
    ("type", "The watch type (key, keyprefix, services, nodes, service, checks, event)."),
    ("key", "The key to watch."),
    ("state", "The check state to watch."),
    ("passingonly", "Only passing instances. The default value is false."),
    ("days", "Provide number of days the certificate is valid for."),
    ("domain", "Domain of the cluster. The default value is \"consul\"."),
    ("dc", "Datacenter of the certificate. The default value is \"dc1\"."),
    ("server", "Generate a server certificate. The default value is false."),
    ("client", "Generate a client certificate. The default value is false."),
    ("cli", "Generate a CLI certificate. The default value is false."),
    ("ca", "The CA certificate to sign with. The default value is #DOMAIN#-agent-ca.pem."),
    ("key-file", "The CA key to sign with. The default value is #DOMAIN#-agent-ca-key.pem."),
    ("additional-dnsname", "An additional DNS name in the certificate. Can be specified multiple times."),
    ("additional-ipaddress", "An additional IP address in the certificate. Can be specified multiple times."),
    ("name-constraint", "Add name constraints for the CA. The default value is false."),
    ("quiet", "When given, a successful run produces no output. The default value is false."),
    ("duration", "The total time to record information. The default value is 2m."),
    ("interval", "The interval in which to capture dynamic information such as telemetry, and profiling. The default value is 30s."),
    ("output", "The path to the compressed archive that will be created with the information after collection."),
    ("capture", "One or more types of information to capture (agent, host, members, metrics, logs). Can be specified multiple times. The default is all of them."),
    ("archive", "Boolean value for if the captured information should be archived into a .tar.gz. The default value is true."),
    ("config-format", "The format of config files without an extension: 'hcl' or 'json'."),
    ("kvdetails", "Provides a detailed KV breakdown. The default value is false."),
    ("kvdepth", "The key prefix depth of the KV breakdown. The default value is 2."),
    ("kvfilter", "Only the keys with this prefix in the KV breakdown."),
    ("templated-policy", "The name of a templated policy to link. Can be specified multiple times."),
    ("var", "A variable of the templated policy, as `key:value`. Can be specified multiple times."),
    ("merge-policies", "Merge the new policies with the existing ones. The default value is false."),
    ("merge-roles", "Merge the new roles with the existing ones. The default value is false."),
    ("merge-service-identities", "Merge the new service identities with the existing ones. The default value is false."),
    ("merge-node-identities", "Merge the new node identities with the existing ones. The default value is false."),
    ("service-name", "The name of the service (services register), or to filter by."),
    ("common-name", "The common name of the CA certificate."),
    ("additional-name-constraint", "An additional name constraint for the CA. Can be specified multiple times."),
];

/// Flags printed under "HTTP API Options", as Consul's `flags.Usage` separates them: the
/// client flags every command takes (`client::HTTP_VALUE_FLAGS`) and `-stale`.
fn is_http_flag(name: &str) -> bool {
    super::client::HTTP_VALUE_FLAGS.contains(&name) || name == "stale"
}

fn flag_text(name: &str) -> &'static str {
    FLAGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or("")
}

/// The usage of a command that groups subcommands (`kv`, `acl token`), listing them; `None`
/// for one that takes flags (its own parser prints its usage).
pub fn group_usage(path: &str) -> Option<String> {
    let prefix = format!("{path} ");
    let subcommands: Vec<(&str, &str)> = COMMANDS
        .iter()
        .filter_map(|(p, _, text)| {
            let rest = p.strip_prefix(&prefix)?;
            Some((rest, *text))
        })
        .collect();
    if subcommands.is_empty() {
        return None;
    }
    let text = COMMANDS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, _, t)| *t)
        .unwrap_or("");
    let mut out = format!(
        "Usage: tribune {path} <subcommand> [options] [args]\n\n{}\n\nSubcommands:\n",
        wrap(text, 2)
    );
    let width = subcommands.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, text) in subcommands {
        let first = text
            .split(". ")
            .next()
            .unwrap_or(text)
            .trim_end_matches('.');
        out.push_str(&format!("    {name:<width$}    {first}\n"));
    }
    Some(out.trim_end().to_string())
}

/// The usage of the running command with exactly the flags of `spec`.
pub fn usage(spec: &FlagSpec) -> String {
    let path = command();
    let (args, text) = COMMANDS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, a, t)| (*a, *t))
        .unwrap_or(("", ""));
    let mut out = format!("Usage: tribune {path} [options] {args}")
        .trim_end()
        .to_string();
    if !text.is_empty() {
        out.push_str("\n\n");
        out.push_str(&wrap(text, 2));
    }
    let mut all: Vec<(&str, bool)> = spec
        .bools
        .iter()
        .map(|b| (*b, true))
        .chain(spec.values.iter().map(|v| (*v, false)))
        .collect();
    all.sort();
    all.dedup();
    let line = |(name, boolean): (&str, bool)| {
        let text = flag_text(name);
        let example = match (boolean, text.find('`')) {
            (true, _) => String::new(),
            (false, Some(open)) => {
                let rest = &text[open + 1..];
                format!("=<{}>", &rest[..rest.find('`').unwrap_or(rest.len())])
            }
            (false, None) => "=<value>".into(),
        };
        format!("  -{name}{example}\n{}", wrap(text, 5))
    };
    for (title, http) in [("HTTP API Options", true), ("Command Options", false)] {
        let section: Vec<String> = all
            .iter()
            .filter(|(n, _)| is_http_flag(n) == http)
            .map(|f| line(*f))
            .collect();
        if !section.is_empty() {
            out.push_str(&format!("\n\n{title}\n\n"));
            out.push_str(&section.join("\n\n"));
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_the_cli_declares_has_a_description() {
        // Every flag name that appears in a flag list of the CLI's sources.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let skipped = [
                "agent_flags.rs",
                "agent.rs",
                "help.rs",
                "flags.rs",
                "config_file.rs",
            ];
            if skipped.iter().any(|f| path.ends_with(f)) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for list in text.split("&[").skip(1) {
                let list = &list[..list.find(']').unwrap_or(0)];
                for name in list.split(',').filter_map(|i| {
                    let i = i.trim();
                    i.strip_prefix('"')?.strip_suffix('"')
                }) {
                    let flag_like = name.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                    if flag_like
                        && flag_text(name).is_empty()
                        && !missing.contains(&name.to_string())
                    {
                        missing.push(name.to_string());
                    }
                }
            }
        }
        // Word lists that are not flags (values of -format, token kinds, policies, ...).
        let not_flags = [
            "json",
            "pretty",
            "agent",
            "default",
            "replication",
            "master",
            "dns",
            "allow",
            "deny",
            "extend-cache",
            "async-cache",
            // debug's -capture targets
            "host",
            "members",
            "metrics",
            "logs",
        ];
        missing.retain(|m| !not_flags.contains(&m.as_str()));
        assert!(
            missing.is_empty(),
            "flags without a description: {missing:?}"
        );
    }

    #[test]
    fn usage_lists_the_declared_flags_in_consuls_sections() {
        set_command("kv get");
        let text = usage(&FlagSpec {
            bools: &["recurse", "stale"],
            values: &["http-addr", "separator"],
        });
        assert!(text.starts_with("Usage: tribune kv get [options] [KEY_OR_PREFIX]\n\n  Retrieves"));
        let http = text.find("HTTP API Options").unwrap();
        let command = text.find("Command Options").unwrap();
        assert!(http < command);
        assert!(text[http..command].contains("  -http-addr=<address>\n"));
        assert!(text[http..command].contains("  -stale\n"));
        assert!(text[command..].contains("  -recurse\n"));
        assert!(text[command..].contains("  -separator=<value>\n"));
    }
}
