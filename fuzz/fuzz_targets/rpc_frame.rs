//! Server RPC frames.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tribune::rpc::fuzz_one(data);
});
