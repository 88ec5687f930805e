//! Gossip packets and push-pull states, decoded and handled by a live member.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tribune::gossip::fuzz_one(data);
});
