//! Consul's DNS interface, sans IO: the zone grammar (`name`), answers as typed plans built
//! from catalog data and trimmed to size (`plan`), and the wire format through the `domain`
//! crate (`wire`). The sockets live in `shard::dns_server`.

pub mod name;
pub mod plan;
pub mod wire;

#[cfg(test)]
mod tests;
