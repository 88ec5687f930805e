//! Simulated gossip members that really take part in a Tribune LAN pool: each one is a
//! `tribune::gossip::Swim` core with its own UDP socket and TCP listener on loopback, so agents
//! probe them, gossip to them and push-pull with them over the real protocol (encrypted when
//! `--encrypt` is given). All of them live on one thread; a 10 ms timer drives their cores.
//!
//! Every member joins over TCP push-pull with each agent given, as a client agent's
//! `retry_join` listing every server does, at a set rate; the answers give it the member list. Members keep at most
//! `BROADCAST_QUEUE` pending broadcasts each: thousands of members in one process cannot each
//! hold a broadcast about every other member (that is O(n^2) memory), and they share the work
//! of relaying alive messages through one `RelayLedger`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tribune::gossip::crypto::{Key, Keyring};
use tribune::gossip::wire::{decode_push_pull, encode_push_pull};
use tribune::gossip::{MemberEvent, MemberState, Output, Swim, SwimConfig};

const BROADCAST_QUEUE: usize = 256;
/// Simulated members that relay each alive message (see `tribune::gossip::RelayLedger`): each
/// sends it `retransmit_limit` (~15) times to random members of a 64-member view that holds
/// the 3 servers, so a server receives each message ~7 times on average.
const RELAYERS: u16 = 32;
/// Members each simulated member remembers by default (servers always; see
/// `SwimConfig::max_members`); `--view N` changes it, and with N ≥ `--nodes` every simulated
/// member holds the full membership, as a real agent does.
pub const VIEW_DEFAULT: usize = 64;
const TICK_MS: u64 = 10;

/// What `--nodes` reports about gossip.
#[derive(Default, Clone, Debug)]
pub struct GossipFigures {
    pub members: usize,
    /// From the first join until the agent lists every simulated member alive.
    pub convergence_ms: Option<u64>,
    /// From stopping a few members until the agent lists them all failed.
    pub detect_ms: Option<u64>,
    /// From stopping them until 99.9 % of the simulated members that hold them in their view
    /// list them failed.
    pub detect_members_ms: Option<u64>,
    /// Failed events, in any simulated member's view, about a member that was running.
    pub false_deaths: u64,
    pub bytes_out: u64,
    pub packets_out: u64,
    pub elapsed_ms: u64,
}

pub struct Members {
    cores: RefCell<Vec<Swim>>,
    sockets: Vec<Rc<UdpSocket>>,
    index_of: HashMap<SocketAddr, usize>,
    keyring: Keyring,
    started: Instant,
    false_deaths: RefCell<u64>,
    /// Members stopped on purpose (failure-detection phase): they neither tick nor answer.
    stopped: RefCell<Vec<bool>>,
}

/// Raises the open-file limit: every member holds a UDP socket and a TCP listener.
pub fn raise_fd_limit(need: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a stack struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < need {
            lim.rlim_cur = need.min(lim.rlim_max.max(need));
            lim.rlim_max = lim.rlim_max.max(lim.rlim_cur);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                eprintln!("loadgen: could not raise the open-file limit to {need}");
            }
        }
    }
}

fn tags(i: usize, dc: &str) -> Vec<(String, String)> {
    let mut t = vec![
        ("build".into(), "1.21.0:loadgen".into()),
        ("dc".into(), dc.to_string()),
        ("id".into(), format!("00000000-0000-4000-8000-{i:012}")),
        ("role".into(), "node".into()),
        ("segment".into(), String::new()),
        ("vsn".into(), "2".into()),
        ("vsn_max".into(), "3".into()),
        ("vsn_min".into(), "2".into()),
    ];
    t.sort();
    t
}

impl Members {
    /// Binds `n` members on `ip`, ports `base_port..base_port + n` (UDP and TCP).
    pub async fn bind(
        n: usize,
        ip: IpAddr,
        base_port: u16,
        dc: &str,
        encrypt: Option<&str>,
        view: usize,
    ) -> Result<Rc<Members>, String> {
        raise_fd_limit(2 * n as u64 + 4096);
        let keyring = Keyring {
            keys: encrypt.map(Key::parse).transpose()?.into_iter().collect(),
        };
        let mut cores = Vec::with_capacity(n);
        let mut sockets = Vec::with_capacity(n);
        let mut listeners = Vec::with_capacity(n);
        let mut index_of = HashMap::new();
        let ledger = std::sync::Arc::new(tribune::gossip::RelayLedger::new(RELAYERS));
        for i in 0..n {
            let addr = SocketAddr::new(ip, base_port + i as u16);
            let udp = UdpSocket::bind(addr)
                .await
                .map_err(|e| format!("bind UDP {addr}: {e}"))?;
            let tcp = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("bind TCP {addr}: {e}"))?;
            let cfg = SwimConfig {
                broadcast_queue_max: BROADCAST_QUEUE,
                max_members: view,
                ..SwimConfig::lan()
            };
            let mut core = Swim::new(cfg, &format!("sim-{i}"), addr, tags(i, dc), i as u64 + 1, 0);
            if view < n {
                // Shared relaying only makes up for partial views; with full views every
                // member relays, as memberlist does.
                core.set_relay_ledger(ledger.clone());
            }
            cores.push(core);
            sockets.push(Rc::new(udp));
            listeners.push(tcp);
            index_of.insert(addr, i);
        }
        let m = Rc::new(Members {
            cores: RefCell::new(cores),
            sockets,
            index_of,
            keyring,
            started: Instant::now(),
            false_deaths: RefCell::new(0),
            stopped: RefCell::new(vec![false; n]),
        });
        for (i, l) in listeners.into_iter().enumerate() {
            tokio::task::spawn_local(m.clone().accept(i, l));
            tokio::task::spawn_local(m.clone().recv(i));
        }
        tokio::task::spawn_local(m.clone().ticker());
        Ok(m)
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn process(self: &Rc<Self>, i: usize, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Packet { to, bytes } => {
                    let sealed = self.keyring.seal(&bytes);
                    if let Some(&j) = self.index_of.get(&to) {
                        if self.stopped.borrow()[j] {
                            continue;
                        }
                        // Member to member: deliver in process (it is the same protocol).
                        let from = self.sockets[i].local_addr().unwrap();
                        let mut out = Vec::new();
                        if let Ok(plain) = self.keyring.open(&sealed) {
                            self.cores.borrow_mut()[j].on_packet(
                                self.now(),
                                from,
                                &plain,
                                &mut out,
                            );
                        }
                        self.process(j, out);
                    } else {
                        let _ = self.sockets[i].try_send_to(&sealed, to);
                    }
                }
                Output::PushPull { to, join } => {
                    if let Some(&j) = self.index_of.get(&to) {
                        let (a, b) = {
                            let cores = self.cores.borrow();
                            (
                                cores[i].push_pull_state(join),
                                cores[j].push_pull_state(join),
                            )
                        };
                        let (mut oi, mut oj) = (Vec::new(), Vec::new());
                        self.cores.borrow_mut()[j].on_push_pull(self.now(), a, &mut oj);
                        self.cores.borrow_mut()[i].on_push_pull(self.now(), b, &mut oi);
                        self.process(j, oj);
                        self.process(i, oi);
                    } else {
                        let m = self.clone();
                        tokio::task::spawn_local(async move {
                            let _ = m.push_pull(i, to, join).await;
                        });
                    }
                }
                Output::Event(MemberEvent::Failed(name)) => {
                    let index = name
                        .strip_prefix("sim-")
                        .and_then(|k| k.parse::<usize>().ok());
                    // A simulated member that was not stopped on purpose is a false death.
                    if index.is_some_and(|k| k < self.sockets.len() && !self.stopped.borrow()[k]) {
                        *self.false_deaths.borrow_mut() += 1;
                    }
                }
                // Simulated members answer no queries (they hold no keyring).
                Output::Event(_)
                | Output::UserEvent(_)
                | Output::Query(_)
                | Output::QueryResponse { .. } => {}
            }
        }
    }

    async fn ticker(self: Rc<Self>) {
        let mut every = tokio::time::interval(Duration::from_millis(TICK_MS));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            let now = self.now();
            let n = self.sockets.len();
            for i in 0..n {
                if self.stopped.borrow()[i] {
                    continue;
                }
                let mut out = Vec::new();
                self.cores.borrow_mut()[i].tick(now, &mut out);
                self.process(i, out);
            }
        }
    }

    async fn recv(self: Rc<Self>, i: usize) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((len, from)) = self.sockets[i].recv_from(&mut buf).await else {
                continue;
            };
            if self.stopped.borrow()[i] {
                continue; // a stopped member is silent
            }
            let Ok(plain) = self.keyring.open(&buf[..len]) else {
                continue;
            };
            let mut out = Vec::new();
            self.cores.borrow_mut()[i].on_packet(self.now(), from, &plain, &mut out);
            self.process(i, out);
        }
    }

    async fn read_state(
        &self,
        s: &mut TcpStream,
    ) -> Result<tribune::gossip::wire::PushPull, String> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
        let plain = self.keyring.open(&body).map_err(|e| e.to_string())?;
        decode_push_pull(&plain, 1_000_000).map_err(|e| e.to_string())
    }

    async fn write_state(&self, i: usize, s: &mut TcpStream, join: bool) -> Result<(), String> {
        let state = self.cores.borrow()[i].push_pull_state(join);
        let body = self.keyring.seal(&encode_push_pull(&state));
        let mut framed = (body.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&body);
        s.write_all(&framed).await.map_err(|e| e.to_string())
    }

    async fn accept(self: Rc<Self>, i: usize, l: TcpListener) {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            if self.stopped.borrow()[i] {
                continue; // dropped: the connection closes
            }
            let m = self.clone();
            tokio::task::spawn_local(async move {
                let Ok(remote) = m.read_state(&mut s).await else {
                    return;
                };
                if m.write_state(i, &mut s, remote.join).await.is_ok() {
                    let mut out = Vec::new();
                    m.cores.borrow_mut()[i].on_push_pull(m.now(), remote, &mut out);
                    m.process(i, out);
                }
            });
        }
    }

    async fn push_pull(
        self: &Rc<Self>,
        i: usize,
        to: SocketAddr,
        join: bool,
    ) -> Result<(), String> {
        let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(to))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        self.write_state(i, &mut s, join).await?;
        let remote = self.read_state(&mut s).await?;
        let mut out = Vec::new();
        self.cores.borrow_mut()[i].on_push_pull(self.now(), remote, &mut out);
        self.process(i, out);
        Ok(())
    }

    /// Joins everyone, `rate` joins per second; returns how many joins failed (no agent
    /// answered). Each member push-pulls with every agent given, as memberlist's `Join` does
    /// with every address of `retry_join` (Consul's client agents list all the servers there),
    /// starting with a different agent each time.
    pub async fn join(self: &Rc<Self>, agents: &[SocketAddr], rate: f64) -> usize {
        let n = self.sockets.len();
        let pause = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let mut pending = Vec::new();
        for i in 0..n {
            let m = self.clone();
            let order: Vec<SocketAddr> = (0..agents.len())
                .map(|k| agents[(i + k) % agents.len()])
                .collect();
            pending.push(tokio::task::spawn_local(async move {
                let mut joined = false;
                for to in order {
                    joined |= m.push_pull(i, to, true).await.is_ok();
                }
                joined
            }));
            tokio::time::sleep(pause).await;
        }
        let mut failed = 0;
        for p in pending {
            if !matches!(p.await, Ok(true)) {
                failed += 1;
            }
        }
        failed
    }

    /// Stops member `i` as a crash would: no more probes, answers or gossip.
    pub fn stop(&self, i: usize) {
        self.stopped.borrow_mut()[i] = true;
    }

    /// How many simulated members every simulated member sees alive (min over members).
    pub fn min_view(&self) -> usize {
        let cores = self.cores.borrow();
        cores
            .iter()
            .map(|c| {
                c.members()
                    .filter(|m| m.state == MemberState::Alive)
                    .count()
            })
            .min()
            .unwrap_or(0)
    }

    /// (members holding a victim in view, of them those listing it failed), over running
    /// members and every victim.
    pub fn seen_dead(&self, victims: &[usize]) -> (usize, usize) {
        let cores = self.cores.borrow();
        let stopped = self.stopped.borrow();
        let names: Vec<String> = victims.iter().map(|v| format!("sim-{v}")).collect();
        let (mut holders, mut seeing) = (0, 0);
        for (i, c) in cores.iter().enumerate() {
            if stopped[i] {
                continue;
            }
            for name in &names {
                if let Some(m) = c.member(name) {
                    holders += 1;
                    seeing += usize::from(m.state == MemberState::Dead);
                }
            }
        }
        (holders, seeing)
    }

    pub fn figures(&self) -> GossipFigures {
        let cores = self.cores.borrow();
        GossipFigures {
            members: cores.len(),
            convergence_ms: None,
            detect_ms: None,
            detect_members_ms: None,
            false_deaths: *self.false_deaths.borrow(),
            bytes_out: cores.iter().map(|c| c.stats.bytes_out).sum(),
            packets_out: cores.iter().map(|c| c.stats.packets_out).sum(),
            elapsed_ms: self.now(),
        }
    }
}
