//! Golden tests of the pure HTTP pieces: routes, query parsing, JSON encoding, preflight.

use std::time::Duration;

use super::preflight;
use super::query::{parse_go_duration, read_options, Consistency, Query};
use super::response::{encode_json, JsonStyle};
use super::route::{decode_path, Route};

#[test]
fn go_durations() {
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(parse_go_duration("300ms"), ms(300));
    assert_eq!(parse_go_duration("1.5s"), ms(1500));
    assert_eq!(parse_go_duration("1h30m"), ms(5_400_000));
    assert_eq!(parse_go_duration("0"), ms(0));
    assert_eq!(parse_go_duration("10"), None);
    assert_eq!(parse_go_duration("abc"), None);
    assert_eq!(parse_go_duration(""), None);
    assert_eq!(parse_go_duration("1.2.3s"), None);
    assert_eq!(parse_go_duration("5x"), None);
}

#[test]
fn read_options_match_consul() {
    let q = |s: &str| Query::parse(s);
    let o = read_options(&q("index=5&wait=10s"), 0.0).unwrap();
    assert_eq!((o.min_index, o.wait), (5, Duration::from_secs(10)));
    // Jitter adds at most wait/16; the cap is 600 s before jitter.
    let o = read_options(&q("index=5&wait=1h"), 0.999).unwrap();
    assert!(o.wait > Duration::from_secs(600) && o.wait < Duration::from_secs(638));
    assert_eq!(
        read_options(&q("index=5"), 0.0).unwrap().wait,
        Duration::from_secs(300)
    );
    assert_eq!(
        read_options(&q("index=x"), 0.0).unwrap_err(),
        "Invalid index"
    );
    assert_eq!(
        read_options(&q("wait=10"), 0.0).unwrap_err(),
        "Invalid wait time"
    );
    assert_eq!(
        read_options(&q("stale&consistent"), 0.0).unwrap_err(),
        "Cannot specify ?stale with ?consistent, conflicting semantics."
    );
    assert_eq!(
        read_options(&q("stale=1"), 0.0).unwrap().consistency,
        Consistency::Stale
    );
}

#[test]
fn query_presence_and_decoding() {
    let q = Query::parse("recurse&separator=%2F&tag=a&tag=b&x=a+b");
    assert!(q.has("recurse"));
    assert_eq!(q.get("recurse"), Some(""));
    assert_eq!(q.get("separator"), Some("/"));
    assert_eq!(q.get("tag"), Some("a"));
    assert_eq!(q.get("x"), Some("a b"));
    assert!(!q.has("keys"));
}

#[test]
fn a_query_value_is_replaced_in_the_pairs_and_the_raw_form() {
    let q = Query::parse("near=_agent&tag=a&near=x&node-meta=k%3Av");
    let r = q.with_value("near", "node one/é");
    assert_eq!(r.all("near"), ["node one/é", "node one/é"]);
    assert_eq!(r.all("tag"), ["a"]);
    assert_eq!(r.get("node-meta"), Some("k:v"));
    // What forwarding sends on decodes to the same pairs.
    let again = Query::parse(r.raw());
    assert_eq!(again.all("near"), r.all("near"));
    assert_eq!(again.get("node-meta"), Some("k:v"));
    assert!(r.raw().contains("tag=a&"), "{}", r.raw());
}

#[test]
fn a_query_value_is_added_when_absent() {
    let q = Query::parse("stale");
    let r = q.with_value("dc", "dc 2");
    assert_eq!((r.get("dc"), r.has("stale")), (Some("dc 2"), true));
    assert_eq!(Query::parse(r.raw()).get("dc"), Some("dc 2"));
    assert_eq!(Query::parse("").with_value("dc", "x").raw(), "dc=x");
}

#[test]
fn routes_and_paths() {
    assert_eq!(Route::resolve("/v1/kv/a/b"), Route::Kv("a/b".into()));
    assert_eq!(Route::resolve("/v1/kv/"), Route::Kv(String::new()));
    assert_eq!(Route::resolve("/v1/nope"), Route::UnknownApi);
    assert_eq!(Route::resolve("/nope"), Route::NotApi);
    assert_eq!(decode_path("/v1/kv/a%2Fb").unwrap(), "/v1/kv/a/b");
    assert!(decode_path("/v1/kv/a%0Ab").is_err());
    assert!(decode_path("/v1/kv/%FF").is_err());
    assert_eq!(
        Route::Kv(String::new()).allow_header(),
        "OPTIONS,GET,PUT,DELETE"
    );
}

#[test]
fn preflight_answers() {
    let r = preflight(&Route::UnknownApi, "GET").unwrap();
    assert_eq!(
        (r.status, &r.body[..]),
        (
            404,
            &b"Invalid URL path: not a recognized HTTP API endpoint\n"[..]
        )
    );
    let r = preflight(&Route::Txn, "GET").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(&r.body[..], b"method GET not allowed");
    assert_eq!(r.headers, vec![("Allow", "OPTIONS,PUT".to_string())]);
    let r = preflight(&Route::Txn, "OPTIONS").unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert!(preflight(&Route::Txn, "PUT").is_none());
}

#[test]
fn json_like_go() {
    let compact = JsonStyle {
        indent: false,
        newline: false,
    };
    let pretty = JsonStyle {
        indent: true,
        newline: true,
    };
    assert_eq!(
        encode_json(&vec!["<a&b>"], compact),
        br#"["\u003ca\u0026b\u003e"]"#.to_vec()
    );
    assert_eq!(encode_json(&"\u{2028}", compact), br#""\u2028""#.to_vec());
    let v = serde_json::json!({"A": [1]});
    assert_eq!(
        String::from_utf8(encode_json(&v, pretty)).unwrap(),
        "{\n    \"A\": [\n        1\n    ]\n}\n"
    );
    assert_eq!(encode_json(&Vec::<u8>::new(), pretty), b"[]\n".to_vec());
}

#[test]
fn dir_entry_shape() {
    let entry = crate::kv::DirEntry {
        key: "k".into(),
        lock_index: 0,
        flags: 3,
        value: Some(bytes::Bytes::from_static(b"bar")),
        session: String::new(),
        create_index: 4,
        modify_index: 5,
    };
    let json = encode_json(
        &super::kv_api::DirEntryJson::from_entry(&entry, true),
        JsonStyle {
            indent: false,
            newline: false,
        },
    );
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"LockIndex":0,"Key":"k","Flags":3,"Value":"YmFy","CreateIndex":4,"ModifyIndex":5}"#
    );
}

mod properties {
    //! Every parser that sees network bytes: never panics, and accepts what it should.
    use proptest::prelude::*;

    use super::super::coordinate_api::{parse_update, BadUpdate};
    use super::super::query::{parse_go_duration, read_options, Query};
    use super::super::route::{decode_path, Route};
    use super::super::txn_api::{parse_ops, Invalid};

    proptest! {
        #[test]
        fn coordinate_update_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_update(&bytes);
        }

        #[test]
        fn coordinate_updates_round_trip_or_are_refused(
            node in "[a-z0-9-]{1,12}",
            vec in prop::collection::vec(-1.0f64..1.0, 0..10),
            error in 0.0f64..1.5,
            height in 0.0f64..1.0,
        ) {
            let body = serde_json::json!({
                "Node": node,
                "Coord": {"Vec": vec, "Error": error, "Adjustment": 0.0, "Height": height},
            });
            let parsed = parse_update(&serde_json::to_vec(&body).unwrap());
            if vec.len() == 8 {
                let u = parsed.expect("a well-formed update");
                prop_assert_eq!(&u.node, &node);
                let c = u.coordinate();
                prop_assert_eq!(c.vec.to_vec(), vec);
                prop_assert_eq!((c.error, c.height), (error, height));
            } else {
                prop_assert_eq!(parsed.err(), Some(BadUpdate::Coordinate));
            }
        }

        #[test]
        fn query_and_path_parsers_never_panic(raw in ".{0,200}", jitter in 0.0f64..1.0) {
            let q = Query::parse(&raw);
            let _ = read_options(&q, jitter);
            if let Ok(path) = decode_path(&raw) {
                let _ = Route::resolve(&path);
                prop_assert!(!path.chars().any(char::is_control));
            }
        }

        #[test]
        fn durations_round_trip(ms in 0u64..10_000_000, unit in 0usize..3) {
            let (text, expect) = match unit {
                0 => (format!("{ms}ms"), ms),
                1 => (format!("{}s", ms / 1000), ms / 1000 * 1000),
                _ => (format!("{}m{}s", ms / 60_000, ms % 60_000 / 1000), ms / 1000 * 1000),
            };
            prop_assert_eq!(parse_go_duration(&text).unwrap().as_millis() as u64, expect);
        }

        #[test]
        fn duration_parser_never_panics(s in "[0-9.a-zµ+-]{0,24}") {
            let _ = parse_go_duration(&s);
        }

        #[test]
        fn txn_body_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_ops(&bytes);
        }

        #[test]
        fn txn_body_accepts_well_formed_ops(keys in prop::collection::vec("[a-z/]{1,12}", 1..20), flags: u64) {
            let ops: Vec<serde_json::Value> = keys.iter().map(|k| serde_json::json!(
                {"KV": {"Verb": "set", "Key": k, "Value": "eA==", "Flags": flags}}
            )).collect();
            let body = serde_json::to_vec(&ops).unwrap();
            let parsed = parse_ops(&body).ok().expect("well-formed body");
            prop_assert_eq!(parsed.len(), keys.len());
            prop_assert!(parsed.iter().zip(&keys).all(|(op, k)| &op.key == k && op.flags == flags));
        }

        #[test]
        fn txn_over_128_ops_is_413(n in 129usize..200) {
            let ops = vec![serde_json::json!({"KV": {"Verb": "get", "Key": "k"}}); n];
            let body = serde_json::to_vec(&ops).unwrap();
            prop_assert!(matches!(parse_ops(&body), Err(Invalid::TooLarge(_))));
        }
    }
}

#[test]
fn route_specs_declare_what_the_handlers_relied_on() {
    use super::route::{Access, NameFrom, Resource, Serve};
    use crate::config::{
        BODY_BYTES_DEFAULT_MAX, KV_VALUE_BYTES_MAX, SNAPSHOT_BYTES_MAX, TXN_BODY_BYTES_MAX,
    };
    let kv = Route::resolve("/v1/kv/a/b").spec();
    assert_eq!(kv.body_limit, KV_VALUE_BYTES_MAX);
    assert_eq!((kv.serve, kv.blocking), (Serve::Leader, true));
    let p = kv.permission;
    assert_eq!(
        (p.resource, p.name, p.access),
        (Some(Resource::Key), NameFrom::Path, Access::ByMethod)
    );
    assert_eq!(Route::Txn.spec().body_limit, TXN_BODY_BYTES_MAX);
    assert_eq!(Route::CatalogRegister.spec().body_limit, TXN_BODY_BYTES_MAX);
    assert_eq!(Route::Snapshot.spec().body_limit, SNAPSHOT_BYTES_MAX);
    assert_eq!(
        Route::AgentServices.spec().body_limit,
        BODY_BYTES_DEFAULT_MAX
    );
    // Where each is served, as forwarding read it before the table held it.
    assert_eq!(Route::AgentSelf.spec().serve, Serve::AgentLocal);
    assert_eq!(Route::AgentVersion.spec().serve, Serve::ThisAgent);
    assert_eq!(Route::StatusLeader.spec().serve, Serve::AnyServer);
    assert_eq!(
        Route::CatalogDatacenters.spec().serve,
        Serve::AnyServerWanWide
    );
    assert_eq!(
        Route::CoordinateDatacenters.spec().serve,
        Serve::AnyServerWanWide
    );
    assert!(Route::EventList.is_agent_local() && Route::OperatorKeyring.is_agent_local());
    assert!(Route::AgentSelf.is_agent_local() && !Route::CatalogNodes.is_agent_local());
    assert_eq!(Route::StatusPeers.spec().permission.resource, None);
    // Non-API paths accept nothing.
    assert!(Route::NotApi.methods().is_empty() && !Route::Root.is_api());
}

#[test]
fn the_token_is_found_where_consul_looks() {
    let request = |headers: &[(&str, &str)], query: &str| super::ApiRequest {
        method: "GET".into(),
        path: "/v1/kv/k".into(),
        query: Query::parse(query),
        body: bytes::Bytes::new(),
        style: JsonStyle::default(),
        jitter: 0.0,
        hops: 0,
        headers: super::carried_headers(headers.iter().copied()),
        identity: None,
    };
    let both = [("X-Consul-Token", "a"), ("Authorization", "Bearer b")];
    // consul-api.md §1.2: `?token=` first, then `X-Consul-Token`, then `Bearer`.
    assert_eq!(request(&both, "token=c").token(), Some("c"));
    assert_eq!(request(&both, "").token(), Some("a"));
    assert_eq!(request(&both[1..], "").token(), Some("b"));
    assert_eq!(
        request(&[("authorization", "bearer  b ")], "").token(),
        Some("b")
    );
    assert_eq!(
        request(&[("Authorization", "Basic x")], "token=c").token(),
        Some("c")
    );
    assert_eq!(request(&[("X-Consul-Token", "")], "").token(), None);
    // Only the API's headers are carried, under their lowercase names.
    let r = request(&[("Cookie", "x"), ("ACCEPT", "text/plain")], "");
    assert_eq!(
        r.headers,
        [("accept".to_string(), "text/plain".to_string())]
    );
}
