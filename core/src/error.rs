//! The API's errors: one enum, and Consul's status code and text for each, rendered in one
//! place (`status`, `Display`). Nothing chooses a status by searching a message's text.
//!
//! Writes carry it (`state::WriteOutcome::Failed`), server RPC carries its status and text
//! (`rpc::ProposeOutcome::Failed`), and `http::response::Reply::error` renders it.

use std::fmt;

/// The text of Consul's rate limiter, also what a full inbox or queue answers.
const RATE_LIMITED: &str = "rate limit exceeded, try again later or against a different server";

/// Why a request could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No leader to commit through (500 `No cluster leader`).
    NoLeader,
    /// Leadership was lost while the request waited (500 `No cluster leader (<why>)`).
    LeadershipLost(String),
    /// A bounded queue was full (429, Consul's rate-limit text).
    RateLimited,
    /// A client agent knows no server to forward to (500).
    NoKnownServers,
    /// The write was proposed but not committed in time; it may still commit (500).
    CommitTimeout,
    /// An ACL refused the request (403 `Permission denied: <what>`).
    PermissionDenied(String),
    /// The request's token does not exist (403 `ACL not found`).
    AclNotFound,
    /// What the request names does not exist (404, the text as Consul words it).
    NotFound(String),
    /// An ACL endpoint while `acl.enabled` is false (401 `ACL support disabled`).
    AclDisabled,
    /// The request is malformed (400, the text as Consul words it).
    BadRequest(String),
    /// Anything else that went wrong on our side (500, the text as Consul words it).
    Internal(String),
    /// An error another server already rendered (forwarded writes): kept as it came.
    Remote { status: u16, text: String },
}

impl ApiError {
    /// The HTTP status Consul answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::RateLimited => 429,
            ApiError::PermissionDenied(_) | ApiError::AclNotFound => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::AclDisabled => 401,
            ApiError::Remote { status, .. } => *status,
            ApiError::NoLeader
            | ApiError::LeadershipLost(_)
            | ApiError::NoKnownServers
            | ApiError::CommitTimeout
            | ApiError::Internal(_) => 500,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::NoLeader => f.write_str("No cluster leader"),
            ApiError::LeadershipLost(why) => write!(f, "No cluster leader ({why})"),
            ApiError::RateLimited => f.write_str(RATE_LIMITED),
            ApiError::NoKnownServers => f.write_str("No known Consul servers"),
            ApiError::CommitTimeout => {
                f.write_str("timeout waiting for the write to commit; it may still commit")
            }
            ApiError::PermissionDenied(what) => write!(f, "Permission denied: {what}"),
            ApiError::AclNotFound => f.write_str("ACL not found"),
            ApiError::AclDisabled => f.write_str("ACL support disabled"),
            ApiError::BadRequest(text) | ApiError::Internal(text) | ApiError::NotFound(text) => {
                f.write_str(text)
            }
            ApiError::Remote { text, .. } => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_texts_are_consuls() {
        let cases = [
            (ApiError::NoLeader, 500, "No cluster leader"),
            (ApiError::RateLimited, 429, RATE_LIMITED),
            (ApiError::AclNotFound, 403, "ACL not found"),
            (
                ApiError::LeadershipLost("leadership lost".into()),
                500,
                "No cluster leader (leadership lost)",
            ),
            (
                ApiError::Remote {
                    status: 429,
                    text: RATE_LIMITED.into(),
                },
                429,
                RATE_LIMITED,
            ),
        ];
        for (error, status, text) in cases {
            assert_eq!((error.status(), error.to_string()), (status, text.into()));
        }
    }
}
