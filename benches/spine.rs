//! Criterion benches of the hot paths: log encode + durable append per batch size, KV apply,
//! request parse + route, JSON serialisation of a KV answer, DNS decode / answer / encode, a
//! gossip round, the cross-core queue, the HTTP fast path's parse and head, a rendered-answer
//! cache hit. Each folds its output into a checksum so the work cannot be optimised away.
//! `cargo bench --no-run` in CI keeps them compiling.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

use tribune::http::query::{read_options, Query};
use tribune::http::route::{decode_path, Route};
use tribune::io::log_files::LogFiles;
use tribune::kv::KvPartition;
use tribune::raft::record::{self, LogRecord};
use tribune::state::Command;

fn entry(index: u64) -> LogRecord {
    let cmd = Command::KvSet {
        key: format!("service/web/{index}"),
        value: Some(vec![7; 100]),
        flags: 0,
        cas: None,
    };
    LogRecord::Entry {
        index,
        term: 1,
        entry_type: 0,
        data: cmd.encode(),
        context: vec![0; 16],
    }
}

/// One durable append (one write + one fdatasync) of a batch: the cost per entry falls with
/// the batch size, which is what group commit buys.
fn log_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append_durable");
    group.sample_size(20);
    let dir = tempfile::tempdir().unwrap();
    let mut files = LogFiles::open(dir.path()).unwrap().files;
    for batch in [1usize, 16, 256] {
        let records: Vec<LogRecord> = (1..=batch as u64).map(entry).collect();
        let mut frames = Vec::new();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(batch),
            &records,
            |b, records| {
                b.iter(|| {
                    frames.clear();
                    for r in records {
                        record::encode_into(r, &mut frames);
                    }
                    files.append(&frames).unwrap();
                    black_box(frames.len())
                })
            },
        );
    }
    group.finish();
}

fn log_encode(c: &mut Criterion) {
    let records: Vec<LogRecord> = (1..=256).map(entry).collect();
    let mut group = c.benchmark_group("log_encode_scan");
    group.throughput(Throughput::Elements(256));
    group.bench_function("encode_256", |b| {
        let mut frames = Vec::new();
        b.iter(|| {
            frames.clear();
            for r in &records {
                record::encode_into(r, &mut frames);
            }
            black_box(frames.len())
        })
    });
    let mut frames = Vec::new();
    for r in &records {
        record::encode_into(r, &mut frames);
    }
    let mut aligned = rkyv::util::AlignedVec::<16>::new();
    aligned.extend_from_slice(&frames);
    group.bench_function("scan_256", |b| {
        b.iter(|| black_box(record::scan(&aligned).records.len()))
    });
    group.finish();
}

fn kv_apply(c: &mut Criterion) {
    let mut part = KvPartition::default();
    for i in 0..10_000u64 {
        part.apply_set(
            i + 1,
            &format!("app/{i}"),
            Some(Bytes::from_static(b"v")),
            0,
            None,
        );
    }
    let mut index = 10_000u64;
    let value = Bytes::from(vec![1u8; 100]);
    c.bench_function("kv_apply_set_10k_keys", |b| {
        b.iter_batched(
            || {
                index += 1;
                index
            },
            |i| {
                black_box(part.apply_set(
                    i,
                    &format!("app/{}", i % 10_000),
                    Some(value.clone()),
                    i,
                    None,
                ))
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("kv_get_10k_keys", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n = (n + 7919) % 10_000;
            black_box(part.get(&format!("app/{n}")).map(|e| e.modify_index))
        })
    });
}

fn parse_route(c: &mut Criterion) {
    c.bench_function("parse_route_kv_get", |b| {
        b.iter(|| {
            let path = decode_path(black_box("/v1/kv/config/web%2Fprod/db")).unwrap();
            let route = Route::resolve(&path);
            let q = Query::parse(black_box("index=1234&wait=5s&stale=&recurse"));
            let opts = read_options(&q, 0.5).unwrap();
            black_box((route, opts.min_index))
        })
    });
}

/// One gossip round: a member with 1,000 peers handles a compound packet (ping + broadcasts)
/// and ticks once; and the packet decoder alone.
fn gossip_round(c: &mut Criterion) {
    use tribune::gossip::wire::{self, Msg};
    use tribune::gossip::{Swim, SwimConfig};
    let me: std::net::SocketAddr = "10.0.0.1:8301".parse().unwrap();
    let mut swim = Swim::new(SwimConfig::lan(), "me", me, vec![], 1, 0);
    let mut out = Vec::new();
    let mut join = tribune::gossip::wire::PushPull {
        join: true,
        states: Vec::new(),
    };
    for i in 0..1000u32 {
        join.states.push(wire::PushState {
            name: format!("node-{i}"),
            addr: std::net::SocketAddr::new(std::net::Ipv4Addr::from(0x0a01_0000 + i).into(), 8301),
            incarnation: 1,
            state: wire::MemberState::Alive,
            tags: vec![("role".into(), "node".into())],
        });
    }
    swim.on_push_pull(0, join, &mut out);
    let mut packet = wire::packet_header(1).to_vec();
    wire::encode_msg(
        &Msg::Ping {
            seq: 7,
            target: "me".into(),
        },
        &mut packet,
    );
    for i in 0..10u32 {
        wire::encode_msg(
            &Msg::Alive {
                incarnation: 2,
                name: format!("node-{i}"),
                addr: std::net::SocketAddr::new(
                    std::net::Ipv4Addr::from(0x0a01_0000 + i).into(),
                    8301,
                ),
                tags: vec![("role".into(), "node".into())],
            },
            &mut packet,
        );
        packet[3] += 1;
    }
    let from: std::net::SocketAddr = "10.1.0.1:8301".parse().unwrap();
    let mut now = 1_000;
    c.bench_function("gossip_packet_and_tick_1000_members", |b| {
        b.iter(|| {
            out.clear();
            now += 10;
            swim.on_packet(now, from, &packet, &mut out);
            swim.tick(now, &mut out);
        })
    });
    c.bench_function("gossip_decode_compound_packet", |b| {
        b.iter(|| wire::decode_packet(std::hint::black_box(&packet)).unwrap())
    });
}

/// One Vivaldi observation (what every direct probe ack costs the prober), and the distance
/// estimate `?near=` computes per listed node.
fn vivaldi(c: &mut Criterion) {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    use tribune::gossip::vivaldi::{Coordinate, VivaldiClient};
    let mut rng = SmallRng::seed_from_u64(1);
    let peers: Vec<Coordinate> = (0..64)
        .map(|_| Coordinate {
            vec: std::array::from_fn(|_| rng.gen::<f64>() * 0.01),
            error: 0.3,
            ..Coordinate::default()
        })
        .collect();
    let names: Vec<String> = (0..64).map(|i| format!("node-{i}")).collect();
    let mut client = VivaldiClient::default();
    let mut i = 0usize;
    c.bench_function("vivaldi_update", |b| {
        b.iter(|| {
            i = (i + 1) % peers.len();
            let rtt = 0.001 + (i as f64) * 1e-4;
            client.update(&names[i], &peers[i], rtt, &mut rng).unwrap()
        })
    });
    let me = client.coordinate();
    c.bench_function("vivaldi_distance", |b| {
        b.iter(|| std::hint::black_box(&me).distance_s(std::hint::black_box(&peers[7])))
    });
}

/// The cross-core inbox: one message through the bounded ring (push + pop).
fn cross_core_queue(c: &mut Criterion) {
    let inbox = tribune::mesh::Inbox::default();
    c.bench_function("inbox_send_recv", |b| {
        b.iter(|| {
            inbox
                .try_send(tribune::mesh::ShardMsg::Committed { index: 1 })
                .ok()
                .unwrap();
            inbox.try_recv().unwrap()
        })
    });
}

/// A KV GET's answer serialised as Consul's JSON (`[DirEntry]`), compact.
fn http_serialize(c: &mut Criterion) {
    use tribune::http::kv_api::DirEntryJson;
    use tribune::http::response::{JsonStyle, Reply};
    let style = JsonStyle {
        indent: false,
        newline: false,
    };
    let value = Some("eyJkYiI6InByaW1hcnkiLCJwb29sIjoxNn0=".to_string());
    c.bench_function("http_serialize_kv_entry", |b| {
        b.iter(|| {
            let entry = DirEntryJson {
                lock_index: 0,
                key: black_box("config/web/prod/db"),
                flags: 0,
                value: value.clone(),
                session: "",
                create_index: 1234,
                modify_index: 5678,
            };
            black_box(Reply::json(&[entry], style).body.len())
        })
    });
}

/// DNS: decode a query for `web.service.consul` A; plan the answer over 100 instances (health
/// filter, shuffle, trim to the UDP limit); encode it.
fn dns_paths(c: &mut Criterion) {
    use tribune::dns::name;
    use tribune::dns::plan::{self, DnsConfig, Facts, InstanceData, NodeData};
    use tribune::dns::wire;
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["web", "service", "consul"] {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    let cfg = DnsConfig::defaults("dc1");
    let domains = vec!["consul.".to_string()];
    let facts = Facts {
        instances: (0..100u32)
            .map(|i| InstanceData {
                node: NodeData {
                    name: format!("node-{i}"),
                    address: format!("10.0.{}.{}", i / 250, i % 250 + 1),
                    meta: Vec::new(),
                },
                service_name: "web".into(),
                address: String::new(),
                port: 8080,
                weight_passing: 1,
                weight_warning: 1,
                status: if i % 10 == 0 { "critical" } else { "passing" }.into(),
            })
            .collect(),
        now_secs: 1_700_000_000,
        seed: 7,
        ..Default::default()
    };
    c.bench_function("dns_decode_query", |b| {
        b.iter(|| black_box(wire::decode(black_box(&packet)).is_ok()))
    });
    let q = wire::decode(&packet).unwrap();
    let plan_answer = || {
        let parsed = name::parse(&q.name, q.qtype, &domains, "dc1");
        plan::answer(
            &parsed.lookup,
            &q.name,
            q.qtype,
            &parsed.domain,
            &cfg,
            &facts,
        )
    };
    c.bench_function("dns_answer_and_encode_100_instances", |b| {
        b.iter(|| black_box(wire::encode(&q, &plan_answer(), false).len()))
    });
    // What a cached answer costs instead: the key lookup, the stamp compared, the copy with
    // the ID patched (the stamp's reads are the shell's: an atomic load and the clock).
    use tribune::dns::cache::{AnswerCache, Source, Stamp};
    let planned = plan::fit(plan_answer(), &q.name, &cfg, false, q.edns_size, q.qtype);
    let reply = wire::encode(&q, &planned, false);
    let source = Source {
        shard: Some(0),
        shuffled: false,
    };
    let stamp = Stamp {
        second: 1_700_000_000,
        catalog: 42,
        acl: (0, 0, false),
    };
    let mut cache = AnswerCache::new();
    cache.insert(false, &packet, &reply, source, stamp);
    let mut out = Vec::with_capacity(512);
    c.bench_function("dns_cache_hit", |b| {
        b.iter(|| black_box(cache.serve(false, black_box(&packet), |_| stamp, &mut out)))
    });
}

/// The HTTP fast path's own work for one KV GET: parse the head in place, write the reply's
/// head as hyper would; and a hit in the rendered-answer cache (key built, entry cloned).
fn http_fast_path(c: &mut Criterion) {
    use tribune::http::body_cache::{self, BodyCache, Stamp};
    use tribune::http::response::{JsonStyle, Reply};
    use tribune::io::http1;
    let request = b"GET /v1/kv/config/web/prod/db HTTP/1.1\r\nHost: 127.0.0.1:8500\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Consul-Default-Acl-Policy", "allow"),
        ("X-Consul-Index", "5678"),
        ("X-Consul-Knownleader", "true"),
        ("X-Consul-Lastcontact", "0"),
        ("X-Consul-Query-Backend", "blocking-query"),
    ];
    let mut out = Vec::with_capacity(512);
    c.bench_function("http_fast_path_parse_and_head", |b| {
        b.iter(|| {
            let mut slots = http1::header_slots();
            let head_len = match http1::parse(black_box(request), &mut slots) {
                http1::Parse::Plain(plain) => plain.head_len,
                _ => unreachable!("a plain GET"),
            };
            out.clear();
            http1::write_head(
                &mut out,
                200,
                &headers,
                http1::Framing::Length(86),
                false,
                false,
            );
            black_box(head_len + out.len())
        })
    });
    let style = JsonStyle {
        indent: false,
        newline: false,
    };
    let stamp = Stamp {
        catalog: 42,
        acl: 0,
    };
    let query = Query::parse("passing&index=41");
    let mut cache = BodyCache::default();
    let key = body_cache::key("/v1/health/service/web", &query, style, "").unwrap();
    cache.put(key, stamp, 41, &Reply::text(200, "x".repeat(9400)));
    c.bench_function("http_body_cache_hit", |b| {
        b.iter(|| {
            let key = body_cache::key("/v1/health/service/web", black_box(&query), style, "");
            let (index, reply) = cache.get(&key.unwrap(), stamp).expect("a hit");
            black_box(index + reply.body.len() as u64)
        })
    });
}

criterion_group!(
    benches,
    http_fast_path,
    log_append,
    log_encode,
    kv_apply,
    parse_route,
    http_serialize,
    dns_paths,
    gossip_round,
    vivaldi,
    cross_core_queue
);
criterion_main!(benches);
