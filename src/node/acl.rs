//! ACLs in the shell: a request's token resolved into an `acl::Identity` on the agent that
//! answers it, cached per shard, and the agent's own tokens.
//!
//! A server resolves from its own replica of the ACL table (every shard has one); its cache
//! is keyed by secret and emptied whenever the table's index moves, so a changed token,
//! policy or role is seen by the next request. A client agent keeps no table: it asks a
//! server (`/v1/internal/acl/resolve`, where the token itself is the credential) for the
//! token's rules, builds the same authorizer, and trusts it for `acl.token_ttl`; when no
//! server answers, `acl.down_policy` decides (`extend-cache`/`async-cache`: an expired entry
//! is still used; `allow`/`deny`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::acl::model::{AgentTokens, ANONYMOUS_ACCESSOR, ANONYMOUS_SECRET};
use crate::acl::{authorizer_from_texts, Identity, ResolveError};
use crate::config::{AgentConfig, ACL_CACHE_ENTRIES_MAX};
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::node::ctx::ShardCtx;

/// Resolved tokens on one shard.
#[derive(Default)]
pub struct AclCache {
    /// The ACL table index the entries were resolved at (servers).
    index: u64,
    /// Secret → identity and until when it may be used: on servers the token's expiry (ns,
    /// 0 = never), on client agents the end of `acl.token_ttl` (ms). foldhash:
    /// every request looks here, and SipHash was a visible part of that (perf/acl.sh).
    entries: HashMap<String, (Arc<Identity>, u64), foldhash::fast::RandomState>,
}

/// The accessor shown for the agent recovery token (it has none: it never leaves the agent).
const AGENT_RECOVERY_ACCESSOR: &str = "agent-recovery-token";

impl ShardCtx {
    /// The token this request acts with: its own, else the agent's `default` token, else
    /// the anonymous token (Consul §1.2).
    /// Borrowed when the request carries one (the hot path allocates nothing).
    pub fn effective_token<'r>(&self, req: &'r ApiRequest) -> std::borrow::Cow<'r, str> {
        if let Some(t) = req.token() {
            return std::borrow::Cow::Borrowed(t);
        }
        let tokens = self.mesh.agent_tokens.load();
        if !tokens.default.is_empty() {
            return std::borrow::Cow::Owned(tokens.default.clone());
        }
        std::borrow::Cow::Borrowed(ANONYMOUS_SECRET)
    }

    /// Resolves `secret` into who it is and what it may do. `Err(AclNotFound)` for an
    /// unknown or expired secret (Consul never falls back to anonymous for those).
    pub async fn resolve_token(
        &self,
        config: &AgentConfig,
        secret: &str,
    ) -> Result<Arc<Identity>, ApiError> {
        let default_allow = config.acl_default_policy == "allow";
        let tokens = self.mesh.agent_tokens.load();
        if !tokens.agent_recovery.is_empty() && secret == tokens.agent_recovery {
            // Local to this agent: `agent:write` on itself, `node:read`, whatever happens
            // to the servers.
            let rules = format!(
                "agent {:?} {{ policy = \"write\" }}\nnode_prefix \"\" {{ policy = \"read\" }}",
                config.node_name
            );
            return Ok(Arc::new(Identity {
                accessor_id: AGENT_RECOVERY_ACCESSOR.into(),
                authorizer: authorizer_from_texts(false, &[rules], false),
                key_list_policy: false,
            }));
        }
        if config.server {
            // Read-your-writes: a token created a moment ago may still wait in this shard's
            // inbox (the write was answered once every shard had it queued).
            self.catch_up();
            self.until_thawed().await;
            return self.resolve_locally(config, secret, default_allow);
        }
        self.resolve_remotely(config, secret, default_allow).await
    }

    /// A server's resolution from its replica as it stands, without first applying what
    /// waits in the inbox: for the agent's own tokens on a hot path (DNS answers with the
    /// `dns` token once per query), where a token created a moment ago is not in question.
    pub fn resolve_agent_token(
        &self,
        config: &AgentConfig,
        secret: &str,
    ) -> Result<Arc<Identity>, ApiError> {
        debug_assert!(config.server, "client agents resolve through a server");
        self.resolve_locally(config, secret, config.acl_default_policy == "allow")
    }

    fn resolve_locally(
        &self,
        config: &AgentConfig,
        secret: &str,
        default_allow: bool,
    ) -> Result<Arc<Identity>, ApiError> {
        let state = self.state.borrow();
        let table = &state.acl;
        let mut cache = self.acl_cache.borrow_mut();
        if cache.index != table.index() || cache.entries.len() >= ACL_CACHE_ENTRIES_MAX {
            cache.entries.clear();
            cache.index = table.index();
        }
        if let Some((identity, expires_ns)) = cache.entries.get(secret) {
            // An expired token stops working at once, before the leader's reaper runs (the
            // clock is read only for tokens that expire).
            let live = *expires_ns == 0 || *expires_ns > crate::io::host::unix_ms() * 1_000_000;
            return match live {
                true => Ok(identity.clone()),
                false => Err(ApiError::AclNotFound),
            };
        }
        let now_ns = crate::io::host::unix_ms() * 1_000_000;
        let mut identity = match table.resolve(secret, &config.datacenter, default_allow, now_ns) {
            Ok(identity) => identity,
            // Before the leader's ACL init has created it, the anonymous token is what the
            // default policy alone allows.
            Err(ResolveError::NotFound) if secret == ANONYMOUS_SECRET => Identity {
                accessor_id: ANONYMOUS_ACCESSOR.into(),
                authorizer: authorizer_from_texts(false, &[], default_allow),
                key_list_policy: false,
            },
            Err(ResolveError::NotFound) => return Err(ApiError::AclNotFound),
        };
        identity.key_list_policy = config.acl_enable_key_list_policy;
        let expires_ns = table
            .token_by_secret(secret)
            .map_or(0, |t| t.expiration_time_ns);
        let identity = Arc::new(identity);
        cache
            .entries
            .insert(secret.to_string(), (identity.clone(), expires_ns));
        Ok(identity)
    }

    async fn resolve_remotely(
        &self,
        config: &AgentConfig,
        secret: &str,
        default_allow: bool,
    ) -> Result<Arc<Identity>, ApiError> {
        let now = crate::io::host::unix_ms();
        let cached = self.acl_cache.borrow().entries.get(secret).cloned();
        if let Some((identity, until)) = &cached {
            if *until > now {
                return Ok(identity.clone());
            }
        }
        let answer = match crate::node::rpc_client::pick_server(self) {
            Some(addr) => {
                let req = resolve_request(secret);
                let reply = crate::node::rpc_client::forward_http(config, addr, &req).await;
                Some(reply)
            }
            None => None,
        };
        let parsed = answer.as_ref().and_then(|reply| match reply.status {
            200 => serde_json::from_slice::<serde_json::Value>(&reply.body).ok(),
            _ => None,
        });
        let Some(v) = parsed else {
            if let Some(reply) = answer.filter(|r| r.status == 403) {
                self.acl_cache.borrow_mut().entries.remove(secret);
                let text = String::from_utf8_lossy(&reply.body).trim().to_string();
                return Err(ApiError::Remote { status: 403, text });
            }
            // No server answered: the down policy decides.
            return match (config.acl_down_policy.as_str(), cached) {
                ("extend-cache" | "async-cache", Some((identity, _))) => Ok(identity),
                ("allow", _) => Ok(Arc::new(Identity {
                    accessor_id: String::new(),
                    authorizer: crate::acl::Authorizer::management(),
                    key_list_policy: false,
                })),
                _ => Err(ApiError::NoKnownServers),
            };
        };
        let texts: Vec<String> = v["Rules"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let management = v["Management"].as_bool().unwrap_or(false);
        let identity = Arc::new(Identity {
            accessor_id: v["AccessorID"].as_str().unwrap_or_default().to_string(),
            authorizer: authorizer_from_texts(management, &texts, default_allow),
            key_list_policy: config.acl_enable_key_list_policy,
        });
        let mut cache = self.acl_cache.borrow_mut();
        if cache.entries.len() >= ACL_CACHE_ENTRIES_MAX {
            cache.entries.clear();
        }
        let until = now + config.acl_token_ttl_ms;
        cache
            .entries
            .insert(secret.to_string(), (identity.clone(), until));
        Ok(identity)
    }

    /// Replaces one of the agent's tokens (`/v1/agent/token/<kind>`); `false` for a kind
    /// Consul does not know.
    pub fn set_agent_token(&self, kind: &str, token: String) -> bool {
        let mut tokens: AgentTokens = (**self.mesh.agent_tokens.load()).clone();
        if !tokens.set(kind, token) {
            return false;
        }
        self.mesh.agent_tokens.store(Arc::new(tokens));
        true
    }
}

/// The request a client agent sends a server to resolve `secret`.
fn resolve_request(secret: &str) -> ApiRequest {
    ApiRequest {
        method: "GET".into(),
        path: "/v1/internal/acl/resolve".into(),
        query: crate::http::query::Query::parse(""),
        body: bytes::Bytes::new(),
        style: Default::default(),
        jitter: 0.0,
        hops: 0,
        headers: vec![("x-consul-token".into(), secret.to_string())],
        identity: None,
    }
}

/// Shared on every shard of one agent (`Mesh::agent_tokens`).
pub type SharedAgentTokens = Arc<arc_swap::ArcSwap<AgentTokens>>;

/// Per-shard cache, created with the `ShardCtx`.
pub fn new_cache() -> std::rc::Rc<RefCell<AclCache>> {
    Default::default()
}

/// The leader's ACL init (Consul's `initializeACLs`): the built-in policies, the anonymous
/// token, and `acl.tokens.initial_management`, proposed when missing (the leader looks
/// again every second).
pub async fn establish_acls(ctx: &ShardCtx, config: &AgentConfig) {
    use crate::acl::model::GLOBAL_MANAGEMENT_ID;
    use crate::acl::AclCommand;
    let initial = config.acl_tokens.initial_management.clone();
    let missing = {
        let state = ctx.state.borrow();
        let t = &state.acl;
        t.token(ANONYMOUS_ACCESSOR).is_none()
            || t.policy(GLOBAL_MANAGEMENT_ID).is_none()
            || (!initial.is_empty() && t.token_by_secret(&initial).is_none())
    };
    if !missing {
        return;
    }
    if !initial.is_empty() && !crate::http::acl_json::is_uuid(&initial) {
        tracing::warn!(target: "agent.server", "Configuring a non-UUID initial management token is deprecated");
    }
    let now_ns = crate::io::host::unix_ms() * 1_000_000;
    let initial_management = (!initial.is_empty()).then(|| {
        crate::http::acl_json::management_token(
            crate::io::host::random_uuid(),
            initial.clone(),
            "Initial Management Token",
            now_ns,
        )
    });
    let cmd = crate::state::Command::Acl(Box::new(AclCommand::Init {
        initial_management,
        anonymous_create_time_ns: now_ns,
    }));
    // A refused or lost init is proposed again on the leader's next pass.
    let _ = ctx.write(cmd).await;
}

/// The agent tokens to start with: the configuration's, overridden by what was set over
/// the API and persisted (`<data_dir>/acl-tokens.json`, with `enable_token_persistence`).
pub fn load_agent_tokens(config: &AgentConfig) -> AgentTokens {
    let mut tokens = config.acl_tokens.clone();
    let Some(path) = persisted_tokens_path(config) else {
        return tokens;
    };
    if let Ok(text) = std::fs::read(&path) {
        if let Ok(saved) = serde_json::from_slice::<AgentTokens>(&text) {
            for (kind, value) in [
                ("agent", saved.agent),
                ("agent_recovery", saved.agent_recovery),
                ("default", saved.default),
                ("replication", saved.replication),
                (
                    "config_file_service_registration",
                    saved.config_file_service_registration,
                ),
                ("dns", saved.dns),
            ] {
                if !value.is_empty() {
                    tokens.set(kind, value);
                }
            }
        }
    }
    tokens
}

/// Where persisted agent tokens live, when they are persisted.
pub fn persisted_tokens_path(config: &AgentConfig) -> Option<std::path::PathBuf> {
    let dir = config.data_dir.as_ref()?;
    config
        .acl_enable_token_persistence
        .then(|| dir.join("acl-tokens.json"))
}

/// Writes the agent's tokens set over the API (never the initial management token).
pub fn persist_agent_tokens(config: &AgentConfig, tokens: &AgentTokens) -> std::io::Result<()> {
    let Some(path) = persisted_tokens_path(config) else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(tokens).expect("tokens serialize");
    crate::io::write_file_atomically(&path, &bytes)
}

/// The leader's token reaper: proposes the deletion of every expired token, with its own
/// clock carried in the entry (so every replica deletes the same ones). Called from the
/// leader's loop; proposes nothing while no token has expired.
pub async fn reap_expired_tokens(ctx: &ShardCtx) {
    let now_ns = crate::io::host::unix_ms() * 1_000_000;
    let any_expired = ctx
        .state
        .borrow()
        .acl
        .tokens()
        .any(|t| t.expiration_time_ns != 0 && t.expiration_time_ns <= now_ns);
    if any_expired {
        let cmd = crate::acl::AclCommand::ReapExpired { now_ns };
        let _ = ctx.write(crate::state::Command::Acl(Box::new(cmd))).await;
    }
}

/// Whether `secret` may make the catalog write `cmd` (an agent's own anti-entropy, on the
/// server that proposes it, or a client agent's write arriving over RPC): Consul's
/// `vetRegisterWithACL` / `vetDeregisterWithACL` for what agents send — `service:write` on a registered service, or on the service of the checks
/// registered without one; `node:write` on the node for the node, its checks and
/// deregistrations; `node:write` on each node of a coordinate batch.
pub async fn check_catalog_write(
    ctx: &ShardCtx,
    config: &AgentConfig,
    cmd: &crate::catalog::CatalogCommand,
    secret: &str,
) -> Result<(), ApiError> {
    use crate::acl::{Need, Resource};
    use crate::catalog::CatalogCommand;
    let identity = ctx.resolve_token(config, secret).await?;
    let mut needs: Vec<(Resource, String)> = Vec::new();
    match cmd {
        CatalogCommand::Register(reg) => match &reg.service {
            Some(s) => needs.push((Resource::Service, s.name.clone())),
            None => {
                let mut node_level = false;
                let services = match reg.checks.iter().any(|c| !c.service_id.is_empty()) {
                    true => ctx
                        .node_view(&reg.node.name)
                        .await
                        .map(|v| v.services)
                        .unwrap_or_default(),
                    false => Vec::new(),
                };
                for c in &reg.checks {
                    if c.service_id.is_empty() {
                        node_level = true;
                        continue;
                    }
                    let name = services
                        .iter()
                        .find(|s| s.id.eq_ignore_ascii_case(&c.service_id))
                        .map_or_else(|| c.service_id.clone(), |s| s.name.clone());
                    needs.push((Resource::Service, name));
                }
                if node_level || reg.checks.is_empty() {
                    needs.push((Resource::Node, reg.node.name.clone()));
                }
            }
        },
        CatalogCommand::Deregister { node, .. } => needs.push((Resource::Node, node.clone())),
        CatalogCommand::CoordinateBatch(updates) => {
            needs.extend(updates.iter().map(|u| (Resource::Node, u.node.clone())));
        }
    }
    for (resource, name) in needs {
        if !identity.authorizer.allows(resource, &name, Need::Write) {
            return Err(crate::acl::denied(
                &identity.accessor_id,
                resource,
                &name,
                Need::Write,
            ));
        }
    }
    Ok(())
}
