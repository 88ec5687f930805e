//! Version strings. We speak Consul 1.21's API, so clients that check versions see that.

/// The Consul version whose surface we implement.
pub const CONSUL_API_VERSION: &str = "1.21.0";
/// Our own version, reported as the build revision.
pub const REVISION: &str = concat!("tribune-", env!("CARGO_PKG_VERSION"));
