//! The DNS answer cache never serves what a fresh answer would not say: random catalog changes
//! on a 2-shard agent, and after each one every question asked in a form the cache holds and
//! in a form it has never seen (an extra EDNS option makes the bytes new), compared record for
//! record (as sets: Consul's order is random).

mod support;

use std::net::UdpSocket;
use std::str::FromStr;
use std::time::Duration;

use domain::base::iana::Rtype;
use domain::base::name::ParsedName;
use domain::base::{Message, MessageBuilder, Name};
use domain::dep::octseq::OctetsBuilder;
use domain::rdata::AllRecordData;
use rand::{Rng, SeedableRng};
use serde_json::json;
use support::{eventually, free_port, Agent};

/// A query for `name`/`qtype` with an EDNS record (room for every instance); `nonce` adds a
/// local-use EDNS option, so the bytes are new to the cache.
fn query(name: &str, qtype: u16, nonce: Option<u64>) -> Vec<u8> {
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(rand::random());
    b.header_mut().set_rd(true);
    let mut q = b.question();
    q.push((
        Name::<Vec<u8>>::from_str(name).unwrap(),
        Rtype::from_int(qtype),
    ))
    .unwrap();
    let mut add = q.additional();
    add.opt(|o| {
        o.set_udp_payload_size(1232);
        if let Some(nonce) = nonce {
            o.push_raw_option(
                domain::base::iana::OptionCode::from_int(65001),
                8,
                |target| target.append_slice(&nonce.to_be_bytes()),
            )?;
        }
        Ok(())
    })
    .unwrap();
    add.finish()
}

/// The reply's code, and its answer and additional records (but the OPT), sorted.
fn ask(socket: &UdpSocket, packet: &[u8]) -> (u8, Vec<String>) {
    socket.send(packet).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("a DNS reply");
    let msg = Message::from_octets(&buf[..n]).unwrap();
    assert_eq!(
        msg.header().id(),
        u16::from_be_bytes([packet[0], packet[1]])
    );
    let mut records = Vec::new();
    let answer = msg.answer().unwrap();
    let additional = answer
        .next_section()
        .unwrap()
        .unwrap()
        .next_section()
        .unwrap()
        .unwrap();
    for section in [msg.answer().unwrap(), additional] {
        for rr in section.limit_to::<AllRecordData<_, ParsedName<_>>>() {
            let rr = rr.unwrap();
            if rr.rtype() != Rtype::OPT {
                records.push(rr.to_string());
            }
        }
    }
    records.sort();
    (msg.header().rcode().to_int(), records)
}

#[test]
fn cached_answers_match_fresh_ones_under_random_catalog_changes() {
    let dns_port = free_port();
    let (agent, _config) =
        Agent::start_with_prometheus(&["-dns-port", &dns_port.to_string(), "-shards", "2"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", dns_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut questions: Vec<(String, u16)> = vec![
        ("web.service.consul.".into(), 1),
        ("web.service.consul.".into(), 33),
        ("v1.web.service.consul.".into(), 1),
        ("api.service.consul.".into(), 33),
        ("consul.service.consul.".into(), 1),
        ("missing.service.consul.".into(), 1),
        ("2.0.0.10.in-addr.arpa.".into(), 12),
    ];
    questions.extend((0..4).map(|n| (format!("n{n}.node.consul."), 1)));

    let mut rng = rand::rngs::SmallRng::seed_from_u64(20261207);
    let statuses = ["passing", "warning", "critical"];
    for step in 0..80 {
        let node = format!("n{}", rng.gen_range(0..4));
        let address = format!("10.0.0.{}", rng.gen_range(1..4));
        let body = match rng.gen_range(0..5) {
            0 | 1 => {
                let service = ["web", "api"][rng.gen_range(0..2)];
                let id = format!("{service}-{}", rng.gen_range(0..2));
                let tags: Vec<&str> = ["v1", "v2"].into_iter().filter(|_| rng.gen()).collect();
                json!({"Node": node, "Address": address,
                       "Service": {"ID": id, "Service": service, "Tags": tags, "Port": rng.gen_range(1..9000)},
                       "Check": {"CheckID": format!("c-{id}"), "ServiceID": id,
                                 "Status": statuses[rng.gen_range(0..3)]}})
            }
            2 => json!({"Node": node, "Address": address}),
            3 => json!({"Node": node, "Address": address,
                        "Check": {"CheckID": "serfHealth", "Status": statuses[rng.gen_range(0..3)]}}),
            _ => {
                let body = match rng.gen_range(0..2) {
                    0 => json!({"Node": node}),
                    _ => json!({"Node": node, "ServiceID": format!("web-{}", rng.gen_range(0..2))}),
                };
                let (status, _, _) = agent
                    .call("PUT", "/v1/catalog/deregister", body.to_string().as_bytes())
                    .unwrap();
                assert_eq!(status, 200, "step {step}");
                continue;
            }
        };
        let (status, _, _) = agent
            .call("PUT", "/v1/catalog/register", body.to_string().as_bytes())
            .unwrap();
        assert_eq!(status, 200, "step {step}: {body}");
        for (name, qtype) in &questions {
            let cacheable = query(name, *qtype, None);
            let fresh = ask(&socket, &query(name, *qtype, Some(rng.gen())));
            // Enough repeats for a shuffled answer to have gathered its orders and be served.
            for _ in 0..6 {
                let mut again = cacheable.clone();
                again[..2].copy_from_slice(&rand::random::<u16>().to_be_bytes());
                assert_eq!(
                    ask(&socket, &again),
                    fresh,
                    "step {step}: {name} type {qtype} after {body}"
                );
            }
        }
    }
    // The comparison above meant something only if the cache answered.
    eventually(10, "cache hits counted", || {
        agent.prometheus_value("consul_dns_cache_hit") > 1000.0
    });
}

/// Junk, responses and over-long datagrams sent in one burst with real queries (so they share
/// a `recvmmsg` batch) are dropped; every real query in the burst is answered.
#[test]
fn junk_in_a_batch_is_dropped_and_the_rest_answered() {
    let dns_port = free_port();
    let agent = Agent::start_with(free_port(), None, &["-dns-port", &dns_port.to_string()]);
    let (status, _, _) = agent
        .call(
            "PUT",
            "/v1/catalog/register",
            json!({"Node": "n1", "Address": "10.0.0.1"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(status, 200);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", dns_port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let real = query("n1.node.consul.", 1, None);
    let mut response = real.clone();
    response[2] |= 0x80; // QR: a response, never answered
    let junk: Vec<Vec<u8>> = vec![
        vec![0xff; 5],
        response,
        vec![0u8; 5000],
        real[..14].to_vec(),
    ];
    // Round by round, so the socket's receive buffer never overflows (a kernel drop is not
    // what this test is about).
    let mut buf = [0u8; 4096];
    for round in 0..20u16 {
        for bad in &junk {
            socket.send(bad).unwrap();
        }
        let mut good = real.clone();
        good[..2].copy_from_slice(&round.to_be_bytes());
        socket.send(&good).unwrap();
        let (mut answered, mut formerr) = (false, false);
        while !(answered && formerr) {
            let n = socket.recv(&mut buf).expect("a reply to each real query");
            let msg = Message::from_octets(&buf[..n]).unwrap();
            match msg.header().rcode().to_int() {
                0 => {
                    assert_eq!(msg.header().id(), round);
                    assert_eq!(msg.header_counts().ancount(), 1);
                    answered = true;
                }
                1 => formerr = true, // the cut-short query: FORMERR, as before batching
                other => panic!("rcode {other}"),
            }
        }
    }
    // Nothing else was answered.
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(socket.recv(&mut buf).is_err());
}
