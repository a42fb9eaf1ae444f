//! Lifeguard (Dadgar et al., 2018) pieces that foca lacks: local health
//! awareness and the shrinking suspicion timeout. The core wires them
//! into foca through the timer queue it owns; see `core.rs`.

use std::time::Duration;

/// Local health score (memberlist's "awareness"): 0 is healthy. Rises when
/// evidence says *this* node is the slow one, falls on successful probes.
/// Probe interval and timeout are multiplied by `score + 1`.
#[derive(Debug, Clone)]
pub struct Awareness {
    score: u8,
    max: u8,
}

impl Awareness {
    /// A healthy score with the given ceiling (memberlist uses 8).
    pub fn new(max: u8) -> Self {
        Self { score: 0, max }
    }

    /// Current score, `0..=max`.
    pub fn score(&self) -> u8 {
        self.score
    }

    /// Adds `delta`, saturating at 0 and `max`.
    pub fn apply(&mut self, delta: i8) {
        let s = i16::from(self.score) + i16::from(delta);
        self.score = s.clamp(0, i16::from(self.max)) as u8;
    }

    /// `d × (score + 1)`.
    pub fn scale(&self, d: Duration) -> Duration {
        d * (u32::from(self.score) + 1)
    }
}

/// Lifeguard's suspicion timeout after `c` independent confirmations when
/// `k` are expected: `max(min, max - (max - min) · log(c+1) / log(k+1))`.
pub fn suspicion_timeout(min: Duration, max: Duration, k: u32, c: u32) -> Duration {
    if k == 0 || max <= min {
        return min;
    }
    let frac = (f64::from(c) + 1.0).ln() / (f64::from(k) + 1.0).ln();
    let span = (max - min).as_secs_f64();
    let t = max.as_secs_f64() - span * frac;
    // Millisecond resolution, as memberlist.
    let t = Duration::from_millis((t.max(0.0) * 1000.0).floor() as u64);
    t.max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_shrinks_with_confirmations() {
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert_eq!(suspicion_timeout(min, max, 2, 0), max);
        // log(2)/log(3) = 0.6309 → 24 - 20·0.6309 = 11.38 s
        assert_eq!(
            suspicion_timeout(min, max, 2, 1),
            Duration::from_millis(11_381)
        );
        assert_eq!(suspicion_timeout(min, max, 2, 2), min);
        assert_eq!(suspicion_timeout(min, max, 2, 9), min);
        assert_eq!(suspicion_timeout(min, max, 0, 0), min);
    }

    #[test]
    fn awareness_saturates() {
        let mut a = Awareness::new(8);
        a.apply(-1);
        assert_eq!(a.score(), 0);
        for _ in 0..20 {
            a.apply(1);
        }
        assert_eq!(a.score(), 8);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(9));
    }
}
