//! Vivaldi network coordinates, as Serf computes them (`serf/coordinate`): every member
//! places itself in an 8-dimensional Euclidean space plus a non-negative height (the
//! latency of its own access link), so that the distance between two coordinates
//! estimates the round-trip time between the members.
//!
//! Each probe round trip moves this member's coordinate a little towards (or away from)
//! the probed member's, in proportion to how wrong the current estimate was and to how
//! sure each side is of its position (`error`). Around that core sit Serf's refinements:
//! a median filter over the last few samples per peer (a single slow round trip does not
//! throw the coordinate), an adjustment term that absorbs what the Euclidean model cannot
//! fit, and a weak gravity towards the origin so that the whole system does not drift.
//!
//! Everything here is pure: the caller measures the round trips and passes them in.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Dimensions of the Euclidean part (Serf's default).
pub const DIMENSIONS: usize = 8;
/// Below this (seconds) a distance counts as zero.
const ZERO_THRESHOLD: f64 = 1.0e-6;
/// Peers whose latency samples are kept at most; past it the table is cleared.
const MAX_FILTERED_PEERS: usize = 10_000;

/// Serf's tuning of the algorithm (`coordinate.DefaultConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct VivaldiConfig {
    /// The most uncertain a coordinate can be (and where a new one starts).
    pub error_max: f64,
    /// How fast the error estimate follows the observed error.
    pub ce: f64,
    /// How far a single observation moves the coordinate.
    pub cc: f64,
    /// Samples averaged into the adjustment term.
    pub adjustment_window: usize,
    /// The smallest height (seconds).
    pub height_min: f64,
    /// Samples per peer in the median filter.
    pub latency_filter: usize,
    /// Distance (seconds) at which gravity's pull equals one second of force.
    pub gravity_rho: f64,
}

impl Default for VivaldiConfig {
    fn default() -> Self {
        VivaldiConfig {
            error_max: 1.5,
            ce: 0.25,
            cc: 0.25,
            adjustment_window: 20,
            height_min: 10.0e-6,
            latency_filter: 3,
            gravity_rho: 150.0,
        }
    }
}

/// A point in the coordinate space, with Serf's JSON field names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// The Euclidean part, seconds.
    pub vec: Vec<f64>,
    /// How wrong this coordinate is believed to be (relative).
    pub error: f64,
    /// Added to distances to and from this coordinate (seconds).
    pub adjustment: f64,
    /// The latency of this member's own link (seconds).
    pub height: f64,
}

impl Coordinate {
    /// A coordinate at the origin, as uncertain as allowed.
    pub fn new(config: &VivaldiConfig) -> Coordinate {
        Coordinate {
            vec: vec![0.0; DIMENSIONS],
            error: config.error_max,
            adjustment: 0.0,
            height: config.height_min,
        }
    }

    /// Whether every component is a finite number and the dimensions are right: a
    /// coordinate from the network is used only when it is.
    pub fn is_valid(&self) -> bool {
        self.vec.len() == DIMENSIONS
            && self.vec.iter().all(|v| v.is_finite())
            && self.error.is_finite()
            && self.adjustment.is_finite()
            && self.height.is_finite()
    }

    /// The estimated round trip to `other`: Euclidean distance plus both heights, plus both
    /// adjustments when that keeps it positive.
    pub fn distance_to(&self, other: &Coordinate) -> Duration {
        seconds(self.estimate(other))
    }

    fn estimate(&self, other: &Coordinate) -> f64 {
        let raw = self.raw_distance(other);
        let adjusted = raw + self.adjustment + other.adjustment;
        if adjusted > 0.0 {
            adjusted
        } else {
            raw
        }
    }

    fn raw_distance(&self, other: &Coordinate) -> f64 {
        magnitude(&difference(&self.vec, &other.vec)) + self.height + other.height
    }

    /// This coordinate pushed by `force` (seconds) away from `other` (towards it when
    /// negative); `rng` picks the direction when the two coincide.
    fn apply_force(
        &self,
        config: &VivaldiConfig,
        force: f64,
        other: &Coordinate,
        rng: &mut SplitMix,
    ) -> Coordinate {
        let (unit, mag) = unit_vector_at(&self.vec, &other.vec)
            .unwrap_or_else(|| (rng.unit(self.vec.len()), 0.0));
        let vec = self
            .vec
            .iter()
            .zip(&unit)
            .map(|(v, u)| v + u * force)
            .collect();
        let mut height = self.height;
        if mag > ZERO_THRESHOLD {
            height =
                ((self.height + other.height) * force / mag + self.height).max(config.height_min);
        }
        Coordinate {
            vec,
            error: self.error,
            adjustment: self.adjustment,
            height,
        }
    }
}

fn difference(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn magnitude(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// The unit vector from `b` towards `a` and the distance between them; `None` when the
/// points coincide (the caller picks a random direction, since otherwise neither would
/// ever move away from the other).
fn unit_vector_at(a: &[f64], b: &[f64]) -> Option<(Vec<f64>, f64)> {
    let diff = difference(a, b);
    let mag = magnitude(&diff);
    (mag > ZERO_THRESHOLD).then(|| (diff.iter().map(|x| x / mag).collect(), mag))
}

/// A small seeded generator (SplitMix64): random directions for coincident points, kept
/// inside the state so that a seeded run replays exactly.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random unit vector of `dimensions` components.
    fn unit(&mut self, dimensions: usize) -> Vec<f64> {
        loop {
            let v: Vec<f64> = (0..dimensions).map(|_| self.next_f64() - 0.5).collect();
            let mag = magnitude(&v);
            if mag > ZERO_THRESHOLD {
                return v.iter().map(|x| x / mag).collect();
            }
        }
    }
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// One member's coordinate and what it needs to refine it (Serf's `coordinate.Client`).
#[derive(Clone, Debug)]
pub struct Vivaldi {
    coord: Coordinate,
    origin: Coordinate,
    config: VivaldiConfig,
    adjustment_samples: Vec<f64>,
    adjustment_index: usize,
    latency_samples: HashMap<String, VecDeque<f64>>,
    rng: SplitMix,
}

/// Why an observation was not used. The coordinate is unchanged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObservationError {
    /// The peer's coordinate has the wrong dimensions or a non-finite component.
    #[error("the peer's coordinate is not valid")]
    BadPeer,
    /// Longer than any real round trip (over ten seconds).
    #[error("round trip {0:?} is out of range")]
    BadRtt(Duration),
}

impl Vivaldi {
    /// A member at the origin; `seed` drives the only randomness (directions between
    /// coincident points), so two runs with one seed are identical.
    pub fn new(config: VivaldiConfig, seed: u64) -> Vivaldi {
        Vivaldi {
            coord: Coordinate::new(&config),
            origin: Coordinate {
                error: 0.0,
                height: 0.0,
                ..Coordinate::new(&config)
            },
            adjustment_samples: vec![0.0; config.adjustment_window.max(1)],
            adjustment_index: 0,
            latency_samples: HashMap::new(),
            rng: SplitMix(seed),
            config,
        }
    }

    /// This member's current coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coord
    }

    /// Forgets a peer's latency samples (it left).
    pub fn forget(&mut self, peer: &str) {
        self.latency_samples.remove(peer);
    }

    /// Folds one measured round trip to `peer`, whose coordinate is `other`, into this
    /// member's coordinate, and returns the new coordinate.
    pub fn observe(
        &mut self,
        peer: &str,
        other: &Coordinate,
        rtt: Duration,
    ) -> Result<&Coordinate, ObservationError> {
        if !other.is_valid() {
            return Err(ObservationError::BadPeer);
        }
        // Serf refuses round trips over ten seconds as nonsense.
        if rtt > Duration::from_secs(10) {
            return Err(ObservationError::BadRtt(rtt));
        }
        let rtt = self.filtered(peer, rtt.as_secs_f64());
        self.update_vivaldi(other, rtt);
        self.update_adjustment(other, rtt);
        self.update_gravity();
        if !self.coord.is_valid() {
            // Numerically lost: start again rather than spread garbage.
            self.coord = Coordinate::new(&self.config);
        }
        Ok(&self.coord)
    }

    /// The median of the last few samples to `peer`, `rtt` included.
    fn filtered(&mut self, peer: &str, rtt: f64) -> f64 {
        if self.latency_samples.len() >= MAX_FILTERED_PEERS
            && !self.latency_samples.contains_key(peer)
        {
            self.latency_samples.clear();
        }
        let samples = self.latency_samples.entry(peer.to_owned()).or_default();
        samples.push_back(rtt);
        while samples.len() > self.config.latency_filter.max(1) {
            samples.pop_front();
        }
        let mut sorted: Vec<f64> = samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }

    fn update_vivaldi(&mut self, other: &Coordinate, rtt: f64) {
        let config = &self.config;
        let rtt = rtt.max(ZERO_THRESHOLD);
        let dist = self.coord.estimate(other);
        let wrongness = (dist - rtt).abs() / rtt;
        let total_error = (self.coord.error + other.error).max(ZERO_THRESHOLD);
        let weight = self.coord.error / total_error;
        self.coord.error = (config.ce * weight * wrongness
            + self.coord.error * (1.0 - config.ce * weight))
            .min(config.error_max);
        let force = config.cc * weight * (rtt - dist);
        self.coord = self.coord.apply_force(config, force, other, &mut self.rng);
    }

    fn update_adjustment(&mut self, other: &Coordinate, rtt: f64) {
        let window = self.adjustment_samples.len();
        self.adjustment_samples[self.adjustment_index] = rtt - self.coord.raw_distance(other);
        self.adjustment_index = (self.adjustment_index + 1) % window;
        let sum: f64 = self.adjustment_samples.iter().sum();
        self.coord.adjustment = sum / (2.0 * window as f64);
    }

    fn update_gravity(&mut self) {
        let dist = self.origin.estimate(&self.coord);
        let force = -(dist / self.config.gravity_rho).powi(2);
        self.coord = self
            .coord
            .apply_force(&self.config, force, &self.origin, &mut self.rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs Vivaldi over `n` members with the true round trips `truth(i, j)` (seconds):
    /// every round, each member observes a round trip to one other, picked in turn.
    fn simulate(n: usize, rounds: usize, truth: impl Fn(usize, usize) -> f64) -> Vec<Vivaldi> {
        let mut members: Vec<Vivaldi> = (0..n)
            .map(|i| Vivaldi::new(VivaldiConfig::default(), i as u64))
            .collect();
        let mut rng = SplitMix(42);
        for _ in 0..rounds {
            for i in 0..n {
                let j = (rng.next_f64() * n as f64) as usize % n;
                if j == i {
                    continue;
                }
                let other = members[j].coordinate().clone();
                let rtt = Duration::from_secs_f64(truth(i, j));
                members[i].observe(&j.to_string(), &other, rtt).unwrap();
            }
        }
        members
    }

    /// The largest relative error of the estimates over all pairs.
    fn worst_error(members: &[Vivaldi], truth: impl Fn(usize, usize) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for i in 0..members.len() {
            for j in 0..members.len() {
                if i == j {
                    continue;
                }
                let estimate = members[i]
                    .coordinate()
                    .distance_to(members[j].coordinate())
                    .as_secs_f64();
                let real = truth(i, j);
                worst = worst.max((estimate - real).abs() / real);
            }
        }
        worst
    }

    #[test]
    fn a_uniform_mesh_converges_to_within_a_quarter() {
        // Every pair 10 ms apart (Serf's own test case): not embeddable in few dimensions
        // without heights, which is what heights and adjustments are for.
        let truth = |_: usize, _: usize| 0.010;
        let members = simulate(10, 400, truth);
        let worst = worst_error(&members, truth);
        assert!(worst < 0.25, "worst relative error {worst}");
    }

    #[test]
    fn points_on_a_line_converge_to_within_a_quarter() {
        // Members 10 ms apart on a line, each with a 1 ms access link.
        let truth = |i: usize, j: usize| (i.abs_diff(j) as f64) * 0.010 + 0.002;
        let members = simulate(8, 1000, truth);
        let worst = worst_error(&members, truth);
        assert!(worst < 0.25, "worst relative error {worst}");
    }

    #[test]
    fn two_distant_sites_converge_to_within_a_quarter() {
        // Two datacenters: 1 ms within each, 80 ms between them.
        let site = |i: usize| i / 4;
        let truth = |i: usize, j: usize| if site(i) == site(j) { 0.001 } else { 0.080 };
        let members = simulate(8, 1500, truth);
        let worst = worst_error(&members, truth);
        assert!(worst < 0.25, "worst relative error {worst}");
        // And the nearest member is always one of the same site.
        for i in 0..8 {
            let nearest = (0..8)
                .filter(|j| *j != i)
                .min_by_key(|j| {
                    members[i]
                        .coordinate()
                        .distance_to(members[*j].coordinate())
                })
                .unwrap();
            assert_eq!(site(nearest), site(i));
        }
    }

    #[test]
    fn bad_observations_change_nothing() {
        let mut member = Vivaldi::new(VivaldiConfig::default(), 1);
        let before = member.coordinate().clone();
        let mut nan = Coordinate::new(&VivaldiConfig::default());
        nan.vec[3] = f64::NAN;
        assert_eq!(
            member.observe("p", &nan, Duration::from_millis(5)),
            Err(ObservationError::BadPeer)
        );
        let short = Coordinate {
            vec: vec![0.0; 3],
            ..before.clone()
        };
        assert!(member
            .observe("p", &short, Duration::from_millis(5))
            .is_err());
        let fine = Coordinate::new(&VivaldiConfig::default());
        assert!(member.observe("p", &fine, Duration::from_secs(11)).is_err());
        assert_eq!(member.coordinate(), &before);
    }

    #[test]
    fn the_estimate_follows_serfs_formula() {
        let config = VivaldiConfig::default();
        let mut a = Coordinate::new(&config);
        let mut b = Coordinate::new(&config);
        a.vec[0] = 0.003;
        b.vec[1] = 0.004;
        a.height = 0.001;
        b.height = 0.002;
        // |(0.003, -0.004)| = 0.005, plus both heights.
        assert!((a.distance_to(&b).as_secs_f64() - 0.008).abs() < 1e-9);
        // Adjustments count while the sum stays positive...
        a.adjustment = 0.001;
        assert!((a.distance_to(&b).as_secs_f64() - 0.009).abs() < 1e-9);
        // ...and are ignored when they would make it negative.
        a.adjustment = -0.02;
        assert!((a.distance_to(&b).as_secs_f64() - 0.008).abs() < 1e-9);
    }
}
