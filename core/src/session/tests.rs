//! Session TTL timers: armed at twice the TTL, re-armed in full by a new leader, reported
//! once per retry period while the destroy has not committed.

use super::timers::{SessionTimers, EXPIRY_RETRY_MS};
use super::{Behavior, Session};

fn session(id: &str, ttl: &str) -> Session {
    Session {
        id: id.into(),
        name: String::new(),
        node: "n1".into(),
        lock_delay_ns: 0,
        behavior: Behavior::Release,
        ttl: ttl.into(),
        node_checks: Vec::new(),
        service_checks: Vec::new(),
        create_index: 1,
        modify_index: 1,
    }
}

#[test]
fn a_ttl_expires_at_twice_its_length_and_renew_pushes_it_back() {
    let mut timers = SessionTimers::default();
    let (a, b, none) = (session("a", "10s"), session("b", "1m"), session("c", ""));
    timers.rearm(&[a.clone(), b, none], 1_000);
    assert_eq!(timers.len(), 2, "a session without a TTL has no timer");
    assert!(timers.expired(20_999).is_empty());
    timers.arm(&a, 15_000); // renewed
    assert!(
        timers.expired(21_000).is_empty(),
        "renew moved the deadline to 35 s"
    );
    assert_eq!(timers.expired(35_000), ["a"]);
    assert!(
        timers.expired(35_001).is_empty(),
        "reported again only after the retry period"
    );
    assert_eq!(timers.expired(35_000 + EXPIRY_RETRY_MS), ["a"]);
    timers.remove("a");
    assert_eq!(timers.expired(121_000), ["b"]);
}

#[test]
fn a_new_leader_rearms_every_ttl_in_full() {
    let mut timers = SessionTimers::default();
    let a = session("a", "10s");
    timers.rearm(std::slice::from_ref(&a), 0);
    // Leadership moves at 19 s: the new leader starts a full 20 s from its own now.
    timers.rearm(std::slice::from_ref(&a), 19_000);
    assert!(timers.expired(38_999).is_empty());
    assert_eq!(timers.expired(39_000), ["a"]);
    assert_eq!(timers.next_deadline(), Some(39_000 + EXPIRY_RETRY_MS));
}
