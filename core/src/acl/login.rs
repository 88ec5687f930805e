//! Logging in through a `jwt` auth method, pure: the method's config as Consul reads it, the
//! checks on a JWT's verified claims (issuer, audiences, expiry and not-before with leeway,
//! against a clock the caller passes), claim mappings into the variables binding rules see
//! (`value.<name>`, `list.<name>`), and the binding rules' verdict as the token's grants.
//! The signature itself is verified by the shell (`http::acl_api`, with the `jsonwebtoken`
//! crate) before these run.

use serde_json::{json, Map, Value};

use super::model::{AclBindingRule, Grants, Link, NodeIdentity, ServiceIdentity};
use super::table::AclTable;
use crate::error::ApiError;

/// Consul's default leeway for `exp` and `nbf` when none is configured (hashicorp/cap's
/// `DefaultLeeway`).
const DEFAULT_LEEWAY_S: u64 = 150;

/// A `jwt` auth method's `Config`, the keys this agent acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtConfig {
    /// PEM public keys (`JWTValidationPubKeys`).
    pub pub_keys: Vec<String>,
    /// `JWKSURL`: only `file://` URLs are read (this agent fetches nothing from the network).
    pub jwks_url: String,
    pub bound_issuer: String,
    pub bound_audiences: Vec<String>,
    /// `ClaimMappings`: claim (a name, or a JSON pointer such as `/a/b`) → variable name.
    pub claim_mappings: Vec<(String, String)>,
    pub list_claim_mappings: Vec<(String, String)>,
    /// `JWTSupportedAlgs` (default `RS256`).
    pub supported_algs: Vec<String>,
    pub expiration_leeway_s: u64,
    pub not_before_leeway_s: u64,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a method's stored config JSON.
pub fn jwt_config(config_json: &str) -> JwtConfig {
    let v: Value = serde_json::from_str(config_json).unwrap_or(json!({}));
    let leeway = |k: &str| match v.get(k) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) / 1_000_000_000,
        Some(Value::String(s)) => {
            crate::http::query::parse_go_duration(s).map_or(0, |d| d.as_secs())
        }
        _ => 0,
    };
    let mut algs = strings(&v["JWTSupportedAlgs"]);
    if algs.is_empty() {
        algs.push("RS256".into());
    }
    JwtConfig {
        pub_keys: strings(&v["JWTValidationPubKeys"]),
        jwks_url: v["JWKSURL"].as_str().unwrap_or_default().to_string(),
        bound_issuer: v["BoundIssuer"].as_str().unwrap_or_default().to_string(),
        bound_audiences: strings(&v["BoundAudiences"]),
        claim_mappings: pairs(&v["ClaimMappings"]),
        list_claim_mappings: pairs(&v["ListClaimMappings"]),
        supported_algs: algs,
        expiration_leeway_s: leeway("ExpirationLeeway"),
        not_before_leeway_s: leeway("NotBeforeLeeway"),
    }
}

/// Checks verified claims as Consul's `jwt` validator does. `now_s`: the server's clock.
pub fn check_claims(claims: &Value, config: &JwtConfig, now_s: u64) -> Result<(), String> {
    let leeway = |configured: u64| {
        if configured == 0 {
            DEFAULT_LEEWAY_S
        } else {
            configured
        }
    };
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        if now_s > exp + leeway(config.expiration_leeway_s) {
            return Err("token is expired (exp)".into());
        }
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
        if now_s + leeway(config.not_before_leeway_s) < nbf {
            return Err("token not valid yet (nbf)".into());
        }
    }
    if !config.bound_issuer.is_empty()
        && claims.get("iss").and_then(Value::as_str) != Some(config.bound_issuer.as_str())
    {
        return Err("invalid issuer (iss) claim".into());
    }
    if !config.bound_audiences.is_empty() {
        let aud: Vec<String> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(a) => strings(a),
            None => Vec::new(),
        };
        if !aud.iter().any(|a| config.bound_audiences.contains(a)) {
            return Err(
                "invalid audience (aud) claim: audience claim does not match any expected audience"
                    .into(),
            );
        }
    }
    Ok(())
}

fn claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        claims.pointer(name)
    } else {
        claims.get(name)
    }
}

/// The variables binding rules see: `{"value": {var: text}, "list": {var: [text]}}` from the
/// method's claim mappings. A mapped claim of the wrong shape is an error, as in Consul.
pub fn claim_vars(claims: &Value, config: &JwtConfig) -> Result<Value, String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut value = Map::new();
    for (claim_name, var) in &config.claim_mappings {
        if let Some(v) = claim(claims, claim_name) {
            let t = text(v)
                .ok_or_else(|| format!("error converting claim '{claim_name}' to string"))?;
            value.insert(var.clone(), json!(t));
        }
    }
    let mut list = Map::new();
    for (claim_name, var) in &config.list_claim_mappings {
        if let Some(v) = claim(claims, claim_name) {
            let items: Vec<String> = match v {
                Value::Array(a) => a.iter().filter_map(text).collect(),
                other => text(other).into_iter().collect(),
            };
            list.insert(var.clone(), json!(items));
        }
    }
    Ok(json!({"value": value, "list": list}))
}

/// `${value.name}` (and `${list.name}`'s first item) interpolated into a bind name.
fn interpolate(template: &str, vars: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("cannot compute bind name {template:?}: unterminated ${{"))?;
        let path = rest[start + 2..start + end].trim();
        let found = path
            .split_once('.')
            .and_then(|(kind, name)| vars.get(kind)?.get(name))
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) => a.first()?.as_str().map(String::from),
                _ => None,
            })
            .ok_or_else(|| {
                format!("cannot compute bind name {template:?}: unknown variable {path:?}")
            })?;
        out.push_str(&found);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether a binding rule's selector matches the login's variables (empty: always).
pub fn selector_matches(rule: &AclBindingRule, vars: &Value) -> bool {
    if rule.selector.trim().is_empty() {
        return true;
    }
    crate::http::filter::parse(&rule.selector).is_ok_and(|f| f.matches(vars))
}

/// What the method's matching binding rules grant. No rule matching is Consul's 403
/// (`Permission denied`); a role or policy that does not exist is skipped, as in Consul.
pub fn grants_for(
    table: &AclTable,
    method: &str,
    vars: &Value,
    datacenter: &str,
) -> Result<Grants, ApiError> {
    let mut grants = Grants::default();
    let mut matched = false;
    for rule in table.binding_rules().filter(|r| r.auth_method == method) {
        if !selector_matches(rule, vars) {
            continue;
        }
        matched = true;
        let name = interpolate(&rule.bind_name, vars).map_err(ApiError::Internal)?;
        // Claims are the caller's: a computed name goes into rules text only when valid.
        let identity = matches!(rule.bind_type.as_str(), "service" | "node");
        if identity && !super::valid_identity_name(&name) {
            return Err(ApiError::Internal(format!(
                "computed bind name {name:?} is not a valid {} identity name",
                rule.bind_type
            )));
        }
        match rule.bind_type.as_str() {
            "service" => grants.service_identities.push(ServiceIdentity {
                service_name: name,
                datacenters: Vec::new(),
            }),
            "node" => grants.node_identities.push(NodeIdentity {
                node_name: name,
                datacenter: datacenter.to_string(),
            }),
            "role" => {
                if let Some(role) = table.role_by_name(&name) {
                    grants.roles.push(Link {
                        id: role.id.clone(),
                        name: role.name.clone(),
                    });
                }
            }
            "policy" => {
                if let Some(p) = table.policy_by_name(&name) {
                    grants.policies.push(Link {
                        id: p.id.clone(),
                        name: p.name.clone(),
                    });
                }
            }
            _ => {
                return Err(ApiError::Internal(format!(
                    "bind type {:?} is not supported by this agent's login yet",
                    rule.bind_type
                )))
            }
        }
    }
    let empty = grants == Grants::default();
    if !matched || empty {
        return Err(ApiError::PermissionDenied("no binding rule matched".into()));
    }
    Ok(grants)
}

/// The description of a token made by login, with the request's `Meta` as Consul writes it.
pub fn login_description(meta: Option<&Map<String, Value>>) -> String {
    match meta.filter(|m| !m.is_empty()) {
        Some(m) => format!("token created via login: {}", Value::Object(m.clone())),
        None => "token created via login".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::model::{AclAuthMethod, AclCommand};

    fn table_with_rules(rules: &[(&str, &str, &str)]) -> AclTable {
        let mut t = AclTable::default();
        let mut index = 1;
        let method = AclAuthMethod {
            name: "jwt".into(),
            kind: "jwt".into(),
            display_name: String::new(),
            description: String::new(),
            max_token_ttl_ns: 0,
            token_locality: String::new(),
            config_json: "{}".into(),
            create_index: 0,
            modify_index: 0,
        };
        t.apply(index, &AclCommand::AuthMethodSet(method)).unwrap();
        for (i, (selector, bind_type, bind_name)) in rules.iter().enumerate() {
            index += 1;
            let rule = AclBindingRule {
                id: format!("rule-{i}"),
                description: String::new(),
                auth_method: "jwt".into(),
                selector: selector.to_string(),
                bind_type: bind_type.to_string(),
                bind_name: bind_name.to_string(),
                create_index: 0,
                modify_index: 0,
            };
            t.apply(index, &AclCommand::BindingRuleSet(rule)).unwrap();
        }
        t
    }

    #[test]
    fn claims_are_checked_with_leeway_issuer_and_audience() {
        let config = jwt_config(
            r#"{"BoundIssuer":"test-issuer","BoundAudiences":["a"],"ExpirationLeeway":"10s"}"#,
        );
        let ok = json!({"iss": "test-issuer", "aud": ["b", "a"], "exp": 1_000});
        assert_eq!(check_claims(&ok, &config, 1_005), Ok(()));
        assert!(check_claims(&ok, &config, 1_011)
            .unwrap_err()
            .contains("expired"));
        let wrong_iss = json!({"iss": "other", "aud": "a"});
        assert!(check_claims(&wrong_iss, &config, 0)
            .unwrap_err()
            .contains("issuer"));
        let wrong_aud = json!({"iss": "test-issuer", "aud": "c"});
        assert!(check_claims(&wrong_aud, &config, 0)
            .unwrap_err()
            .contains("audience"));
        let early = json!({"iss": "test-issuer", "aud": "a", "nbf": 1_000});
        assert!(check_claims(&early, &config, 1_000 - DEFAULT_LEEWAY_S - 1).is_err());
    }

    #[test]
    fn binding_rules_turn_mapped_claims_into_grants() {
        let config = jwt_config(
            r#"{"ClaimMappings":{"service":"svc","/nested/env":"env"},"ListClaimMappings":{"groups":"groups"}}"#,
        );
        let claims = json!({"service": "web", "nested": {"env": "prod"}, "groups": ["ops", "dev"]});
        let vars = claim_vars(&claims, &config).unwrap();
        assert_eq!(
            vars,
            json!({"value": {"svc": "web", "env": "prod"}, "list": {"groups": ["ops", "dev"]}})
        );
        let table = table_with_rules(&[
            (r#"value.env == "prod""#, "service", "${value.svc}"),
            (r#"value.env == "staging""#, "node", "never"),
            ("", "node", "n-${value.svc}"),
        ]);
        let grants = grants_for(&table, "jwt", &vars, "dc1").unwrap();
        assert_eq!(grants.service_identities[0].service_name, "web");
        assert_eq!(grants.node_identities.len(), 1);
        assert_eq!(grants.node_identities[0].node_name, "n-web");
        let nothing = table_with_rules(&[(r#"value.env == "staging""#, "service", "x")]);
        // A claim that would break out of the rules text is refused, not bound.
        let evil = r#"x" {policy="write"}
acl = "write"
service "y"#;
        let evil = json!({"value": {"svc": evil, "env": "prod"}, "list": {}});
        let err = grants_for(&table, "jwt", &evil, "dc1").unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a valid service identity name"),
            "{err}"
        );
        assert!(matches!(
            grants_for(&nothing, "jwt", &vars, "dc1"),
            Err(ApiError::PermissionDenied(_))
        ));
    }
}
