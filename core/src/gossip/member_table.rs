//! A member's view of the pool, and the order it probes it in, optionally on top of a view
//! shared by many simulated members.
//!
//! A real agent owns its whole table (`shared` is `None`). The simulator at tens of thousands of
//! members cannot: 50,000 full views are 2.5 × 10⁹ member records. There, every member starts
//! from one immutable `SharedView` (everyone alive at incarnation 1, as after a completed
//! join) and keeps only what differs from it: copy on write per record. Written by hand: no
//! crate gives a copy-on-write overlay with the invariant `reap` and `alive_count` rely on (a
//! shared record is always alive), which keeps both proportional to the changes, not to n.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::swim::{DetMap, DetSet, Member};
use super::wire::MemberState;

/// The membership every simulated member starts from. Invariant: every record is alive.
pub struct SharedView {
    members: DetMap<String, Member>,
    names: Vec<String>,
}

impl SharedView {
    pub fn new<'a>(
        members: impl Iterator<Item = (&'a str, SocketAddr, &'a [(String, String)])>,
    ) -> SharedView {
        let mut view = SharedView {
            members: DetMap::default(),
            names: Vec::new(),
        };
        for (name, addr, tags) in members {
            let m = Member {
                name: name.to_string(),
                addr,
                incarnation: 1,
                state: MemberState::Alive,
                tags: tags.to_vec(),
                state_change_ms: 0,
            };
            if view.members.insert(name.to_string(), m).is_none() {
                view.names.push(name.to_string());
            }
        }
        view
    }
}

#[derive(Default)]
pub(crate) struct MemberTable {
    shared: Option<Arc<SharedView>>,
    /// Records not in `shared`, or changed from it (all records when there is no shared view).
    own: DetMap<String, Member>,
    /// Shared records this member forgot.
    hidden: DetSet<String>,
    /// Own records that stand in for shared ones (kept so that `len`, asked on every alive
    /// message, stays O(1)).
    shadowing: usize,
}

impl MemberTable {
    pub fn on_shared(shared: Arc<SharedView>) -> MemberTable {
        MemberTable {
            shared: Some(shared),
            ..MemberTable::default()
        }
    }

    fn shared_get(&self, name: &str) -> Option<&Member> {
        let shared = self.shared.as_ref()?;
        if self.hidden.contains(name) {
            return None;
        }
        shared.members.get(name)
    }

    pub fn get(&self, name: &str) -> Option<&Member> {
        self.own.get(name).or_else(|| self.shared_get(name))
    }

    /// Copies a shared record into this member's own on first write.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Member> {
        if !self.own.contains_key(name) {
            let copy = self.shared_get(name)?.clone();
            self.own.insert(name.to_string(), copy);
            self.shadowing += 1;
        }
        self.own.get_mut(name)
    }

    fn in_shared(&self, name: &str) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.members.contains_key(name))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn insert(&mut self, name: String, m: Member) {
        self.hidden.remove(&name);
        if self.in_shared(&name) && !self.own.contains_key(&name) {
            self.shadowing += 1;
        }
        self.own.insert(name, m);
    }

    pub fn remove(&mut self, name: &str) -> Option<Member> {
        let own = self.own.remove(name);
        if !self.in_shared(name) || self.hidden.contains(name) {
            return own; // hidden shared records have no own copy
        }
        self.hidden.insert(name.to_string());
        if own.is_some() {
            self.shadowing -= 1;
            return own;
        }
        self.shared
            .as_ref()
            .and_then(|s| s.members.get(name))
            .cloned()
    }

    fn shadowed_or_hidden(&self, name: &str) -> bool {
        self.own.contains_key(name) || self.hidden.contains(name)
    }

    fn shared_len(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.members.len())
    }

    pub fn len(&self) -> usize {
        self.own.len() + self.shared_len() - self.hidden.len() - self.shadowing
    }

    pub fn values(&self) -> impl Iterator<Item = &Member> {
        let shared = self.shared.iter().flat_map(|s| s.members.values());
        self.own
            .values()
            .chain(shared.filter(|m| !self.shadowed_or_hidden(&m.name)))
    }

    /// Records that may be anything but alive at incarnation 1 since the start: all of them
    /// without a shared view, only this member's own with one (shared records are alive).
    pub fn changed(&self) -> impl Iterator<Item = &Member> {
        self.own.values()
    }

    /// Records a merge into `other` could change: all of them, unless both tables sit on the
    /// same shared view. Then only this table's own records, and the shared records `other`
    /// has forgotten: a shared record is alive at incarnation 1, and merging it into a table
    /// that holds the member at all (shared, or own at an incarnation ≥ 1) changes nothing.
    /// The simulator's push-pulls at 50,000 members exchange this instead of full states.
    pub fn merge_relevant<'a>(&'a self, other: &'a MemberTable) -> Vec<&'a Member> {
        match (&self.shared, &other.shared) {
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {
                let forgotten_there = other
                    .hidden
                    .iter()
                    .filter(|n| !self.shadowed_or_hidden(n))
                    .filter_map(|n| a.members.get(n.as_str()));
                self.own.values().chain(forgotten_there).collect()
            }
            _ => self.values().collect(),
        }
    }

    /// Alive, suspect and leaving members, in O(own records).
    pub fn alive_count(&self) -> usize {
        let up = |m: &&Member| {
            matches!(
                m.state,
                MemberState::Alive | MemberState::Suspect | MemberState::Leaving
            )
        };
        let own_up = self.own.values().filter(up).count();
        self.shared_len() - self.hidden.len() - self.shadowing + own_up
    }
}

impl<Q: AsRef<str> + ?Sized> std::ops::Index<&Q> for MemberTable {
    type Output = Member;

    /// Panics when absent, as `HashMap`'s index does.
    fn index(&self, name: &Q) -> &Member {
        self.get(name.as_ref()).expect("member in the table")
    }
}

/// The round-robin probe order (memberlist shuffles its node list each round). Over a shared
/// view, the shared members' order is an affine permutation of their indices, reshuffled by
/// drawing new coefficients: no per-member list of n names.
#[derive(Default)]
pub(crate) struct ProbeOrder {
    shared: Option<Arc<SharedView>>,
    /// i ↦ (a·i + b) mod n over the shared names, a coprime with n.
    a: u64,
    b: u64,
    /// Members added after the start (all members without a shared view).
    extra: Vec<String>,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl ProbeOrder {
    pub fn on_shared(shared: Arc<SharedView>, rng: &mut SmallRng) -> ProbeOrder {
        let mut order = ProbeOrder {
            shared: Some(shared),
            ..ProbeOrder::default()
        };
        order.shuffle(rng);
        order
    }

    fn shared_len(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.names.len())
    }

    pub fn len(&self) -> usize {
        self.shared_len() + self.extra.len()
    }

    /// The name at position `i < len()`.
    pub fn get(&self, i: usize) -> &str {
        let n = self.shared_len();
        match &self.shared {
            Some(s) if i < n => {
                let at = (self.a.wrapping_mul(i as u64).wrapping_add(self.b)) % n as u64;
                &s.names[at as usize]
            }
            _ => &self.extra[i - n],
        }
    }

    /// Adds a member at a random position among the added ones (appended, then swapped with a
    /// random one, as memberlist does: O(1)).
    pub fn add(&mut self, name: String, rng: &mut SmallRng) {
        let at = rng.gen_range(0..=self.extra.len());
        self.extra.push(name);
        let last = self.extra.len() - 1;
        self.extra.swap(at, last);
    }

    /// Removes position `i` (partial views only, which never sit on a shared view); returns
    /// the name.
    pub fn remove_at(&mut self, i: usize) -> String {
        assert!(self.shared.is_none(), "partial views have no shared view");
        self.extra.remove(i)
    }

    /// Forgets `name` (a shared member stays listed; the table no longer holds it, and probing
    /// skips members it does not hold).
    pub fn forget(&mut self, name: &str) {
        self.extra.retain(|n| n != name);
    }

    pub fn shuffle(&mut self, rng: &mut SmallRng) {
        self.extra.shuffle(rng);
        let n = self.shared_len() as u64;
        if n > 1 {
            self.b = rng.gen_range(0..n);
            self.a = loop {
                // Multiplications stay below 2^64 for n < 2^32.
                let a = rng.gen_range(1..n);
                if gcd(a, n) == 1 {
                    break a;
                }
            };
        } else {
            (self.a, self.b) = (1, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn shared(n: usize) -> Arc<SharedView> {
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let addr: SocketAddr = "10.0.0.1:8301".parse().unwrap();
        Arc::new(SharedView::new(
            names.iter().map(|n| (n.as_str(), addr, &[][..])),
        ))
    }

    #[test]
    fn an_overlay_reads_and_writes_like_a_private_table() {
        let view = shared(10);
        let mut t = MemberTable::on_shared(view);
        assert_eq!((t.len(), t.alive_count()), (10, 10));
        t.get_mut("m3").unwrap().state = MemberState::Dead;
        assert_eq!(t.get("m3").unwrap().state, MemberState::Dead);
        assert_eq!((t.len(), t.alive_count()), (10, 9));
        assert_eq!(t.changed().count(), 1, "only the written record is copied");
        assert!(t.remove("m4").is_some());
        assert!(!t.contains_key("m4"));
        assert_eq!((t.len(), t.alive_count(), t.values().count()), (9, 8, 9));
        let back = t.get("m1").unwrap().clone();
        t.insert("m4".into(), back);
        t.insert("new".into(), t.get("m1").unwrap().clone());
        assert_eq!((t.len(), t.values().count()), (11, 11));
        let other = MemberTable::on_shared(shared(10));
        assert_eq!(
            other.alive_count(),
            10,
            "another member's view is untouched"
        );
    }

    proptest::proptest! {
        /// Any sequence of writes, inserts and removals reads the same through the overlay as
        /// through a private map holding the same records.
        #[test]
        fn an_overlay_matches_a_private_map(
            ops in proptest::collection::vec((0u8..3, 0usize..14, 0u8..4), 0..60)
        ) {
            let view = shared(10);
            let mut overlay = MemberTable::on_shared(view.clone());
            let mut model: std::collections::HashMap<String, Member> =
                view.members.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let states = [MemberState::Alive, MemberState::Suspect, MemberState::Dead, MemberState::Left, MemberState::Leaving];
            for (op, who, st) in ops {
                let name = format!("m{who}");
                match op {
                    0 => {
                        if let Some(m) = overlay.get_mut(&name) {
                            m.state = states[st as usize];
                            m.incarnation += 1;
                        }
                        if let Some(m) = model.get_mut(&name) {
                            m.state = states[st as usize];
                            m.incarnation += 1;
                        }
                    }
                    1 => {
                        let mut m = view.members["m0"].clone();
                        m.name = name.clone();
                        m.state = states[st as usize];
                        overlay.insert(name.clone(), m.clone());
                        model.insert(name, m);
                    }
                    _ => {
                        proptest::prop_assert_eq!(overlay.remove(&name), model.remove(&name));
                    }
                }
                proptest::prop_assert_eq!(overlay.len(), model.len());
                proptest::prop_assert_eq!(overlay.values().count(), model.len());
                let up = model
                    .values()
                    .filter(|m| !matches!(m.state, MemberState::Dead | MemberState::Left))
                    .count();
                proptest::prop_assert_eq!(overlay.alive_count(), up);
                for i in 0..14 {
                    let n = format!("m{i}");
                    proptest::prop_assert_eq!(overlay.get(&n), model.get(&n));
                }
            }
        }
    }

    #[test]
    fn the_shared_probe_order_is_a_permutation_each_round() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut order = ProbeOrder::on_shared(shared(97), &mut rng);
        order.add("late".into(), &mut rng);
        for _ in 0..3 {
            let mut seen: Vec<&str> = (0..order.len()).map(|i| order.get(i)).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 98, "every member once per round");
            order.shuffle(&mut rng);
        }
    }
}
