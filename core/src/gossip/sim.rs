//! A deterministic network of `Swim` members in one process.
//!
//! Every member gets an address `10.x.y.z:8301`; datagrams go through one priority queue with a
//! seeded random delay and loss; partitions and pauses (a member that stops for a while, like a
//! GC pause or a stopped VM) are explicit. Push-pull streams complete instantly when both ends
//! can reach each other. Same seed, same run: a failing seed is a regression test.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::swim::{MemberEvent, Output, Swim, SwimConfig};
use super::wire::MemberState;

/// Network faults.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Datagram delay, uniform in `[delay_min_ms, delay_max_ms]` (so reordering happens).
    pub delay_min_ms: u64,
    pub delay_max_ms: u64,
    /// Probability that a datagram is delivered a second time, up to `replay_max_ms` after
    /// the first (a duplicating network, or an attacker replaying captured packets: with
    /// encryption a replay is still a valid packet, so the protocol must shrug it off).
    pub replay: f64,
    pub replay_max_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            loss: 0.0,
            delay_min_ms: 1,
            delay_max_ms: 5,
            replay: 0.0,
            replay_max_ms: 0,
        }
    }
}

struct InFlight {
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// The simulated cluster.
pub struct SimNet {
    pub members: Vec<Swim>,
    pub now: u64,
    pub faults: Faults,
    addr_of: Vec<SocketAddr>,
    index_of: HashMap<SocketAddr, usize>,
    /// Members in different groups cannot reach each other; `None` = no partition.
    group: Option<Vec<u8>>,
    /// Until when a member is paused (its timers stop and its datagrams are lost).
    paused_until: Vec<u64>,
    /// Stopped members (crashed, or left and shut down).
    stopped: Vec<bool>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    in_flight: HashMap<u64, InFlight>,
    next_id: u64,
    rng: SmallRng,
    tick_ms: u64,
    /// Every event every member saw, with time and who saw it.
    pub events: Vec<(u64, usize, MemberEvent)>,
    /// Every user event delivery: (member, event id).
    pub user_events: Vec<(usize, String)>,
    /// Every query answer a member received: (origin member, query id, answering member's
    /// name, payload). Each member answers a query with its own name as payload.
    pub query_answers: Vec<(usize, u64, String, Vec<u8>)>,
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    /// Extra one-way delay on every datagram to or from member `i` (a far-away member).
    pub link_delay_ms: Vec<u64>,
    /// Push-pulls carry full states even on a shared view (the reference the shortcut
    /// `Swim::push_pull_state_for` is tested against).
    pub full_push_pull: bool,
}

/// The simulated address of member `i`.
pub fn sim_addr(i: usize) -> SocketAddr {
    let ip = Ipv4Addr::from(0x0a00_0000u32 + i as u32 + 1);
    SocketAddr::new(IpAddr::V4(ip), 8301)
}

impl SimNet {
    /// `n` members named `node-<i>`; member `i > 0` joins member 0 at start.
    pub fn new(n: usize, cfg: SwimConfig, faults: Faults, seed: u64) -> SimNet {
        let mut rng = SmallRng::seed_from_u64(seed);
        let addr_of: Vec<SocketAddr> = (0..n).map(sim_addr).collect();
        let members: Vec<Swim> = (0..n)
            .map(|i| {
                Swim::new(
                    cfg.clone(),
                    &format!("node-{i}"),
                    addr_of[i],
                    vec![("role".into(), "node".into())],
                    rng.gen(),
                    0,
                )
            })
            .collect();
        SimNet {
            index_of: addr_of.iter().enumerate().map(|(i, a)| (*a, i)).collect(),
            addr_of,
            members,
            now: 0,
            faults,
            group: None,
            paused_until: vec![0; n],
            stopped: vec![false; n],
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            next_id: 0,
            rng,
            tick_ms: 10,
            events: Vec::new(),
            user_events: Vec::new(),
            query_answers: Vec::new(),
            datagrams_sent: 0,
            bytes_sent: 0,
            link_delay_ms: vec![0; n],
            full_push_pull: false,
        }
    }

    /// `n` members that already know each other, on one shared view
    /// (`Swim::start_on_shared_view`): no join flood, and only what differs from the shared
    /// view is held per member, so tens of thousands of members fit.
    pub fn new_converged(n: usize, cfg: SwimConfig, faults: Faults, seed: u64) -> SimNet {
        let mut net = SimNet::new(n, cfg, faults, seed);
        let names: Vec<String> = (0..n).map(|i| format!("node-{i}")).collect();
        let tags = vec![("role".to_string(), "node".to_string())];
        let shared = std::sync::Arc::new(super::member_table::SharedView::new(
            (0..n).map(|j| (names[j].as_str(), net.addr_of[j], tags.as_slice())),
        ));
        for m in &mut net.members {
            m.start_on_shared_view(shared.clone(), 0);
        }
        net
    }

    /// Fires a user event from member `i`.
    pub fn fire(&mut self, i: usize, ev: super::wire::UserEvent) {
        let mut out = Vec::new();
        self.members[i].fire_event(ev, &mut out);
        self.process(i, out);
    }

    /// Starts a query from member `i`; returns its id.
    pub fn query(&mut self, i: usize, name: &str) -> u64 {
        let mut out = Vec::new();
        let id = self.members[i].start_query(name, Vec::new(), &mut out);
        self.process(i, out);
        id
    }

    /// Member `i` force-leaves member `target` (`consul force-leave`).
    pub fn force_leave(&mut self, i: usize, target: usize, prune: bool) -> bool {
        let mut out = Vec::new();
        let name = format!("node-{target}");
        let known = self.members[i].force_leave(&name, prune, self.now, &mut out);
        self.process(i, out);
        known
    }

    /// Every member joins member 0 (a push-pull with it), as `retry_join` does.
    pub fn join_all(&mut self) {
        for i in 1..self.members.len() {
            let mut out = Vec::new();
            self.members[i].join(&[self.addr_of[0]], &mut out);
            self.process(i, out);
        }
    }

    pub fn partition(&mut self, group: Vec<u8>) {
        self.group = Some(group);
    }

    pub fn heal(&mut self) {
        self.group = None;
    }

    pub fn pause(&mut self, i: usize, ms: u64) {
        self.paused_until[i] = self.now + ms;
    }

    pub fn stop(&mut self, i: usize) {
        self.stopped[i] = true;
    }

    /// Graceful leave: the member broadcasts, keeps running for `linger_ms`, then stops.
    pub fn leave(&mut self, i: usize, linger_ms: u64) {
        self.members[i].leave(self.now);
        let until = self.now + linger_ms;
        while self.now < until {
            self.step();
        }
        self.stopped[i] = true;
    }

    fn up(&self, i: usize) -> bool {
        !self.stopped[i] && self.now >= self.paused_until[i]
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        match &self.group {
            Some(g) => g[a] == g[b],
            None => true,
        }
    }

    fn process(&mut self, from: usize, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Packet { to, bytes } => {
                    self.datagrams_sent += 1;
                    self.bytes_sent += bytes.len() as u64;
                    let Some(&to) = self.index_of.get(&to) else {
                        continue;
                    };
                    if self.rng.gen_bool(self.faults.loss) {
                        continue;
                    }
                    let delay = self
                        .rng
                        .gen_range(self.faults.delay_min_ms..=self.faults.delay_max_ms)
                        + self.link_delay_ms[from]
                        + self.link_delay_ms[to];
                    if self.faults.replay > 0.0 && self.rng.gen_bool(self.faults.replay) {
                        let later = self.rng.gen_range(0..=self.faults.replay_max_ms);
                        self.send_at(self.now + delay + later, from, to, bytes.clone());
                    }
                    self.send_at(self.now + delay, from, to, bytes);
                }
                Output::PushPull { to, join } => {
                    let Some(&to) = self.index_of.get(&to) else {
                        continue;
                    };
                    if !self.up(to) || !self.reachable(from, to) {
                        continue;
                    }
                    let (a, b) = (&self.members[from], &self.members[to]);
                    let (ours, theirs) = match self.full_push_pull {
                        true => (a.push_pull_state(join), b.push_pull_state(join)),
                        false => (
                            a.push_pull_state_for(join, b),
                            b.push_pull_state_for(join, a),
                        ),
                    };
                    let mut out_to = Vec::new();
                    self.members[to].on_push_pull(self.now, ours, &mut out_to);
                    let mut out_from = Vec::new();
                    self.members[from].on_push_pull(self.now, theirs, &mut out_from);
                    self.process(to, out_to);
                    self.process(from, out_from);
                }
                Output::Event(e) => self.events.push((self.now, from, e)),
                Output::UserEvent(e) => self.user_events.push((from, e.id)),
                Output::Query(q) => {
                    let mut out = Vec::new();
                    let me = format!("node-{from}").into_bytes();
                    self.members[from].respond(&q, me, &mut out);
                    self.process(from, out);
                }
                Output::QueryResponse {
                    id,
                    from: who,
                    payload,
                } => self.query_answers.push((from, id, who, payload)),
            }
        }
    }

    fn send_at(&mut self, at: u64, from: usize, to: usize, bytes: Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        let from = self.addr_of[from];
        self.in_flight.insert(id, InFlight { from, bytes });
        self.queue.push(Reverse((at, id, to)));
    }

    /// Advances one tick: delivers due datagrams, then ticks every running member.
    pub fn step(&mut self) {
        self.now += self.tick_ms;
        while let Some(Reverse((at, id, to))) = self.queue.peek().copied() {
            if at > self.now {
                break;
            }
            self.queue.pop();
            let d = self.in_flight.remove(&id).unwrap();
            let from = self.index_of[&d.from];
            if !self.up(to) || !self.reachable(from, to) {
                continue;
            }
            let mut out = Vec::new();
            self.members[to].on_packet(self.now, d.from, &d.bytes, &mut out);
            self.process(to, out);
        }
        for i in 0..self.members.len() {
            if !self.up(i) {
                continue;
            }
            let mut out = Vec::new();
            self.members[i].tick(self.now, &mut out);
            self.process(i, out);
        }
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now + ms;
        while self.now < until {
            self.step();
        }
    }

    /// Runs until `done` holds (checked every simulated 100 ms) or `limit_ms` passes; returns
    /// the time it took, or `None`.
    pub fn run_until(
        &mut self,
        limit_ms: u64,
        mut done: impl FnMut(&SimNet) -> bool,
    ) -> Option<u64> {
        let start = self.now;
        while self.now - start < limit_ms {
            if (self.now - start).is_multiple_of(100) && done(self) {
                return Some(self.now - start);
            }
            self.step();
        }
        done(self).then_some(self.now - start)
    }

    /// How many running members (other than `i`) see member `i` in `state`.
    pub fn seen_as(&self, i: usize, state: MemberState) -> usize {
        let name = self.members[i].name().to_string();
        (0..self.members.len())
            .filter(|&j| j != i && !self.stopped[j])
            .filter(|&j| {
                self.members[j]
                    .member(&name)
                    .is_some_and(|m| m.state == state)
            })
            .count()
    }

    /// Running members other than `i`.
    pub fn running_others(&self, i: usize) -> usize {
        (0..self.members.len())
            .filter(|&j| j != i && !self.stopped[j])
            .count()
    }

    /// True when every running member knows every running member as alive.
    pub fn converged(&self) -> bool {
        let running: Vec<usize> = (0..self.members.len())
            .filter(|&i| !self.stopped[i])
            .collect();
        running.iter().all(|&i| {
            let name = self.members[i].name();
            running.iter().all(|&j| {
                self.members[j]
                    .member(name)
                    .is_some_and(|m| m.state == MemberState::Alive)
            })
        })
    }

    /// `Failed` events about a member that was running and reachable when declared dead.
    pub fn false_deaths(&self, since: u64) -> usize {
        self.events
            .iter()
            .filter(|(t, _, e)| {
                *t >= since
                    && matches!(e, MemberEvent::Failed(n)
                        if !self.stopped[n.trim_start_matches("node-").parse::<usize>().unwrap_or(0)])
            })
            .count()
    }
}
