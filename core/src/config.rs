//! Agent configuration and every limit the agent enforces.
//!
//! Limits live here, in one place, so that their relations can be checked by `const`
//! assertions and so that nobody has to hunt for a magic number in a handler.

use std::net::IpAddr;
use std::path::PathBuf;

/// Largest KV value accepted (`limits.kv_max_value_size`, Consul's default, 512 KiB).
pub const KV_VALUE_BYTES_MAX: usize = 512 * 1024;
/// Largest `/v1/txn` body (`limits.txn_max_req_len`, Consul's default).
pub const TXN_BODY_BYTES_MAX: usize = 512 * 1024;
/// Most operations in one transaction (Consul: `maxTxnOps`).
pub const TXN_OPS_MAX: usize = 128;
/// Longest lock-delay a session may set (Consul caps it at 60 s).
pub const LOCK_DELAY_MAX_MS: u64 = 60_000;
/// Body limit of every route that declares no larger one (`http::route::Route::spec`).
pub const BODY_BYTES_DEFAULT_MAX: usize = 64 * 1024;
/// Longest KV key we accept. Consul has no explicit cap below Raft's entry size; we cap keys so
/// that one request cannot make every list response huge. Over it: 400 (see `http::kv_api`).
pub const KV_KEY_BYTES_MAX: usize = 8 * 1024;
/// Largest request head (request line + headers) hyper will buffer before answering 431.
pub const HTTP_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Bytes read from an HTTP connection at a time (the fast path's buffer grows by this much).
pub const HTTP_READ_CHUNK_BYTES: usize = 8 * 1024;
/// A whole body up to this size is copied behind its head so both go in one write; a larger
/// one is written after it without the copy.
pub const HTTP_COPIED_BODY_BYTES_MAX: usize = 16 * 1024;
/// Most headers in a request head (hyper's default): more get 431.
pub const HTTP_HEADERS_MAX: usize = 100;
/// A client must finish sending its request head within this time (slowloris guard).
pub const HTTP_HEAD_TIMEOUT_MS: u64 = 10_000;
/// HTTP connections one shard serves at once; more wait in the listen backlog. Room for the
/// 10,000 blocking watchers of the read-path target on a single shard.
pub const HTTP_CONNECTIONS_PER_SHARD_MAX: usize = 32 * 1024;
/// Resolved tokens each shard keeps (authorizers are built once per token; the cache is
/// emptied when the ACL table moves, or when full).
pub const ACL_CACHE_ENTRIES_MAX: usize = 4096;
/// Wire answers a shard's DNS cache holds (`dns::cache`); full, it starts again empty.
pub const DNS_CACHE_ENTRIES_MAX: usize = 4096;
/// Rendered catalog and health answers one shard keeps (`http::body_cache`), and their bytes.
pub const HTTP_BODY_CACHE_ENTRIES_MAX: usize = 4096;
pub const HTTP_BODY_CACHE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Longest cache key (path, query, token) whose answer is kept; longer ones are rendered anew.
pub const HTTP_BODY_CACHE_KEY_BYTES_MAX: usize = 1024;
/// Largest query (bytes after the ID) whose answer is cached; longer ones are answered afresh.
pub const DNS_CACHE_KEY_BYTES_MAX: usize = 512;
/// Orders kept of one shuffled answer (served in turn, so consecutive replies differ).
pub const DNS_CACHE_ORDERS: usize = 4;
/// Replies served from one set of shuffled orders before it is planned again with fresh
/// randomness: the encoding cost is spread over this many replies, and no order lasts.
pub const DNS_CACHE_SHUFFLED_REPLIES_MAX: u32 = 64;
/// UDP datagrams a DNS shard takes (and replies it sends) per system call.
pub const DNS_UDP_BATCH: usize = 32;
/// Longest UDP query read; a longer datagram is dropped (queries are a few dozen bytes, and
/// EDNS options in practice a few hundred).
pub const DNS_UDP_QUERY_BYTES_MAX: usize = 4096;
/// Most bytes of an oversized body read and discarded before answering 413, so a client that
/// is still sending sees the answer instead of a reset.
pub const HTTP_BODY_DRAIN_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Check output kept (`check_output_max_size`, Consul's default).
pub const CHECK_OUTPUT_BYTES_MAX: usize = 4096;
/// Anti-entropy full sync period (`ae_interval`, for clusters up to 128 nodes).
pub const ANTI_ENTROPY_INTERVAL_MS: u64 = 60_000;
/// A failed anti-entropy round is retried after this (not a full interval later).
pub const SYNC_RETRY_MS: u64 = 3_000;
/// Anti-entropy writes of one round in flight at once: enough to fill the Raft core's group
/// commits, bounded so that a full resync of a large node does not flood the proposal queue.
pub const SYNC_WRITES_IN_FLIGHT: usize = 64;
/// After a local change the TTL scan waits this long, so that a burst of registrations costs
/// one O(checks) scan rather than one per registration (a TTL expires at most this late).
pub const TTL_SCAN_COALESCE_MS: u64 = 100;
/// Default shortest period between an agent's coordinate updates
/// (`sync_coordinate_interval_min`, Consul's 15 s).
pub const COORDINATE_SYNC_INTERVAL_MIN_MS: u64 = 15_000;
/// Default coordinate updates per second the whole cluster aims at
/// (`sync_coordinate_rate_target`): each agent's period grows with the LAN pool so that
/// their sum stays near this.
pub const COORDINATE_RATE_TARGET: f64 = 64.0;
/// Depth of each core's inbox ring. A full ring answers 503 rather than growing.
pub const INBOX_DEPTH: usize = 16 * 1024;
/// Depth of the Raft core's proposal queue.
pub const PROPOSAL_QUEUE_DEPTH: usize = 16 * 1024;
/// Most proposals folded into one group commit (one write + one fdatasync).
pub const PROPOSALS_PER_BATCH_MAX: usize = 4096;
/// A log segment is closed and a new one started past this size.
pub const LOG_SEGMENT_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Largest state the Raft core snapshots (the encoded state machine; beyond it compaction
/// stops, is retried at each `raft_snapshot_interval`, and the log grows).
pub const RAFT_SNAPSHOT_BYTES_MAX: usize = 1024 * 1024 * 1024;
/// Longest single log record: a snapshot record of the largest state, with room (an entry is
/// far smaller: a txn of 128 ops of 512 KiB values).
pub const LOG_RECORD_BYTES_MAX: usize = RAFT_SNAPSHOT_BYTES_MAX + 16 * 1024 * 1024;
/// Blocking queries: default wait when only `index` is given (`default_query_time`).
pub const QUERY_WAIT_DEFAULT_MS: u64 = 300_000;
/// Blocking queries: longest wait honoured (`max_query_time`).
pub const QUERY_WAIT_MAX_MS: u64 = 600_000;
/// Raft logical tick.
pub const RAFT_TICK_MS: u64 = 100;

/// Longest gossip member (node) name accepted from the wire.
pub const GOSSIP_NAME_BYTES_MAX: usize = 128;
/// Most tags one member may carry, and the longest tag key or value.
pub const GOSSIP_TAGS_MAX: usize = 32;
pub const GOSSIP_TAG_BYTES_MAX: usize = 512;
/// Largest gossip datagram we send (memberlist's safe UDP payload).
pub const GOSSIP_PACKET_BYTES_MAX: usize = 1400;
/// Largest datagram we accept (anything longer is dropped and counted).
pub const GOSSIP_PACKET_RECV_BYTES_MAX: usize = 65_507;
/// Pending broadcasts kept; beyond it the most-sent one is dropped (a flooding member cannot
/// make us grow without bound).
pub const GOSSIP_BROADCAST_QUEUE_MAX: usize = 16 * 1024;
/// Largest push-pull stream body, and most member states one peer may send.
pub const GOSSIP_PUSH_PULL_BYTES_MAX: usize = 32 * 1024 * 1024;
pub const GOSSIP_MEMBERS_MAX: usize = 200_000;
/// A push-pull stream must complete within this.
pub const GOSSIP_STREAM_TIMEOUT_MS: u64 = 10_000;

/// Consul's `raft_snapshot_threshold` default.
pub const RAFT_SNAPSHOT_THRESHOLD_DEFAULT: u64 = 16_384;
/// Consul's `raft_snapshot_interval` default: how often the Raft core checks whether
/// `raft_snapshot_threshold` entries have gone by (jittered up to twice this, as raft's).
pub const RAFT_SNAPSHOT_INTERVAL_DEFAULT_MS: u64 = 30_000;
/// Log bytes written since the last compaction that start a snapshot without waiting for
/// the interval (once past the threshold): bounds the log, and the entries it keeps in memory,
/// under a sustained write load.
pub const RAFT_LOG_BYTES_BEFORE_SNAPSHOT: u64 = 128 * 1024 * 1024;
/// Largest snapshot `PUT /v1/snapshot` accepts (it is committed as one log entry).
pub const SNAPSHOT_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Largest user event payload (serf's `UserEventSizeLimit`).
pub const USER_EVENT_PAYLOAD_MAX: usize = 512;
/// Longest user event filter (node, service or tag regular expression) we gossip.
pub const USER_EVENT_FILTER_BYTES_MAX: usize = 128;
/// User events an agent keeps for `/v1/event/list` (Consul keeps 256).
pub const USER_EVENTS_KEPT: usize = 256;
/// Largest gossip query payload or answer (a keyring operation: a key, or a member's keys).
pub const GOSSIP_QUERY_PAYLOAD_MAX: usize = 1024;
/// Most keys a keyring holds: a list answer of this many keys fits `GOSSIP_QUERY_PAYLOAD_MAX`.
pub const KEYRING_KEYS_MAX: usize = 16;
/// A gossip query (keyring operation) waits this long for members' answers; memberlist's
/// default query timeout for a small pool (gossip interval × 16 × ceil(log10(N+1))).
pub const GOSSIP_QUERY_TIMEOUT_MS: u64 = 3_200;
/// Largest RPC frame (a Raft append batch, a forwarded request or answer).
pub const RPC_FRAME_BYTES_MAX: usize = 96 * 1024 * 1024;
/// Largest Raft message frame: a snapshot sent whole to a follower (raft-rs's `MsgSnapshot`
/// carries the record). Only Raft frames may be this long.
pub const RPC_RAFT_FRAME_BYTES_MAX: usize = LOG_RECORD_BYTES_MAX + 16 * 1024 * 1024;
/// Most headers carried on a forwarded HTTP request or answer.
pub const RPC_HEADERS_MAX: usize = 32;
/// Forwarding connections kept idle per server, per shard. A connection carries one request
/// at a time, so this is the concurrency forwarding sustains without dialing a new one: at 8,
/// 64 concurrent writes through a follower dialed for most requests and ran at 2,284/s
/// (p99 171 ms); at 128, 13,673/s (p99 14 ms) (`FOLLOWER=1 bash perf/kv-write-3-servers.sh`).
pub const RPC_IDLE_CONNS_MAX: usize = 128;
/// Connecting to a server (or a Raft peer) gives up after this.
pub const RPC_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Raft messages queued for the transport; beyond it they are dropped (Raft retries).
pub const RAFT_OUTBOX_DEPTH: usize = 64 * 1024;
/// A proposal forwarded to the leader that has not been applied here after this fails with a
/// timeout (it may still commit, as with Consul's RPC timeouts).
pub const PROPOSAL_TIMEOUT_MS: u64 = 10_000;
/// Log lines queued for one `monitor` reader; a reader slower than the log loses (and is
/// told the count of) what does not fit, so the agent never waits on it (Consul's 512).
pub const MONITOR_QUEUE_LINES: usize = 512;
/// Reload requests waiting for the agent's main thread; more answer 429.
pub const RELOAD_QUEUE_DEPTH: usize = 4;
/// A log snapshot still being assembled after this long is reported (once) in the log.
pub const SNAPSHOT_STALL_WARNING_MS: u64 = 30_000;
/// A shard's snapshot export (a copy of its state, during which it applies nothing) this long
/// is logged at info.
pub const SNAPSHOT_EXPORT_SLOW_MS: u64 = 100;

const _: () = assert!(LOG_RECORD_BYTES_MAX < RPC_RAFT_FRAME_BYTES_MAX);
const _: () = assert!(RPC_RAFT_FRAME_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(TXN_BODY_BYTES_MAX * 2 < RPC_FRAME_BYTES_MAX);
const _: () = assert!(SNAPSHOT_BYTES_MAX + 4096 < RPC_FRAME_BYTES_MAX);
const _: () = assert!(SNAPSHOT_BYTES_MAX <= RAFT_SNAPSHOT_BYTES_MAX);
const _: () = assert!(GOSSIP_NAME_BYTES_MAX * 3 + 64 < GOSSIP_PACKET_BYTES_MAX);
// A user event always fits one packet (name, id, three filters, payload, headers).
const _: () = assert!(
    USER_EVENT_PAYLOAD_MAX + USER_EVENT_FILTER_BYTES_MAX * 3 + GOSSIP_NAME_BYTES_MAX + 64 + 40
        < GOSSIP_PACKET_BYTES_MAX
);
// A query and its answer always fit one packet.
const _: () =
    assert!(GOSSIP_QUERY_PAYLOAD_MAX + GOSSIP_NAME_BYTES_MAX * 2 + 64 < GOSSIP_PACKET_BYTES_MAX);
// A list answer: the keys (44 base64 characters + 2 bytes of length each), the primary and a
// message of at most 200 bytes (`gossip::keyring_query`).
const _: () = assert!((KEYRING_KEYS_MAX + 1) * 46 + 200 + 8 < GOSSIP_QUERY_PAYLOAD_MAX);
const _: () = assert!(KV_VALUE_BYTES_MAX <= TXN_BODY_BYTES_MAX);
const _: () = assert!(TXN_BODY_BYTES_MAX < HTTP_BODY_DRAIN_BYTES_MAX);
const _: () = assert!(TXN_BODY_BYTES_MAX * 2 < LOG_RECORD_BYTES_MAX);
const _: () = assert!(PROPOSALS_PER_BATCH_MAX <= PROPOSAL_QUEUE_DEPTH);
const _: () = assert!(QUERY_WAIT_DEFAULT_MS <= QUERY_WAIT_MAX_MS);

/// Validated configuration of one agent, built by `cli::agent` from flags.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `-dev`: in-memory server that elects itself; nothing is kept.
    pub dev: bool,
    /// `-server`.
    pub server: bool,
    /// `-node`, default the host name.
    pub node_name: String,
    /// Random per data dir (persisted in `<data_dir>/node-id`), random per run in dev mode.
    pub node_id: String,
    /// `-datacenter`, default `dc1`.
    pub datacenter: String,
    /// `-bind`: cluster address (Raft/gossip); also what `/v1/status/leader` reports.
    pub bind_addr: IpAddr,
    /// `-client`: where HTTP and DNS listen.
    pub client_addr: IpAddr,
    /// `-http-port` (8500).
    pub http_port: u16,
    /// `ports.https` / `-https-port` (-1: no HTTPS listener, Consul's default).
    pub https_port: i32,
    /// TLS for the HTTPS listener: `tls.https`, then `tls.defaults`, then the top-level keys.
    pub https_tls: TlsConfig,
    /// `-dns-port` (8600, `-1` disables; DNS itself arrives with the DNS issue).
    pub dns_port: i32,
    /// `ports.server` (8300).
    pub server_port: u16,
    /// `-data-dir`; `None` in dev mode.
    pub data_dir: Option<PathBuf>,
    /// Number of shard cores. Default: every core the process may run on.
    pub shards: usize,
    /// `acl.default_policy`, reported in `X-Consul-Default-ACL-Policy`.
    pub acl_default_policy: String,
    /// `acl.enabled`: every request is checked against its token. Off: no check at all.
    pub acl_enabled: bool,
    /// `acl.down_policy` (`extend-cache`): a client that cannot reach a server to resolve
    /// a token uses what it cached (`extend-cache`, `async-cache`), or allows/denies.
    pub acl_down_policy: String,
    /// `acl.token_ttl` (30 s): how long a client agent trusts a token it resolved.
    pub acl_token_ttl_ms: u64,
    /// `acl.enable_token_persistence`: tokens set over the API survive a restart
    /// (`<data_dir>/acl-tokens.json`).
    pub acl_enable_token_persistence: bool,
    /// `acl.enable_key_list_policy`: recursive KV reads also need `key:list`.
    pub acl_enable_key_list_policy: bool,
    /// `acl.tokens.*` from the configuration (the API may change them at run time).
    pub acl_tokens: crate::acl::model::AgentTokens,
    /// `primary_datacenter` (default: this datacenter).
    pub primary_datacenter: Option<String>,
    /// `-enable-script-checks`: allow script checks registered over HTTP.
    pub enable_script_checks: bool,
    /// `enable_local_script_checks`: allow script checks from config files only.
    pub enable_local_script_checks: bool,
    /// `domain` (with a trailing dot), default `consul.`.
    pub domain: String,
    /// `alt_domain`, answered like `domain`.
    pub alt_domain: Option<String>,
    /// `recursors` / `-recursor`: where names outside the domain go.
    pub recursors: Vec<std::net::SocketAddr>,
    /// `dns_config`.
    pub dns: crate::dns::plan::DnsConfig,
    /// Services (with their checks) from config files, registered at start.
    pub services: Vec<(crate::catalog::ServiceDef, Vec<crate::agent::CheckSpec>)>,
    /// Standalone checks from config files, registered at start.
    pub checks: Vec<crate::agent::CheckSpec>,
    /// `ports.serf_lan` (8301) and `ports.serf_wan` (8302).
    pub serf_lan_port: u16,
    pub serf_wan_port: u16,
    /// `-bootstrap-expect`: servers to wait for before bootstrapping (0 = join a cluster).
    pub bootstrap_expect: u32,
    /// `-join` / `start_join`: joined once at start.
    pub start_join: Vec<String>,
    /// `-retry-join` / `retry_join`: joined until one answers.
    pub retry_join: Vec<String>,
    /// `-join-wan` / `start_join_wan` and `-retry-join-wan` / `retry_join_wan` (servers).
    pub start_join_wan: Vec<String>,
    pub retry_join_wan: Vec<String>,
    /// `-retry-interval`.
    pub retry_interval_ms: Option<u64>,
    /// `encrypt`: the gossip key (`None` = plaintext gossip).
    pub encrypt: Option<crate::gossip::crypto::Key>,
    /// `rejoin_after_leave`: rejoin previous members after a graceful leave and restart.
    pub rejoin_after_leave: bool,
    /// `disable_keyring_file`: the keyring lives in memory only (`encrypt` at every start).
    pub disable_keyring_file: bool,
    /// `disable_coordinates`: no Vivaldi coordinates (`/v1/coordinate` answers 401).
    pub disable_coordinates: bool,
    /// `ui` / `ui_config`: the web UI (on in dev mode, as Consul).
    pub ui: UiConfig,
    /// `sync_coordinate_interval_min` (one of Consul's non-user keys; tests shorten it).
    pub coordinate_sync_interval_min_ms: u64,
    /// `sync_coordinate_rate_target` (updates per second, cluster-wide).
    pub coordinate_rate_target: f64,
    /// `leave_on_terminate` (SIGTERM leaves gracefully; default false, true for clients).
    pub leave_on_terminate: Option<bool>,
    /// `skip_leave_on_interrupt` (SIGINT leaves unless set; default true for servers).
    pub skip_leave_on_interrupt: Option<bool>,
    /// `raft_snapshot_threshold`: entries applied since the last snapshot before the Raft log
    /// is compacted into a new one (Consul's default, 16384).
    pub raft_snapshot_threshold: u64,
    /// `raft_snapshot_interval`: how often that is checked (Consul's default, 30 s).
    pub raft_snapshot_interval_ms: u64,
    /// TLS for server RPC.
    pub tls: TlsConfig,
    /// The `autopilot { ... }` block: what the leader writes as autopilot's configuration when
    /// the replicated state has none (operators change it through the API afterwards).
    pub autopilot: crate::operator::AutopilotConfig,
    /// Where and how the agent logs (`io::logging`).
    pub log: LogConfig,
    /// `pid_file` / `-pid-file`: written at start, removed at exit.
    pub pid_file: Option<PathBuf>,
    /// `telemetry { ... }`.
    pub telemetry: TelemetryConfig,
    /// `watches` from the config files, as written (checked and run by `cli::watch`).
    pub watches: Vec<serde_json::Value>,
}

/// `telemetry`: how metrics are named and where they go.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryConfig {
    /// `metrics_prefix` (`consul`).
    pub metrics_prefix: String,
    /// `disable_hostname`: gauges without the host name after the prefix.
    pub disable_hostname: bool,
    /// `prometheus_retention_time`: Prometheus output is served only when positive.
    pub prometheus_retention_ms: u64,
    /// `statsd_address`, `dogstatsd_addr`: where each interval is sent.
    pub statsd_address: Option<String>,
    pub dogstatsd_addr: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            metrics_prefix: "consul".into(),
            disable_hostname: false,
            prometheus_retention_ms: 0,
            statsd_address: None,
            dogstatsd_addr: None,
        }
    }
}

/// `log_level`, `log_json`, `log_file` and its rotation, `enable_syslog`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `trace`, `debug`, `info`, `warn` or `error` (checked where it is read).
    pub level: String,
    pub json: bool,
    /// `log_file`: a directory (`consul.log` in it) or a file path.
    pub file: Option<PathBuf>,
    /// `log_rotate_duration` (24 h).
    pub rotate_duration_ms: u64,
    /// `log_rotate_bytes` (0: no size limit).
    pub rotate_bytes: u64,
    /// `log_rotate_max_files` (0: keep all rotated files; -1: keep none).
    pub rotate_max_files: i64,
    /// `enable_syslog`, with `syslog_facility` (`LOCAL0`).
    pub syslog: bool,
    pub syslog_facility: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            json: false,
            file: None,
            rotate_duration_ms: 24 * 3600 * 1000,
            rotate_bytes: 0,
            rotate_max_files: 0,
            syslog: false,
            syslog_facility: "LOCAL0".into(),
        }
    }
}

/// TLS for server RPC: `tls { defaults {...}, internal_rpc {...} }` or Consul's deprecated
/// top-level keys (`ca_file`, `cert_file`, `key_file`, `verify_*`). See `io::rpc_tls`.
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    pub ca_file: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    pub verify_incoming: bool,
    pub verify_outgoing: bool,
    pub verify_server_hostname: bool,
    /// `tls_min_version`: `TLSv1_2` or `TLSv1_3` (older ones are raised to 1.2, which is the
    /// oldest rustls speaks). `None`: Consul's default, TLS 1.2.
    pub min_version: Option<String>,
    /// `tls_cipher_suites`: the TLS 1.2 suites allowed, by Consul's (IANA) names; empty: all.
    pub cipher_suites: Vec<String>,
}

impl AgentConfig {
    /// Dev-mode defaults, as `consul agent -dev` has them, on a host with this name and this
    /// many usable cores (`io::host` reads both; this file does no IO).
    pub fn dev_defaults(node_name: String, cores: usize) -> AgentConfig {
        AgentConfig {
            dev: true,
            server: true,
            node_name,
            node_id: String::new(),
            datacenter: "dc1".into(),
            bind_addr: IpAddr::from([127, 0, 0, 1]),
            client_addr: IpAddr::from([127, 0, 0, 1]),
            http_port: 8500,
            https_port: -1,
            https_tls: TlsConfig::default(),
            dns_port: 8600,
            server_port: 8300,
            data_dir: None,
            shards: cores,
            acl_default_policy: "allow".into(),
            acl_enabled: false,
            acl_down_policy: "extend-cache".into(),
            acl_token_ttl_ms: 30_000,
            acl_enable_token_persistence: false,
            acl_enable_key_list_policy: false,
            acl_tokens: Default::default(),
            primary_datacenter: None,
            enable_script_checks: false,
            enable_local_script_checks: false,
            domain: "consul.".into(),
            alt_domain: None,
            recursors: Vec::new(),
            dns: crate::dns::plan::DnsConfig::defaults("dc1"),
            services: Vec::new(),
            checks: Vec::new(),
            serf_lan_port: 8301,
            serf_wan_port: 8302,
            bootstrap_expect: 0,
            raft_snapshot_threshold: RAFT_SNAPSHOT_THRESHOLD_DEFAULT,
            raft_snapshot_interval_ms: RAFT_SNAPSHOT_INTERVAL_DEFAULT_MS,
            tls: TlsConfig::default(),
            start_join: Vec::new(),
            retry_join: Vec::new(),
            start_join_wan: Vec::new(),
            retry_join_wan: Vec::new(),
            retry_interval_ms: None,
            encrypt: None,
            rejoin_after_leave: false,
            disable_keyring_file: false,
            disable_coordinates: false,
            ui: UiConfig::default(),
            coordinate_sync_interval_min_ms: COORDINATE_SYNC_INTERVAL_MIN_MS,
            coordinate_rate_target: COORDINATE_RATE_TARGET,
            leave_on_terminate: None,
            skip_leave_on_interrupt: None,
            autopilot: crate::operator::AutopilotConfig::default(),
            log: LogConfig::default(),
            pid_file: None,
            telemetry: TelemetryConfig::default(),
            watches: Vec::new(),
        }
    }

    /// Servers bootstrap alone (dev mode, `-bootstrap`, `bootstrap_expect = 1`); others wait
    /// for `bootstrap_expect` servers or join an existing cluster.
    pub fn bootstraps_alone(&self) -> bool {
        self.server && (self.dev || self.bootstrap_expect == 1)
    }

    /// Checks relations between settings; the message is what the CLI prints.
    pub fn validate(&self) -> Result<(), String> {
        if !self.dev && self.data_dir.is_none() {
            return Err("data_dir cannot be empty".into());
        }
        if self.bootstrap_expect > 0 && !self.server {
            return Err("'bootstrap_expect > 0' requires 'server = true'".into());
        }
        if self.bootstrap_expect > 0 && self.dev {
            return Err("'bootstrap_expect > 0' not allowed in dev mode".into());
        }
        if self.datacenter.is_empty()
            || !self
                .datacenter
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(format!(
                "datacenter can only contain lowercase alphanumeric, - or _ characters. \
                 received: {:?}",
                self.datacenter
            ));
        }
        if self.shards == 0 || self.shards > 256 {
            return Err(format!(
                "shards must be between 1 and 256, got {}",
                self.shards
            ));
        }
        Ok(())
    }
}

/// `ui_config` (Consul §7.2): whether the agent serves the web UI, where (`content_path`,
/// always `/`-bounded), and from a directory instead of the built-in files (`dir`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiConfig {
    pub enabled: bool,
    pub dir: Option<std::path::PathBuf>,
    pub content_path: String,
    /// `metrics_provider`: kept for the page; only our own (`/v1/agent/metrics`) is drawn.
    pub metrics_provider: String,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            enabled: false,
            dir: None,
            content_path: "/ui/".into(),
            metrics_provider: String::new(),
        }
    }
}

/// `content_path` as Consul keeps it: a leading and a trailing `/`.
pub fn ui_content_path(raw: &str) -> String {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        format!("/{trimmed}/")
    }
}
