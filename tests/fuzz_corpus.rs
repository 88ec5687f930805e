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
