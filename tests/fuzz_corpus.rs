//! Replays every fuzz corpus file through its target's function, on stable, in CI.

#[test]
fn dns_query_corpus_replays() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/dns_query");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("corpus directory") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        tribune::dns::fuzz_one(&bytes);
        count += 1;
    }
    assert!(
        count >= 10,
        "corpus too small to mean anything: {count} files"
    );
}

fn replay(target: &str, run: fn(&[u8])) {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        run(&bytes);
        count += 1;
    }
    assert!(
        count >= 5,
        "{target}: corpus too small to mean anything: {count} files"
    );
}

#[test]
fn gossip_packet_corpus_replays() {
    replay("gossip_packet", tribune::gossip::fuzz_one);
}

#[test]
fn rpc_frame_corpus_replays() {
    replay("rpc_frame", tribune::rpc::fuzz_one);
}
