//! The HTTP API's pure parts: the route table, query parsing, Consul's JSON shapes and body
//! decoding, `?filter=`, the request as handlers see it. The handlers themselves (async, on a
//! shard) are `tribune::http`.

pub mod acl_json;
pub mod agent_defs;
pub mod body_cache;
pub mod catalog_json;
pub mod decode;
pub mod filter;
pub mod query;
pub mod request;
pub mod response;
pub mod route;
pub mod session_json;
