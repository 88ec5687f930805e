pub mod authorizer;
pub mod rules;
#[cfg(test)]
mod tests;
pub use authorizer::{Authorizer, Need};
pub use rules::{parse_rules, Level, NamedRule, Resource, Rules};
pub mod model;
pub mod table;
pub mod templates;
pub use model::AclCommand;
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
