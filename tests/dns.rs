//! The DNS interface of a real agent, asked with `dig` (installed by `.ci/run`).

mod support;

use std::net::UdpSocket;
use std::process::Command;

use support::{eventually, free_port, Agent};

fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg("@127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(["+time=3", "+tries=1"])
        .args(args)
        .output()
        .expect("dig must be installed (dnsutils, see .ci/run)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Output with runs of whitespace folded to one space (dig aligns with tabs).
fn folded(out: &str) -> String {
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("")
}

fn answer_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn dig_answers_like_consul() {
    let dns_port = free_port();
    let agent = Agent::start_with(free_port(), None, &["-dns-port", &dns_port.to_string()]);
    let register = |body: serde_json::Value| {
        assert_eq!(
            agent
                .put("/v1/catalog/register", body.to_string().as_bytes())
                .1,
            "true"
        )
    };
    for i in 0..40 {
        register(serde_json::json!({
            "Node": format!("node{i}"), "Address": format!("10.0.{}.{}", i / 250, i % 250 + 1), "NodeMeta": {"rack": "r1"},
            "Service": {"Service": "web", "ID": format!("web-{i}"), "Tags": ["v1"], "Port": 8000 + i},
            "Check": {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": if i == 0 { "critical" } else { "passing" }},
        }));
    }
    register(
        serde_json::json!({"Node": "db1", "Address": "10.9.0.1", "Service": {"Service": "db", "Address": "10.9.9.9", "Port": 5432, "Tags": ["primary"]}}),
    );
    let p = dns_port;

    // Service A over UDP without EDNS: three answers, no TC (Consul's default), critical excluded.
    let out = dig(
        p,
        &[
            "web.service.consul",
            "A",
            "+noedns",
            "+noall",
            "+answer",
            "+comments",
        ],
    );
    assert_eq!(status(&out), "NOERROR");
    let answers = answer_lines(&out);
    assert_eq!(answers.len(), 3, "{out}");
    assert!(
        answers
            .iter()
            .all(|a| a.starts_with("web.service.consul. 0 IN A 10.0.")),
        "{answers:?}"
    );
    assert!(!out.contains(" tc"), "no TC without enable_truncate: {out}");
    // TCP carries the full set (39 healthy of 40).
    let out = dig(p, &["web.service.consul", "A", "+tcp", "+noall", "+answer"]);
    assert_eq!(answer_lines(&out).len(), 39);
    assert!(
        !out.contains("10.0.0.1\n"),
        "the critical instance must not appear: {out}"
    );
    // Tag filter and RFC 2782 forms.
    assert_eq!(
        answer_lines(&dig(p, &["primary.db.service.consul", "+noall", "+answer"])),
        ["primary.db.service.consul. 0 IN A 10.9.9.9"]
    );
    let srv = answer_lines(&dig(
        p,
        &[
            "_db._tcp.service.consul",
            "SRV",
            "+noall",
            "+answer",
            "+additional",
        ],
    ));
    assert_eq!(
        srv[0],
        "_db._tcp.service.consul. 0 IN SRV 1 1 5432 0a090909.addr.dc1.consul."
    );
    assert_eq!(srv[1], "0a090909.addr.dc1.consul. 0 IN A 10.9.9.9");
    assert_eq!(
        status(&dig(p, &["_db._primary.service.consul", "SRV"])),
        "NOERROR"
    );
    assert_eq!(
        status(&dig(p, &["_db._secondary.service.consul", "SRV"])),
        "NXDOMAIN"
    );
    // Node lookup with meta TXT in additional; unknown node NXDOMAIN with SOA.
    let node = answer_lines(&dig(
        p,
        &["node5.node.consul", "+noall", "+answer", "+additional"],
    ));
    assert_eq!(
        node,
        [
            "node5.node.consul. 0 IN A 10.0.0.6",
            "node5.node.consul. 0 IN TXT \"rack=r1\""
        ]
    );
    let out = dig(
        p,
        &["ghost.node.consul", "+noall", "+comments", "+authority"],
    );
    assert_eq!(status(&out), "NXDOMAIN");
    assert!(
        folded(&out).contains("IN SOA ns.consul. hostmaster.consul."),
        "{out}"
    );
    // NODATA: AAAA for an IPv4-only service is NOERROR with SOA.
    let out = dig(
        p,
        &[
            "db.service.consul",
            "AAAA",
            "+noall",
            "+comments",
            "+authority",
        ],
    );
    assert_eq!(status(&out), "NOERROR");
    assert!(folded(&out).contains("IN SOA"), "{out}");
    // addr, PTR, SOA, case-insensitivity, out of zone.
    assert_eq!(
        answer_lines(&dig(p, &["0a090909.addr.consul", "+noall", "+answer"])),
        ["0a090909.addr.consul. 0 IN A 10.9.9.9"]
    );
    assert_eq!(
        answer_lines(&dig(p, &["-x", "10.9.0.1", "+noall", "+answer"])),
        ["1.0.9.10.in-addr.arpa. 0 IN PTR db1.node.dc1.consul."]
    );
    assert!(dig(p, &["consul", "SOA", "+short"]).starts_with("ns.consul. hostmaster.consul. "));
    assert_eq!(
        answer_lines(&dig(p, &["DB.Service.CONSUL", "+noall", "+answer"])).len(),
        1
    );
    assert_eq!(status(&dig(p, &["example.com"])), "REFUSED");
    // A service whose only instance is critical is NXDOMAIN.
    register(
        serde_json::json!({"Node": "sick", "Address": "10.8.0.1", "Service": {"Service": "sick"}, "Check": {"CheckID": "c", "ServiceID": "sick", "Status": "critical"}}),
    );
    assert_eq!(status(&dig(p, &["sick.service.consul"])), "NXDOMAIN");
    // The agent's own `consul` service: servers.
    eventually(5, "consul service in DNS", || {
        status(&dig(p, &["consul.service.consul"])) == "NOERROR"
    });
}

#[test]
fn recursors_forward_names_outside_the_domain() {
    // A tiny resolver: answers every question with 192.0.2.7, echoing id and question.
    let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver_addr = resolver.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = resolver.recv_from(&mut buf) {
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80; // QR
            reply[3] = 0x80; // RA, NOERROR
            reply[6..8].copy_from_slice(&1u16.to_be_bytes()); // ANCOUNT
            reply[10..12].copy_from_slice(&0u16.to_be_bytes()); // no additional (drop the OPT)
            let question_end = 12 + reply[12..].iter().position(|&b| b == 0).unwrap() + 5;
            reply.truncate(question_end);
            reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
            let _ = resolver.send_to(&reply, peer);
        }
    });
    let dns_port = free_port();
    let agent = Agent::start_with(
        free_port(),
        None,
        &[
            "-dns-port",
            &dns_port.to_string(),
            "-recursor",
            &resolver_addr.to_string(),
        ],
    );
    let out = dig(
        dns_port,
        &["www.example.com", "+noall", "+answer", "+comments"],
    );
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(out.contains(" ra"), "RA set when recursors exist: {out}");
    assert_eq!(answer_lines(&out), ["www.example.com. 60 IN A 192.0.2.7"]);
    // Names in the domain are still ours.
    assert_eq!(status(&dig(dns_port, &["ghost.node.consul"])), "NXDOMAIN");
    drop(agent);
}
