//! ACLs, pure: Consul's rules language (`rules`), a token's merged rules as an `Authorizer`,
//! the replicated ACL objects (`model`) and their table (`table`: applies `AclCommand`s,
//! resolves a secret into an `Identity`), and the synthetic policies of identities and
//! Consul's built-in templates (`templates`).
//!
//! Ownership: every shard keeps the whole table (`state::ShardMachine::acl`), as it keeps the
//! session table, so any shard resolves a request's token from its own replica. Enforcement
//! is the shell's, at one point (`http::dispatch`'s ACL gate), with handlers checking the
//! names they alone know (`ApiRequest::require`) and filtering lists (`ApiRequest::allows`).

pub mod authorizer;
pub mod login;
pub mod model;
pub mod rules;
pub mod table;
pub mod templates;
#[cfg(test)]
mod tests;

pub use authorizer::{Authorizer, Need};
pub use model::AclCommand;
pub use rules::{parse_rules, Level, NamedRule, Resource, Rules};
pub use table::{authorizer_from_texts, AclTable, Identity, ResolveError};

/// Consul's 403 for a missing permission: `Permission denied: token with AccessorID '<id>'
/// lacks permission '<resource>:<level>' on "<name>"` (no `on` for global resources), and
/// its own wording for the anonymous token.
pub fn denied(
    accessor_id: &str,
    resource: Resource,
    name: &str,
    need: Need,
) -> crate::error::ApiError {
    let level = match need {
        Need::Read => "read",
        Need::List => "list",
        Need::Write => "write",
    };
    let permission = if resource.is_scalar() {
        format!("'{}:{level}'", resource.name())
    } else {
        format!("'{}:{level}' on {name:?}", resource.name())
    };
    let what = if accessor_id == model::ANONYMOUS_ACCESSOR {
        format!(
            "anonymous token lacks permission {permission}. The anonymous token is used \
             implicitly when a request does not specify a token."
        )
    } else {
        format!("token with AccessorID '{accessor_id}' lacks permission {permission}")
    };
    crate::error::ApiError::PermissionDenied(what)
}

/// Consul's rule for service and node identity names (and the names templated policies
/// take): lowercase letters, digits, `-` and `_`, starting and ending alphanumeric. Names go
/// into generated rules text, so nothing else may pass.
pub fn valid_identity_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 256
        && edge(&b[0])
        && edge(&b[b.len() - 1])
        && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'_')
}
