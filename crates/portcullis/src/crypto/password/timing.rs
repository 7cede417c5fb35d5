//! What one password check costs, per kind of stored hash, and the floor that checks about
//! possibly unknown accounts are padded up to (see "Timing" in the parent module's doc).
//!
//! This module only keeps estimates; it never sleeps, hashes or reads a clock itself: the worker
//! measures, the caller sleeps. Estimates are in-process and start empty at every start.

use std::sync::Mutex;
use std::time::Duration;

/// What a check computes. Its cost depends only on the algorithm and its parameters, never on the
/// password, salt or account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// argon2 (any variant) with this memory (KiB), time and lane cost.
    Argon2 { m: u32, t: u32, p: u32 },
    /// Better Auth's scrypt (N = 2^14, r = 16, p = 1: its parameters are fixed).
    Scrypt,
    /// Parameter sets seen after the first [`MAX_KINDS`], pooled so the table stays small.
    Other,
}

/// Distinct kinds tracked one by one. A database holds a handful (the configured argon2, Better
/// Auth's scrypt, the argon2 parameters of earlier configurations); the cap only bounds memory.
const MAX_KINDS: usize = 16;
/// No check is padded beyond this, whatever a pathological stored hash costs.
pub(super) const MAX_FLOOR: Duration = Duration::from_secs(3);
/// Weight of a new sample in the running mean and in the running mean deviation (as TCP's
/// round-trip estimate, RFC 6298: recent enough to follow a drifting machine, smooth enough that
/// one stalled sample barely moves it).
const MEAN_GAIN: f64 = 1.0 / 8.0;
const DEV_GAIN: f64 = 1.0 / 4.0;
/// The floor sits this many mean deviations above the mean, so the costliest kind's own checks
/// rarely run past it (a check that does is answered when it ends, not cut short).
const DEV_MARGIN: f64 = 2.0;
/// Spread assumed after a single sample (a fraction of it), until more samples show the real one.
/// Generous, as a kind may be timed only once (scrypt, at the first check after a start) while
/// the machine's speed drifts: a shared VM's by 15-30 % over tens of minutes (BENCHMARKS.md).
const FIRST_DEV: f64 = 1.0 / 4.0;

/// Running estimate of one kind's cost, in seconds.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    mean: f64,
    dev: f64,
}

impl Estimate {
    fn first(x: f64) -> Self {
        Self { mean: x, dev: x * FIRST_DEV }
    }
    fn add(&mut self, x: f64) {
        let err = x - self.mean;
        self.dev += DEV_GAIN * (err.abs() - self.dev);
        self.mean += MEAN_GAIN * err;
    }
    fn bound(&self) -> f64 {
        self.mean + DEV_MARGIN * self.dev
    }
}

/// Cost estimates per [`Kind`], shared by every clone of the hasher.
#[derive(Debug, Default)]
pub(super) struct Costs {
    kinds: Mutex<Vec<(Kind, Estimate)>>,
}

impl Costs {
    /// Adds one worker-measured execution time (queue wait excluded) of a check of `kind`.
    pub(super) fn record(&self, kind: Kind, took: Duration) {
        let x = took.as_secs_f64();
        // Nothing here can panic while the lock is held, so a poisoned lock still holds sane data.
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let kind = if kinds.len() >= MAX_KINDS && !kinds.iter().any(|(k, _)| *k == kind) { Kind::Other } else { kind };
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, e)) => e.add(x),
            None => kinds.push((kind, Estimate::first(x))),
        }
    }

    /// The largest expected cost among the kinds seen so far (with its margin), at most
    /// [`MAX_FLOOR`]; zero before any sample.
    pub(super) fn floor(&self) -> Duration {
        let kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let worst = kinds.iter().map(|(_, e)| e.bound()).fold(0.0, f64::max);
        Duration::try_from_secs_f64(worst).unwrap_or(MAX_FLOOR).min(MAX_FLOOR)
    }

    /// How long a check that took `took` must still wait to cost [`floor`](Self::floor).
    pub(super) fn padding(&self, took: Duration) -> Duration {
        self.floor().saturating_sub(took)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Within a microsecond (the estimates are floating point).
    fn near(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(1)
    }

    #[test]
    fn floor_is_the_costliest_kind_with_a_margin() {
        let c = Costs::default();
        assert_eq!(c.floor(), Duration::ZERO);
        let argon2 = Kind::Argon2 { m: 19456, t: 2, p: 1 };
        c.record(argon2, ms(20));
        assert!(near(c.floor(), ms(30)), "one sample: mean + 2 x (mean / 4): {:?}", c.floor());
        c.record(Kind::Scrypt, ms(80));
        assert!(near(c.floor(), ms(120)), "{:?}", c.floor());
        assert!(near(c.padding(ms(20)), ms(100)), "a cheap check waits up to the floor");
        assert_eq!(c.padding(ms(130)), Duration::ZERO, "one past the floor is not delayed further");
        // Steady samples shrink the margin towards the real spread (none here).
        for _ in 0..64 {
            c.record(Kind::Scrypt, ms(80));
        }
        assert!(c.floor() >= ms(80) && c.floor() < ms(81), "{:?}", c.floor());
    }

    #[test]
    fn an_outlier_raises_the_floor_for_a_while_and_the_mean_follows_a_drift() {
        let c = Costs::default();
        for _ in 0..32 {
            c.record(Kind::Scrypt, ms(50));
        }
        c.record(Kind::Scrypt, ms(2000));
        assert!(c.floor() > ms(500), "a stall widens the margin at once: {:?}", c.floor());
        for _ in 0..48 {
            c.record(Kind::Scrypt, ms(50));
        }
        assert!(c.floor() < ms(60), "and is forgotten: {:?}", c.floor());
        for _ in 0..64 {
            c.record(Kind::Scrypt, ms(100));
        }
        let f = c.floor();
        assert!(f >= ms(99) && f < ms(110), "{f:?}");
    }

    #[test]
    fn kinds_beyond_the_cap_are_pooled_and_the_floor_is_capped() {
        let c = Costs::default();
        for m in 0..(MAX_KINDS as u32 + 10) {
            c.record(Kind::Argon2 { m: 8 + m, t: 1, p: 1 }, ms(1));
        }
        assert_eq!(c.kinds.lock().unwrap().len(), MAX_KINDS + 1);
        c.record(Kind::Argon2 { m: 1 << 20, t: 64, p: 1 }, Duration::from_secs(60));
        assert_eq!(c.floor(), MAX_FLOOR);
    }
}
