//! An API request as every handler sees it, whichever agent received it: method, path,
//! query, bounded body, JSON style, and the request headers the API reads, carried through
//! dispatch and RPC forwarding (`CARRIED_HEADERS`). Pure data.

use bytes::Bytes;

use super::query::Query;
use super::response::JsonStyle;

/// A request after the glue has read its body (bounded by `body_limit`).
pub struct ApiRequest {
    pub method: String,
    /// The URL path as received (forwarding sends it on unchanged).
    pub path: String,
    pub query: Query,
    pub body: Bytes,
    pub style: JsonStyle,
    /// Uniform random in [0, 1) for the blocking-query jitter (drawn by the caller so that
    /// handlers stay deterministic under test).
    pub jitter: f64,
    /// How many agents forwarded this request to us (0 = a client called us directly).
    pub hops: u8,
    /// The request headers the API reads (`CARRIED_HEADERS`, lowercase names), carried
    /// through dispatch and RPC forwarding, so the answering server sees the client's token.
    pub headers: Vec<(String, String)>,
    /// Who the token is and what it may do, once `http::dispatch` resolved it on the agent
    /// that answers; `None` with ACLs off (everything allowed). Never forwarded.
    pub identity: Option<std::sync::Arc<crate::acl::Identity>>,
}

/// Request headers that travel with a request to whichever agent answers it: the ACL token
/// in both of Consul's spellings, and the content negotiation ones. A bounded list, so a
/// forwarded request stays within `RPC_HEADERS_MAX`.
pub const CARRIED_HEADERS: &[&str] = &[
    "x-consul-token",
    "authorization",
    "accept",
    "content-type",
    "x-consul-namespace",
    "x-consul-partition",
];
const _: () = assert!(CARRIED_HEADERS.len() + 2 <= crate::config::RPC_HEADERS_MAX);

impl ApiRequest {
    /// Whether the request's token may `need` on `resource` named `name` (always, with ACLs
    /// off). For handlers that check names from the body and filter lists.
    pub fn allows(
        &self,
        resource: crate::acl::Resource,
        name: &str,
        need: crate::acl::Need,
    ) -> bool {
        self.identity
            .as_ref()
            .is_none_or(|i| i.authorizer.allows(resource, name, need))
    }

    /// `allows`, or Consul's 403 naming the permission that is missing.
    pub fn require(
        &self,
        resource: crate::acl::Resource,
        name: &str,
        need: crate::acl::Need,
    ) -> Result<(), crate::error::ApiError> {
        if self.allows(resource, name, need) {
            return Ok(());
        }
        let accessor = self
            .identity
            .as_ref()
            .map_or("", |i| i.accessor_id.as_str());
        Err(crate::acl::denied(accessor, resource, name, need))
    }

    /// A carried header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    /// The request's ACL token, where Consul looks for it: `?token=`, then `X-Consul-Token`,
    /// then `Authorization: Bearer`. `None`: the agent's default token, else anonymous.
    pub fn token(&self) -> Option<&str> {
        let bearer = || {
            let auth = self.header("authorization")?;
            let (scheme, token) = auth.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        };
        // Consul's `parseTokenInternal`: the query parameter first, then the headers.
        (self.query.get("token").filter(|t| !t.is_empty()))
            .or_else(|| self.header("x-consul-token"))
            .or_else(bearer)
            .filter(|t| !t.is_empty())
    }
}

/// The carried headers of a request, from any header list (hyper's, an RPC frame's).
pub fn carried_headers<'a>(all: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    let mut carried = Vec::new();
    for (name, value) in all {
        if let Some(known) = CARRIED_HEADERS
            .iter()
            .find(|h| h.eq_ignore_ascii_case(name))
        {
            if carried.len() < CARRIED_HEADERS.len() {
                carried.push((known.to_string(), value.to_string()));
            }
        }
    }
    carried
}
