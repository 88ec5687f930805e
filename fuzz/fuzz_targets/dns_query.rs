//! DNS query parser and answer builder against arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tribune::dns::fuzz_one(data);
});
