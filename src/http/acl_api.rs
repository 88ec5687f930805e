//! `/v1/acl/*`, `/v1/agent/token/<kind>` and `/v1/internal/acl/resolve` with Consul's codes
//! and texts. Writes are checked against this server's replica of the ACL table and turned
//! into `AclCommand`s (`http::acl_json::prepare_*`), then go through the log; reads come
//! from the replica. The permission each route needs was checked by `dispatch` already.

use serde_json::{json, Value};

use super::acl_json::{self as j, TokenWrite};
use super::response::Reply;
use super::route::AclEndpoint;
use super::ApiRequest;
use crate::acl::model::{AclToken, ANONYMOUS_ACCESSOR};
use crate::acl::{AclCommand, AclTable, Need, Resource};
use crate::config::AgentConfig;
use crate::error::ApiError;
use crate::io::host::{random_uuid, unix_ms};
use crate::node::ctx::ShardCtx;
use crate::state::{Command, WriteOutcome};

fn now_ns() -> u64 {
    unix_ms() * 1_000_000
}

/// Proposes an ACL write and waits until this shard has applied it too.
async fn propose(ctx: &ShardCtx, cmd: AclCommand) -> Result<(), ApiError> {
    match ctx.write(Command::Acl(Box::new(cmd))).await {
        WriteOutcome::Bool(_) => {
            ctx.catch_up();
            ctx.until_thawed().await;
            Ok(())
        }
        WriteOutcome::Failed(e) => Err(e),
        WriteOutcome::Txn { .. } => unreachable!("an ACL write answers with a bool"),
    }
}

/// Reads the local replica after applying what waits in this shard's inbox.
async fn read<T>(ctx: &ShardCtx, f: impl FnOnce(&AclTable) -> T) -> T {
    ctx.catch_up();
    ctx.until_thawed().await;
    let state = ctx.state.borrow();
    f(&state.acl)
}

fn answer(result: Result<Value, ApiError>, req: &ApiRequest, index: u64) -> Reply {
    match result {
        Ok(v) => Reply::json(&v, req.style).with("X-Consul-Index", index.to_string()),
        Err(e) => Reply::error(&e),
    }
}

fn show_secrets(req: &ApiRequest) -> bool {
    req.allows(Resource::Acl, "", Need::Write)
}

/// Serves an `/v1/acl/*` endpoint.
pub async fn handle(
    ctx: &ShardCtx,
    config: &AgentConfig,
    endpoint: &AclEndpoint,
    req: &ApiRequest,
) -> Reply {
    if !config.acl_enabled {
        return Reply::error(&ApiError::AclDisabled);
    }
    use AclEndpoint as E;
    let method = req.method.as_str();
    let index = read(ctx, |t| t.index()).await;
    let result: Result<Value, ApiError> = match endpoint {
        E::Bootstrap => bootstrap(ctx, config, req).await,
        E::PolicyCreate => {
            let prepared = read(ctx, |t| j::prepare_policy(t, &req.body, None, random_uuid)).await;
            write_then(
                ctx,
                prepared.map(|p| (p.id.clone(), AclCommand::PolicySet(p))),
                |t, id| t.policy(id).map(j::policy_json),
            )
            .await
        }
        E::Policy(id) => match method {
            "GET" => read(ctx, |t| lookup_policy(t, id)).await,
            "PUT" => {
                let prepared = read(ctx, |t| {
                    j::prepare_policy(t, &req.body, Some(id), random_uuid)
                })
                .await;
                write_then(
                    ctx,
                    prepared.map(|p| (p.id.clone(), AclCommand::PolicySet(p))),
                    |t, id| t.policy(id).map(j::policy_json),
                )
                .await
            }
            _ => {
                if !j::is_uuid(id) {
                    Err(j::not_a_uuid("policy"))
                } else {
                    propose(ctx, AclCommand::PolicyDelete { id: id.clone() })
                        .await
                        .map(|()| json!(true))
                }
            }
        },
        E::PolicyByName(name) => {
            read(ctx, |t| {
                t.policy_by_name(name).map(j::policy_json).ok_or_else(|| {
                    ApiError::NotFound("Requested policy does not exist: ACL not found".into())
                })
            })
            .await
        }
        E::Policies => read(ctx, |t| Ok(t.policies().map(j::policy_stub_json).collect())).await,
        E::TokenCreate => {
            let prepared = read(ctx, |t| {
                j::prepare_token(t, &req.body, TokenWrite::Create, now_ns(), random_uuid)
            })
            .await;
            write_token(ctx, prepared, req).await
        }
        E::TokenSelf => {
            let secret = ctx.effective_token(req);
            read(ctx, |t| match t.token_by_secret(&secret) {
                Some(token) if !expired(token) => Ok(j::token_json(t, token, true)),
                _ => Err(ApiError::AclNotFound),
            })
            .await
        }
        E::Token(accessor) => match method {
            "GET" => {
                let show = show_secrets(req);
                read(ctx, |t| {
                    if !j::is_uuid(accessor) && accessor != ANONYMOUS_ACCESSOR {
                        return Err(j::not_a_uuid("token"));
                    }
                    match t.token(accessor) {
                        Some(token) if !expired(token) => Ok(j::token_json(t, token, show)),
                        // Consul answers an unknown accessor with `acl.ErrNotFound`, which
                        // its HTTP layer renders as 403 (py-consul's suite relies on it).
                        _ => Err(ApiError::AclNotFound),
                    }
                })
                .await
            }
            "PUT" => {
                let write = TokenWrite::Update(accessor);
                let prepared = read(ctx, |t| {
                    j::prepare_token(t, &req.body, write, now_ns(), random_uuid)
                })
                .await;
                write_token(ctx, prepared, req).await
            }
            _ => delete_token(ctx, accessor, req).await,
        },
        E::TokenClone(accessor) => {
            let prepared = read(ctx, |t| {
                j::prepare_clone(t, accessor, &req.body, now_ns(), random_uuid)
            })
            .await;
            write_token(ctx, prepared, req).await
        }
        E::Tokens => {
            let q = &req.query;
            let show = show_secrets(req);
            let (policy, role) = (q.get("policy"), q.get("role"));
            let (method_name, service) = (q.get("authmethod"), q.get("servicename"));
            read(ctx, |t| {
                let list: Vec<Value> = t
                    .tokens()
                    .filter(|tk| !expired(tk))
                    .filter(|tk| j::token_matches(tk, policy, role, method_name, service))
                    .map(|tk| j::token_json(t, tk, show))
                    .collect();
                // `[]` when nothing matches (py-consul's suite checks it against Consul).
                Ok(Value::Array(list))
            })
            .await
        }
        E::RoleCreate => {
            let prepared = read(ctx, |t| j::prepare_role(t, &req.body, None, random_uuid)).await;
            write_then(
                ctx,
                prepared.map(|r| (r.id.clone(), AclCommand::RoleSet(r))),
                |t, id| t.role(id).map(|r| j::role_json(t, r)),
            )
            .await
        }
        E::Role(id) => match method {
            "GET" => {
                read(ctx, |t| {
                    if !j::is_uuid(id) {
                        return Err(j::not_a_uuid("role"));
                    }
                    t.role(id).map(|r| j::role_json(t, r)).ok_or_else(|| {
                        ApiError::NotFound("Requested role does not exist: ACL not found".into())
                    })
                })
                .await
            }
            "PUT" => {
                let prepared = read(ctx, |t| {
                    j::prepare_role(t, &req.body, Some(id), random_uuid)
                })
                .await;
                write_then(
                    ctx,
                    prepared.map(|r| (r.id.clone(), AclCommand::RoleSet(r))),
                    |t, id| t.role(id).map(|r| j::role_json(t, r)),
                )
                .await
            }
            _ => propose(ctx, AclCommand::RoleDelete { id: id.clone() })
                .await
                .map(|()| json!(true)),
        },
        E::RoleByName(name) => {
            read(ctx, |t| {
                t.role_by_name(name)
                    .map(|r| j::role_json(t, r))
                    .ok_or_else(|| {
                        ApiError::NotFound("Requested role does not exist: ACL not found".into())
                    })
            })
            .await
        }
        E::Roles => {
            let policy = req.query.get("policy");
            read(ctx, |t| {
                let list = t
                    .roles()
                    .filter(|r| policy.is_none_or(|p| r.grants.policies.iter().any(|l| l.id == p)))
                    .map(|r| j::role_json(t, r))
                    .collect();
                Ok(Value::Array(list))
            })
            .await
        }
        E::AuthMethodCreate => {
            let prepared = read(ctx, |t| j::prepare_auth_method(t, &req.body, None)).await;
            write_then(
                ctx,
                prepared.map(|m| (m.name.clone(), AclCommand::AuthMethodSet(m))),
                |t, n| t.auth_method(n).map(j::auth_method_json),
            )
            .await
        }
        E::AuthMethod(name) => match method {
            "GET" => {
                read(ctx, |t| {
                    t.auth_method(name).map(j::auth_method_json).ok_or_else(|| {
                        ApiError::NotFound(
                            "Requested auth method does not exist: ACL not found".into(),
                        )
                    })
                })
                .await
            }
            "PUT" => {
                let prepared =
                    read(ctx, |t| j::prepare_auth_method(t, &req.body, Some(name))).await;
                write_then(
                    ctx,
                    prepared.map(|m| (m.name.clone(), AclCommand::AuthMethodSet(m))),
                    |t, n| t.auth_method(n).map(j::auth_method_json),
                )
                .await
            }
            _ => propose(ctx, AclCommand::AuthMethodDelete { name: name.clone() })
                .await
                .map(|()| json!(true)),
        },
        E::AuthMethods => {
            read(ctx, |t| {
                let list = t
                    .auth_methods()
                    .map(|m| {
                        let mut v = j::auth_method_json(m);
                        v.as_object_mut().expect("an object").remove("Config");
                        v
                    })
                    .collect();
                Ok(Value::Array(list))
            })
            .await
        }
        E::BindingRuleCreate => {
            let prepared = read(ctx, |t| {
                j::prepare_binding_rule(t, &req.body, None, random_uuid)
            })
            .await;
            write_then(
                ctx,
                prepared.map(|r| (r.id.clone(), AclCommand::BindingRuleSet(r))),
                |t, id| t.binding_rule(id).map(j::binding_rule_json),
            )
            .await
        }
        E::BindingRule(id) => match method {
            "GET" => {
                read(ctx, |t| {
                    if !j::is_uuid(id) {
                        return Err(j::not_a_uuid("binding rule"));
                    }
                    t.binding_rule(id).map(j::binding_rule_json).ok_or_else(|| {
                        ApiError::NotFound(
                            "Requested binding rule does not exist: ACL not found".into(),
                        )
                    })
                })
                .await
            }
            "PUT" => {
                let prepared = read(ctx, |t| {
                    j::prepare_binding_rule(t, &req.body, Some(id), random_uuid)
                })
                .await;
                write_then(
                    ctx,
                    prepared.map(|r| (r.id.clone(), AclCommand::BindingRuleSet(r))),
                    |t, id| t.binding_rule(id).map(j::binding_rule_json),
                )
                .await
            }
            _ => propose(ctx, AclCommand::BindingRuleDelete { id: id.clone() })
                .await
                .map(|()| json!(true)),
        },
        E::BindingRules => {
            let method_name = req.query.get("authmethod");
            read(ctx, |t| {
                let list = t
                    .binding_rules()
                    .filter(|r| method_name.is_none_or(|m| r.auth_method == m))
                    .map(j::binding_rule_json)
                    .collect();
                Ok(Value::Array(list))
            })
            .await
        }
        E::Login => login(ctx, config, req).await,
        E::Logout => logout(ctx, req).await,
        E::TemplatedPolicies => {
            let all: serde_json::Map<String, Value> = crate::acl::templates::TEMPLATES
                .iter()
                .map(|t| (t.name.to_string(), j::templated_policy_json(t)))
                .collect();
            Ok(Value::Object(all))
        }
        E::TemplatedPolicy(name) => crate::acl::templates::template(name)
            .map(j::templated_policy_json)
            .ok_or_else(|| ApiError::NotFound(format!("Invalid templated policy Name: {name:?}"))),
        E::TemplatedPreview(name) => j::templated_preview(name, &req.body, random_uuid()),
    };
    answer(result, req, index)
}

fn expired(token: &AclToken) -> bool {
    token.expiration_time_ns != 0 && token.expiration_time_ns <= now_ns()
}

fn lookup_policy(t: &AclTable, id: &str) -> Result<Value, ApiError> {
    if !j::is_uuid(id) {
        return Err(j::not_a_uuid("policy"));
    }
    t.policy(id)
        .map(j::policy_json)
        .ok_or_else(|| ApiError::NotFound("Requested policy does not exist: ACL not found".into()))
}

/// Proposes `prepared`'s command and answers with the object as now stored.
async fn write_then(
    ctx: &ShardCtx,
    prepared: Result<(String, AclCommand), ApiError>,
    show: impl FnOnce(&AclTable, &str) -> Option<Value>,
) -> Result<Value, ApiError> {
    let (key, cmd) = prepared?;
    propose(ctx, cmd).await?;
    read(ctx, |t| show(t, &key))
        .await
        .ok_or_else(|| ApiError::Internal("the write was applied but is gone again".into()))
}

async fn write_token(
    ctx: &ShardCtx,
    prepared: Result<AclToken, ApiError>,
    req: &ApiRequest,
) -> Result<Value, ApiError> {
    let token = prepared?;
    let accessor = token.accessor_id.clone();
    propose(ctx, AclCommand::TokenSet(token)).await?;
    let show = show_secrets(req);
    read(ctx, |t| {
        t.token(&accessor).map(|tk| j::token_json(t, tk, show))
    })
    .await
    .ok_or_else(|| ApiError::Internal("the write was applied but is gone again".into()))
}

async fn delete_token(ctx: &ShardCtx, accessor: &str, req: &ApiRequest) -> Result<Value, ApiError> {
    if !j::is_uuid(accessor) && accessor != ANONYMOUS_ACCESSOR {
        return Err(j::not_a_uuid("token"));
    }
    let secret = ctx.effective_token(req);
    let own = read(ctx, |t| {
        t.token(accessor).is_some_and(|tk| tk.secret_id == secret)
    })
    .await;
    if own {
        return Err(ApiError::Internal(
            "Deletion of the request's authorization token is not permitted".into(),
        ));
    }
    propose(
        ctx,
        AclCommand::TokenDelete {
            accessor_id: accessor.to_string(),
        },
    )
    .await?;
    Ok(json!(true))
}

/// `PUT /v1/acl/bootstrap`, on the leader: once, or again when `<data_dir>/acl-bootstrap-reset`
/// holds the reset index (the file is removed after it was used).
async fn bootstrap(
    ctx: &ShardCtx,
    config: &AgentConfig,
    req: &ApiRequest,
) -> Result<Value, ApiError> {
    // Consul bootstraps only in the primary datacenter (no ACL replication here either).
    if config
        .primary_datacenter
        .as_ref()
        .is_some_and(|p| *p != config.datacenter)
    {
        return Err(ApiError::AclDisabled);
    }
    let secret = j::bootstrap_secret(&req.body)?.unwrap_or_else(random_uuid);
    let reset_file = config
        .data_dir
        .as_ref()
        .map(|d| d.join("acl-bootstrap-reset"));
    let reset_index = reset_file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    let token = j::management_token(
        random_uuid(),
        secret,
        "Bootstrap Token (Global Management)",
        now_ns(),
    );
    let accessor = token.accessor_id.clone();
    propose(ctx, AclCommand::Bootstrap { token, reset_index }).await?;
    if reset_index.is_some() {
        if let Some(f) = &reset_file {
            let _ = std::fs::remove_file(f);
        }
    }
    read(ctx, |t| {
        let tk = t.token(&accessor)?;
        let mut v = j::token_json(t, tk, true);
        // Consul adds the legacy `ID` (the secret) in front.
        let mut out = serde_json::Map::new();
        out.insert("ID".into(), json!(tk.secret_id));
        out.extend(v.as_object_mut()?.clone());
        Some(Value::Object(out))
    })
    .await
    .ok_or_else(|| ApiError::Internal("the bootstrap was applied but is gone again".into()))
}

/// `POST /v1/acl/login`: a bearer JWT exchanged, through a `jwt` auth method, for a new
/// token whose grants the method's binding rules decide (`acl::login`). The signature is
/// checked here against the method's public keys (or a JWKS document from a `file://` URL).
async fn login(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Result<Value, ApiError> {
    use crate::acl::login;
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::BadRequest(format!("Failed to decode request body: {e}")))?;
    let name = body["AuthMethod"].as_str().unwrap_or_default().to_string();
    let bearer = body["BearerToken"].as_str().unwrap_or_default().to_string();
    let Some(method) = read(ctx, |t| t.auth_method(&name).cloned()).await else {
        // Consul: `acl.ErrNotFound`, which its HTTP layer answers with 403.
        return Err(ApiError::Remote {
            status: 403,
            text: format!("ACL not found: auth method {name:?} not found"),
        });
    };
    if method.kind != "jwt" {
        return Err(ApiError::Internal(format!(
            "login through a {:?} auth method is not supported by this agent (only \"jwt\")",
            method.kind
        )));
    }
    let jwt = login::jwt_config(&method.config_json);
    let claims = verify_jwt(&bearer, &jwt).map_err(ApiError::Internal)?;
    login::check_claims(&claims, &jwt, unix_ms() / 1000).map_err(ApiError::Internal)?;
    let vars = login::claim_vars(&claims, &jwt).map_err(ApiError::Internal)?;
    let grants = read(ctx, |t| {
        login::grants_for(t, &name, &vars, &config.datacenter)
    })
    .await?;
    let mut token = j::management_token(random_uuid(), random_uuid(), "", now_ns());
    token.grants = grants;
    token.description = login::login_description(body.get("Meta").and_then(Value::as_object));
    token.auth_method = name;
    token.local = method.token_locality != "global";
    if method.max_token_ttl_ns > 0 {
        token.expiration_time_ns = now_ns().saturating_add(method.max_token_ttl_ns);
        token.expiration_ttl = crate::http::decode::format_go_duration(method.max_token_ttl_ns);
    }
    let accessor = token.accessor_id.clone();
    propose(ctx, AclCommand::TokenSet(token)).await?;
    // The caller logged in: it is shown its new token's secret whatever else it may do.
    read(ctx, |t| {
        t.token(&accessor).map(|tk| j::token_json(t, tk, true))
    })
    .await
    .ok_or_else(|| ApiError::Internal("the login was applied but is gone again".into()))
}

/// The JWT's claims once its signature verifies against one of the method's keys. Time,
/// issuer and audience are `acl::login::check_claims`'s (against the server's clock).
fn verify_jwt(bearer: &str, config: &crate::acl::login::JwtConfig) -> Result<Value, String> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header =
        jsonwebtoken::decode_header(bearer).map_err(|e| format!("failed to parse JWT: {e}"))?;
    let allowed: Vec<Algorithm> = config
        .supported_algs
        .iter()
        .filter_map(|a| a.parse::<Algorithm>().ok())
        .collect();
    if !allowed.contains(&header.alg) {
        return Err(format!("unsupported signing algorithm: {:?}", header.alg));
    }
    let mut validation = Validation::new(header.alg);
    // Only the token's own algorithm: jsonwebtoken refuses a key when the list mixes key
    // families (RS256 with ES256), which would fail every login.
    validation.algorithms = vec![header.alg];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut keys: Vec<DecodingKey> = Vec::new();
    for pem in &config.pub_keys {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()));
        keys.extend(key.ok());
    }
    if let Some(path) = config.jwks_url.strip_prefix("file://") {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("reading JWKS {path}: {e}"))?;
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(&text).map_err(|e| format!("parsing JWKS {path}: {e}"))?;
        keys.extend(
            set.keys
                .iter()
                .filter_map(|k| DecodingKey::from_jwk(k).ok()),
        );
    } else if !config.jwks_url.is_empty() {
        return Err("JWKSURL: only file:// URLs are read by this agent".into());
    }
    for key in &keys {
        if let Ok(data) = jsonwebtoken::decode::<Value>(bearer, key, &validation) {
            return Ok(data.claims);
        }
    }
    Err("failed to verify id token signature".into())
}

/// `POST /v1/acl/logout`: deletes the presented token if an auth method issued it.
async fn logout(ctx: &ShardCtx, req: &ApiRequest) -> Result<Value, ApiError> {
    let Some(secret) = req.token().map(str::to_string) else {
        return Err(ApiError::AclNotFound);
    };
    let token = read(ctx, |t| t.token_by_secret(&secret).cloned()).await;
    match token {
        None => Err(ApiError::AclNotFound),
        Some(t) if t.auth_method.is_empty() => Err(ApiError::PermissionDenied(
            "token wasn't created via login".into(),
        )),
        Some(t) => {
            propose(
                ctx,
                AclCommand::TokenDelete {
                    accessor_id: t.accessor_id,
                },
            )
            .await?;
            Ok(json!(true))
        }
    }
}

/// `GET /v1/internal/acl/resolve` (servers): a token's accessor and effective rules, for the
/// client agent that must check it itself. The presented token is the only credential, and
/// only its own rules are shown.
pub async fn resolve(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let secret = ctx.effective_token(req);
    let found = read(ctx, |t| {
        let tk = t.token_by_secret(&secret).filter(|tk| !expired(tk))?;
        let (management, rules) = t.rules_of(&tk.grants, &config.datacenter);
        Some(json!({"AccessorID": tk.accessor_id, "Management": management, "Rules": rules}))
    })
    .await;
    match found {
        Some(v) => Reply::json(&v, req.style),
        None if secret == crate::acl::model::ANONYMOUS_SECRET => Reply::json(
            &json!({"AccessorID": ANONYMOUS_ACCESSOR, "Management": false, "Rules": []}),
            req.style,
        ),
        None => Reply::error(&ApiError::AclNotFound),
    }
}

/// `PUT /v1/agent/token/<kind>` (shard 0 of the agent): body `{"Token": "..."}`.
pub fn set_agent_token(
    ctx: &ShardCtx,
    config: &AgentConfig,
    kind: &str,
    req: &ApiRequest,
) -> Reply {
    if !config.acl_enabled {
        return Reply::error(&ApiError::AclDisabled);
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Reply::text(400, format!("Request decode failed: {e}")),
    };
    let token = body
        .get("Token")
        .or_else(|| body.get("token"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !ctx.set_agent_token(kind, token) {
        return Reply::text(404, format!("Token {kind:?} is unknown"));
    }
    if let Err(e) = crate::node::acl::persist_agent_tokens(config, &ctx.mesh.agent_tokens.load()) {
        return Reply::text(500, format!("Failed to persist tokens - {e}"));
    }
    Reply::empty(200)
}
