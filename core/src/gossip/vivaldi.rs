//! Vivaldi network coordinates as serf computes them (`serf/coordinate`), sans IO.
//!
//! Every direct probe answer carries the answerer's coordinate; the prober feeds it and the
//! measured round trip to its `VivaldiClient`, which moves its own coordinate so that
//! distances between coordinates estimate round-trip times. Consul stores each agent's LAN
//! coordinate in the catalog (`/v1/coordinate/nodes`, `?near=`, `consul rtt`).
//!
//! Written here rather than taken from a crate: the Rust crates implement plain Vivaldi
//! (`vivaldi-nc` has no adjustment term, no latency filter and no gravity, and draws from a
//! global random source). Consul users compare our coordinates and `rtt` estimates with
//! Consul's, so this follows serf's variant and defaults, and takes its randomness from the
//! caller so that the simulator stays deterministic.

use std::collections::HashMap;

use rand::Rng;

/// serf's `DefaultConfig`.
pub const DIMENSIONS: usize = 8;
pub const ERROR_MAX: f64 = 1.5;
const CE: f64 = 0.25;
const CC: f64 = 0.25;
const ADJUSTMENT_WINDOW: usize = 20;
pub const HEIGHT_MIN: f64 = 10.0e-6;
const LATENCY_FILTER: usize = 3;
const GRAVITY_RHO: f64 = 150.0;
/// Two coordinates closer than this are on top of each other (seconds).
const ZERO_THRESHOLD: f64 = 1.0e-6;
/// Round trips above this are refused (serf's `maxRTT`).
pub const RTT_MAX_S: f64 = 10.0;

/// A network coordinate; every length is in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coordinate {
    pub vec: [f64; DIMENSIONS],
    /// Confidence in the coordinate (dimensionless, up to `ERROR_MAX`).
    pub error: f64,
    pub adjustment: f64,
    /// Models the access link: added to every distance.
    pub height: f64,
}

impl Default for Coordinate {
    /// At the origin, with the largest error: what a member starts from.
    fn default() -> Coordinate {
        Coordinate {
            vec: [0.0; DIMENSIONS],
            error: ERROR_MAX,
            adjustment: 0.0,
            height: HEIGHT_MIN,
        }
    }
}

/// The number of `f64`s in a coordinate: the vector, then error, adjustment and height.
pub const COMPONENTS: usize = DIMENSIONS + 3;

impl Coordinate {
    /// The vector, then error, adjustment and height: the order the log and the wire use.
    pub fn components(&self) -> [f64; COMPONENTS] {
        std::array::from_fn(|i| match i {
            i if i < DIMENSIONS => self.vec[i],
            DIMENSIONS => self.error,
            i if i == DIMENSIONS + 1 => self.adjustment,
            _ => self.height,
        })
    }

    pub fn from_components(c: [f64; COMPONENTS]) -> Coordinate {
        Coordinate {
            vec: std::array::from_fn(|i| c[i]),
            error: c[DIMENSIONS],
            adjustment: c[DIMENSIONS + 1],
            height: c[DIMENSIONS + 2],
        }
    }

    /// No NaN or infinity anywhere.
    pub fn is_valid(&self) -> bool {
        self.vec
            .iter()
            .chain([&self.error, &self.adjustment, &self.height])
            .all(|f| f.is_finite())
    }

    /// The estimated round trip to `other`, in seconds (serf's `DistanceTo`): the Euclidean
    /// distance plus both heights, plus both adjustments when that stays positive.
    pub fn distance_s(&self, other: &Coordinate) -> f64 {
        let raw = self.raw_distance(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }

    fn raw_distance(&self, other: &Coordinate) -> f64 {
        magnitude(&diff(&self.vec, &other.vec)) + self.height + other.height
    }

    /// Moves this coordinate by `force` along the line from `other` (serf's `ApplyForce`).
    fn apply_force(&self, force: f64, other: &Coordinate, rng: &mut impl Rng) -> Coordinate {
        let mut moved = *self;
        let (unit, mag) = unit_vector_at(&self.vec, &other.vec, rng);
        for (v, u) in moved.vec.iter_mut().zip(unit) {
            *v += u * force;
        }
        if mag > ZERO_THRESHOLD {
            moved.height =
                ((moved.height + other.height) * force / mag + moved.height).max(HEIGHT_MIN);
        }
        moved
    }
}

fn diff(a: &[f64; DIMENSIONS], b: &[f64; DIMENSIONS]) -> [f64; DIMENSIONS] {
    std::array::from_fn(|i| a[i] - b[i])
}

fn magnitude(v: &[f64; DIMENSIONS]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The unit vector pointing at `a` from `b`, and their distance; a random direction (and 0)
/// when they coincide.
fn unit_vector_at(
    a: &[f64; DIMENSIONS],
    b: &[f64; DIMENSIONS],
    rng: &mut impl Rng,
) -> ([f64; DIMENSIONS], f64) {
    let d = diff(a, b);
    let mag = magnitude(&d);
    if mag > ZERO_THRESHOLD {
        return (d.map(|x| x / mag), mag);
    }
    let r: [f64; DIMENSIONS] = std::array::from_fn(|_| rng.gen::<f64>() - 0.5);
    let mag = magnitude(&r);
    if mag > ZERO_THRESHOLD {
        return (r.map(|x| x / mag), 0.0);
    }
    let mut first = [0.0; DIMENSIONS];
    first[0] = 1.0;
    (first, 0.0)
}

/// Why an observation was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The other member's coordinate holds a NaN or an infinity.
    InvalidCoordinate,
    /// The round trip is negative or above `RTT_MAX_S`.
    RttOutOfRange,
}

/// One member's coordinate and what it keeps to update it (serf's `coordinate.Client`).
#[derive(Debug, Clone)]
pub struct VivaldiClient {
    coord: Coordinate,
    adjustment_samples: [f64; ADJUSTMENT_WINDOW],
    adjustment_index: usize,
    /// The last `LATENCY_FILTER` round trips to each member, oldest first (a moving median
    /// discards one-off spikes).
    latency_samples: HashMap<String, Vec<f64>, foldhash::fast::FixedState>,
    /// Times the coordinate became invalid and restarted at the origin (`coordinate_resets`).
    pub resets: u64,
}

impl Default for VivaldiClient {
    fn default() -> VivaldiClient {
        VivaldiClient {
            coord: Coordinate::default(),
            adjustment_samples: [0.0; ADJUSTMENT_WINDOW],
            adjustment_index: 0,
            latency_samples: HashMap::default(),
            resets: 0,
        }
    }
}

impl VivaldiClient {
    pub fn coordinate(&self) -> Coordinate {
        self.coord
    }

    /// Drops what is kept about a member that is gone.
    pub fn forget(&mut self, node: &str) {
        self.latency_samples.remove(node);
    }

    /// Takes one observation: `node`, at coordinate `other`, answered in `rtt_s` seconds.
    pub fn update(
        &mut self,
        node: &str,
        other: &Coordinate,
        rtt_s: f64,
        rng: &mut impl Rng,
    ) -> Result<Coordinate, Rejected> {
        if !other.is_valid() {
            return Err(Rejected::InvalidCoordinate);
        }
        if !(0.0..=RTT_MAX_S).contains(&rtt_s) {
            return Err(Rejected::RttOutOfRange);
        }
        let rtt_s = self.latency_filter(node, rtt_s);
        self.update_vivaldi(other, rtt_s, rng);
        self.update_adjustment(other, rtt_s);
        self.update_gravity(rng);
        if !self.coord.is_valid() {
            self.resets += 1;
            self.coord = Coordinate::default();
        }
        Ok(self.coord)
    }

    /// The median of the last few samples for `node`, this one included.
    fn latency_filter(&mut self, node: &str, rtt_s: f64) -> f64 {
        // Every direct ack comes here: the name is copied only for a member seen first.
        if !self.latency_samples.contains_key(node) {
            self.latency_samples.insert(node.to_string(), Vec::new());
        }
        let samples = self.latency_samples.get_mut(node).expect("inserted above");
        samples.push(rtt_s);
        if samples.len() > LATENCY_FILTER {
            samples.remove(0);
        }
        let mut sorted = [0.0; LATENCY_FILTER];
        let sorted = &mut sorted[..samples.len()];
        sorted.copy_from_slice(samples);
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt_s: f64, rng: &mut impl Rng) {
        let rtt_s = rtt_s.max(ZERO_THRESHOLD);
        let dist = self.coord.distance_s(other);
        let wrongness = (dist - rtt_s).abs() / rtt_s;
        let total_error = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total_error;
        self.coord.error =
            (CE * weight * wrongness + self.coord.error * (1.0 - CE * weight)).min(ERROR_MAX);
        let force = CC * weight * (rtt_s - dist);
        self.coord = self.coord.apply_force(force, other, rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt_s: f64) {
        // The existing adjustments do not count here: the raw distance.
        self.adjustment_samples[self.adjustment_index] = rtt_s - self.coord.raw_distance(other);
        self.adjustment_index = (self.adjustment_index + 1) % ADJUSTMENT_WINDOW;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * ADJUSTMENT_WINDOW as f64);
    }

    /// A pull towards the origin that keeps coordinates from drifting away together.
    fn update_gravity(&mut self, rng: &mut impl Rng) {
        let origin = Coordinate::default();
        let dist = origin.distance_s(&self.coord);
        let force = -(dist / GRAVITY_RHO).powi(2);
        self.coord = self.coord.apply_force(force, &origin, rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// serf's `TestCoordinate_DistanceTo`: 8-dimensional 3-4-5 triangles plus heights,
    /// then the adjustments.
    #[test]
    fn distance_is_euclidean_plus_heights_plus_positive_adjustments() {
        let mut a = Coordinate::default();
        let mut b = Coordinate::default();
        a.vec = [-0.5, 1.3, 2.4, 0.0, 0.0, 0.0, 0.0, 0.0];
        b.vec = [1.2, -2.3, 3.4, 0.0, 0.0, 0.0, 0.0, 0.0];
        a.height = 0.0;
        b.height = 0.0;
        let euclid = (1.7f64 * 1.7 + 3.6 * 3.6 + 1.0).sqrt();
        assert!((a.distance_s(&b) - euclid).abs() < 1e-12);
        assert!((b.distance_s(&a) - euclid).abs() < 1e-12);
        a.height = 0.7;
        b.height = 0.4;
        assert!((a.distance_s(&b) - (euclid + 1.1)).abs() < 1e-12);
        a.adjustment = 0.1;
        b.adjustment = 0.2;
        assert!((a.distance_s(&b) - (euclid + 1.4)).abs() < 1e-12);
        // A negative total adjustment that would make the distance negative is ignored.
        a.adjustment = -100.0;
        assert!((a.distance_s(&b) - (euclid + 1.1)).abs() < 1e-12);
    }

    /// serf's `TestClient_Update`: one observation from a member at the origin pushes a
    /// fresh coordinate away by the force the algorithm prescribes.
    #[test]
    fn one_observation_moves_the_coordinate_by_the_vivaldi_force() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut client = VivaldiClient::default();
        // Place ourselves a little off the origin so that the direction is deterministic.
        client.coord.vec[2] = 0.001;
        let other = Coordinate::default();
        let rtt = 0.2;
        let before = client.coordinate();
        let after = client.update("other", &other, rtt, &mut rng).unwrap();
        assert!(after.vec[2] > before.vec[2], "pushed away: {after:?}");
        assert!(after.height >= HEIGHT_MIN);
        // Equal errors: weight 1/2, so the force is CC/2 * (rtt - dist).
        let dist = before.distance_s(&other);
        let expected_move = CC * 0.5 * (rtt - dist);
        let moved = after.vec[2] - before.vec[2];
        // Gravity pulls back a hair.
        assert!(
            (moved - expected_move).abs() < 1e-6,
            "{moved} vs {expected_move}"
        );
    }

    #[test]
    fn bad_observations_are_refused_and_change_nothing() {
        let mut rng = SmallRng::seed_from_u64(2);
        let mut client = VivaldiClient::default();
        let mut nan = Coordinate::default();
        nan.vec[3] = f64::NAN;
        assert_eq!(
            client.update("x", &nan, 0.1, &mut rng),
            Err(Rejected::InvalidCoordinate)
        );
        for rtt in [-0.001, 10.5, f64::INFINITY, f64::NAN] {
            assert_eq!(
                client.update("x", &Coordinate::default(), rtt, &mut rng),
                Err(Rejected::RttOutOfRange)
            );
        }
        assert_eq!(client.coordinate(), Coordinate::default());
    }

    #[test]
    fn the_latency_filter_is_a_moving_median_of_three() {
        let mut client = VivaldiClient::default();
        let seen: Vec<f64> = [0.201, 0.200, 0.207, 1.9, 0.203, 0.199]
            .iter()
            .map(|&s| client.latency_filter("n", s))
            .collect();
        assert_eq!(seen, vec![0.201, 0.201, 0.201, 0.207, 0.207, 0.203]);
    }

    /// Members on a line, each observing true round trips to random others: the estimates
    /// converge to the true distances (serf's `TestPerformance_Line` tolerance is looser).
    #[test]
    fn coordinates_converge_to_true_round_trips() {
        let n = 10;
        let spacing = 0.010;
        let truth = |i: usize, j: usize| (i as f64 - j as f64).abs() * spacing;
        let mut rng = SmallRng::seed_from_u64(3);
        let mut clients = vec![VivaldiClient::default(); n];
        for _ in 0..1000 {
            for i in 0..n {
                let j = rng.gen_range(0..n);
                if i == j {
                    continue;
                }
                let other = clients[j].coordinate();
                clients[i]
                    .update(&j.to_string(), &other, truth(i, j), &mut rng)
                    .unwrap();
            }
        }
        let mut worst: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let est = clients[i].coordinate().distance_s(&clients[j].coordinate());
                    worst = worst.max((est - truth(i, j)).abs());
                }
            }
        }
        assert!(worst < 0.0035, "worst error {worst} s on a 90 ms line");
    }

    proptest! {
        /// Whatever valid observations arrive, the coordinate stays valid, the error stays
        /// within bounds and the height above its minimum.
        #[test]
        fn updates_keep_the_coordinate_valid(
            obs in proptest::collection::vec(
                (0usize..4, proptest::array::uniform8(-1e3f64..1e3), 0.0f64..2.0,
                 -1.0f64..1.0, 0.0f64..1.0, 0.0f64..10.0),
                1..60,
            ),
            seed in any::<u64>(),
        ) {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut client = VivaldiClient::default();
            for (node, vec, error, adjustment, height, rtt) in obs {
                let other = Coordinate { vec, error, adjustment, height };
                let c = client.update(&node.to_string(), &other, rtt, &mut rng).unwrap();
                prop_assert!(c.is_valid());
                prop_assert!(c.error <= ERROR_MAX && c.error >= 0.0);
                prop_assert!(c.height >= HEIGHT_MIN);
                prop_assert!(c.distance_s(&other) >= 0.0);
            }
        }
    }
}
