//! `loadgen sim-gossip`: gossip figures from the deterministic simulator (`tribune::gossip::sim`):
//! join convergence, time for a failure to reach 99.9 % of members, false deaths under packet
//! loss, and packets/bytes per quiet member. Simulated time, so the figures do not depend on
//! this machine's speed (only how long it takes to get them does).

use tribune::gossip::sim::{Faults, SimNet};
use tribune::gossip::{MemberState, SwimConfig};

pub struct SimArgs {
    pub members: usize,
    pub loss: f64,
    pub seed: u64,
    pub json: bool,
    /// Start with every member knowing every other (`SimNet::new_converged`) instead of all
    /// joining member 0: no join figure, but 5,000 members fit (the join flood does not).
    pub converged_start: bool,
    /// Members paused at once for `PAUSE_MS` in the last phase (a GC pause, a stopped VM).
    pub paused: usize,
    /// Simulated seconds of the loss phase (120 by default; at 50,000 members every second
    /// at 5 % loss starts ~30 suspicions, each flooded to everyone).
    pub loss_seconds: u64,
    /// Members run without Vivaldi coordinates (`disable_coordinates`): acks carry none and
    /// members keep no coordinate caches.
    pub no_coordinates: bool,
}

/// Shorter than the smallest suspicion timeout (4 × log10(n) × 1 s ≥ 8 s from 100 members):
/// a member paused this long must come back without having been declared dead.
const PAUSE_MS: u64 = 5_000;

pub fn run(a: &SimArgs) {
    let n = a.members;
    let wall = std::time::Instant::now();
    let cfg = SwimConfig {
        coordinates: !a.no_coordinates,
        ..SwimConfig::lan()
    };
    let (mut net, converge_ms) = if a.converged_start {
        let net = SimNet::new_converged(n, cfg, Faults::default(), a.seed);
        (net, None)
    } else {
        let mut net = SimNet::new(n, cfg, Faults::default(), a.seed);
        net.join_all();
        // Convergence is O(n^2) to check: look once per simulated second.
        let converge_ms = run_until(&mut net, 600_000, SimNet::converged);
        (net, converge_ms)
    };

    // Quiet traffic: once the join broadcasts have died down (two simulated minutes; a
    // converged start has none), packets and bytes per member per second over 30 simulated
    // seconds.
    progress(a, &net, wall, "quiet traffic");
    net.run_for(if a.converged_start { 10_000 } else { 120_000 });
    let (p0, b0) = (net.datagrams_sent, net.bytes_sent);
    net.run_for(30_000);
    let pps = (net.datagrams_sent - p0) as f64 / n as f64 / 30.0;
    let bps = (net.bytes_sent - b0) as f64 / n as f64 / 30.0;

    // A failure: stop one member; time until 99.9 % of the others see it dead.
    progress(a, &net, wall, "failure detection");
    let victim = n / 2;
    net.stop(victim);
    let need = ((n - 1) as f64 * 0.999).ceil() as usize;
    let detect_ms = run_until(&mut net, 600_000, |s| {
        s.seen_as(victim, MemberState::Dead) >= need
    });

    // False deaths at the given loss over `loss_seconds` simulated seconds.
    progress(a, &net, wall, "loss");
    net.faults.loss = a.loss;
    let since = net.now;
    for chunk in 0..a.loss_seconds.div_ceil(10) {
        net.run_for(10_000.min(a.loss_seconds * 1000 - chunk * 10_000));
        progress(a, &net, wall, "loss");
    }
    let false_deaths = net.false_deaths(since);

    // Paused members (no loss): `paused` members, spread over the ids, stop for `PAUSE_MS`
    // at once; none of them, and no one else, may be declared dead.
    net.faults.loss = 0.0;
    let since = net.now;
    progress(a, &net, wall, "paused members");
    for k in 0..a.paused {
        let i = (k * n / a.paused.max(1) + 1) % n;
        if i != victim {
            net.pause(i, PAUSE_MS);
        }
    }
    net.run_for(60_000);
    let pause_false_deaths = net.false_deaths(since);

    let fmt = |v: Option<u64>| {
        v.map_or("not reached".to_string(), |ms| {
            format!("{:.1} s", ms as f64 / 1000.0)
        })
    };
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "members": n, "seed": a.seed, "loss": a.loss,
                "start": if a.converged_start { "converged" } else { "join" },
                "converge_ms": converge_ms, "detect_99_9_ms": detect_ms,
                "false_deaths": false_deaths, "loss_seconds": a.loss_seconds,
                "paused": a.paused, "pause_ms": PAUSE_MS, "pause_false_deaths": pause_false_deaths,
                "packets_per_member_s": pps, "bytes_per_member_s": bps,
                "coordinates": !a.no_coordinates,
                "wall_s": wall.elapsed().as_secs_f64(),
            })
        );
    } else {
        println!("members                      {n}");
        match a.converged_start {
            true => println!("join convergence             (converged start)"),
            false => println!("join convergence             {}", fmt(converge_ms)),
        }
        println!("failure seen by 99.9%        {}", fmt(detect_ms));
        println!(
            "false deaths ({:.0}% loss, {} s) {false_deaths}",
            a.loss * 100.0,
            a.loss_seconds
        );
        println!(
            "false deaths ({} paused {} s)  {pause_false_deaths}",
            a.paused,
            PAUSE_MS / 1000
        );
        println!("quiet member traffic         {pps:.2} packets/s, {bps:.0} bytes/s");
        println!(
            "wall time                    {:.1} s",
            wall.elapsed().as_secs_f64()
        );
    }
}

/// A line on stderr as each phase starts (a 50,000-member run takes a while).
fn progress(a: &SimArgs, net: &SimNet, wall: std::time::Instant, phase: &str) {
    eprintln!(
        "[{:>7.1} s wall] {} members, simulated {:.0} s: {phase}",
        wall.elapsed().as_secs_f64(),
        a.members,
        net.now as f64 / 1000.0
    );
}

fn run_until(
    net: &mut SimNet,
    limit_ms: u64,
    mut done: impl FnMut(&SimNet) -> bool,
) -> Option<u64> {
    let start = net.now;
    while net.now - start < limit_ms {
        net.run_for(1000);
        if done(net) {
            return Some(net.now - start);
        }
    }
    None
}
