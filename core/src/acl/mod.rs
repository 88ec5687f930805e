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
/// lacks permission '<resource>:<level>' on "<name>"` (no `on` for global resources).
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
    let what = if resource.is_scalar() {
        format!(
            "token with AccessorID '{accessor_id}' lacks permission '{}:{level}'",
            resource.name()
        )
    } else {
        format!(
            "token with AccessorID '{accessor_id}' lacks permission '{}:{level}' on {name:?}",
            resource.name()
        )
    };
    crate::error::ApiError::PermissionDenied(what)
}
