//! What one password check costs here, per kind of stored hash, as a ring of recent execution
//! times, and how long a check about a possibly unknown account must take so that its answer time
//! has the same distribution whatever the account holds (see "Timing" in the parent module's doc).
//!
//! This module only keeps samples and draws from them; it never sleeps, hashes or reads a clock
//! itself: the worker measures, the caller sleeps. Samples are in-process and start empty at every
//! start.
//!
//! # The model
//!
//! A check of kind `k` (argon2 with some parameters, Better Auth's scrypt) runs for a time `X_k`
//! whose distribution `F_k` is what that computation costs on this machine under its load. Each
//! kind keeps its last [`RING`] execution times. A padded check of kind `k` that did not match
//! answers at
//!
//! ```text
//!   T_k = max(X_k, D_j for every other kind j seen)        (never padded beyond MAX_TARGET)
//! ```
//!
//! where `D_j` is one sample picked at random from kind `j`'s ring. While the machine's speed is
//! stationary a ring holds independent draws of `F_j`, so a sample picked at random from it is
//! itself a draw of `F_j`, independent of `X_k` and of the other kinds' picks. Hence
//!
//! ```text
//!   P(T_k <= t) = F_k(t) * prod_{j != k} F_j(t) = prod_{all j} F_j(t)
//! ```
//!
//! the same for every `k`: an unknown address (its dummy is the configured argon2id kind), a known
//! argon2 account of any parameters and a Better Auth scrypt account all answer with the
//! distribution of the largest of one independent draw per kind. Not just a common floor: many
//! timed attempts per address tell them apart no better than one.
//!
//! Two simpler schemes leak. A fixed floor (say mean + 2 deviations of the costliest kind) makes
//! every unknown address answer exactly at the floor while the costliest kind's own checks answer
//! at `max(floor, X)`: the few per cent that run past it (more under load) give those accounts away
//! within a hundred attempts. Padding cheaper checks to the largest of two draws of the costliest
//! kind `C`, and `C`'s own to one more draw, matches only where the cheaper kinds never overlap
//! `C`'s times; the product above needs no such assumption, and pads less (the largest of one draw
//! per kind sits near `C`'s own times, not near the larger of two of them).
//!
//! Where it is not exact, and why that is acceptable:
//! - a kind with few samples repeats them: scrypt is timed once when the first check is padded;
//!   until scrypt accounts sign in, every answer draws that one time. Each scrypt check adds its
//!   own time, so whoever probes scrypt accounts fills the ring with the times they observe;
//! - the ring of a rarely checked kind may hold times from a faster or slower period than now;
//! - the first check of a kind never seen before answers at its own time (it then joins the set);
//! - kinds beyond [`MAX_KINDS`] share one ring (a mixture), a pathological database only;
//! - no check is padded beyond [`MAX_TARGET`]; one that runs longer answers when it ends.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::Mutex;
use std::time::Duration;

/// What a check computes. Its cost depends only on the algorithm and its parameters, never on the
/// password, salt or account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// argon2 (any variant) with this memory (KiB), time and lane cost.
    Argon2 {
        m: u32,
        t: u32,
        p: u32,
    },
    /// Better Auth's scrypt (N = 2^14, r = 16, p = 1: its parameters are fixed).
    Scrypt,
    /// Imported hashes of other systems (password/legacy.rs), by their cost parameters.
    Bcrypt {
        cost: u32,
    },
    Pbkdf2 {
        sha: u8,
        rounds: u32,
    },
    ScryptPhc {
        log_n: u8,
        r: u32,
        p: u32,
    },
    /// Parameter sets seen after the first [`MAX_KINDS`], pooled so the table stays small.
    Other,
}

/// Distinct kinds tracked one by one. A database holds a handful (the configured argon2, Better
/// Auth's scrypt, the argon2 parameters of earlier configurations); the cap only bounds memory.
const MAX_KINDS: usize = 16;
/// Execution times kept per kind: enough for a random pick to be a fair draw of the kind's cost,
/// few enough to follow a machine whose speed drifts (a shared VM's moves 15-30 % over tens of
/// minutes, BENCHMARKS.md) within minutes of sign-ins.
const RING: usize = 64;
/// No check is padded beyond this, whatever a pathological stored hash costs.
pub(super) const MAX_TARGET: Duration = Duration::from_secs(3);

/// The last [`RING`] execution times of one kind.
struct Samples {
    ring: Vec<Duration>,
    /// Where the next sample goes once the ring is full (the oldest one).
    next: usize,
}

impl Samples {
    fn push(&mut self, took: Duration) {
        if self.ring.len() < RING {
            self.ring.push(took);
        } else {
            self.ring[self.next] = took;
        }
        self.next = (self.next + 1) % RING;
    }
}

struct State {
    kinds: Vec<(Kind, Samples)>,
    /// Picks samples; not a secret (what it hides is which kind a check was, not the pick), but
    /// seeded from the OS so nobody can predict it.
    rng: StdRng,
}

impl State {
    /// Where samples of `kind` go: its own ring, or the shared one once the table is full.
    fn slot(&self, kind: Kind) -> Kind {
        if self.kinds.len() >= MAX_KINDS && !self.kinds.iter().any(|(k, _)| *k == kind) {
            Kind::Other
        } else {
            kind
        }
    }
}

/// Recent execution times per [`Kind`], shared by every clone of the hasher.
pub(super) struct Costs {
    state: Mutex<State>,
}

impl Default for Costs {
    fn default() -> Self {
        Self::with_rng(StdRng::from_entropy())
    }
}

impl Costs {
    fn with_rng(rng: StdRng) -> Self {
        Self { state: Mutex::new(State { kinds: Vec::new(), rng }) }
    }

    /// Adds one worker-measured execution time (queue wait excluded) of a check of `kind`.
    pub(super) fn record(&self, kind: Kind, took: Duration) {
        let mut state = self.lock();
        let kind = state.slot(kind);
        match state.kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, s)) => s.push(took),
            None => {
                let mut s = Samples { ring: Vec::with_capacity(RING), next: 0 };
                s.push(took);
                state.kinds.push((kind, s));
            }
        }
    }

    /// How long a padded check must take in all: the largest of one sample picked at random from
    /// each kind seen, leaving out `own` (the kind whose execution time the check itself is a draw
    /// of; `None` when its own time is no draw of any kind), at most [`MAX_TARGET`]; zero before
    /// any sample.
    pub(super) fn target(&self, own: Option<Kind>) -> Duration {
        let mut state = self.lock();
        let own = own.map(|k| state.slot(k));
        let State { kinds, rng } = &mut *state;
        let picks = kinds.iter().filter(|(k, _)| Some(*k) != own).filter_map(|(_, s)| s.ring.choose(rng).copied());
        picks.max().unwrap_or(Duration::ZERO).min(MAX_TARGET)
    }

    /// The shortest time kept for `kind`: every padded answer picked from its ring took at least this.
    #[cfg(test)]
    pub(super) fn shortest(&self, kind: Kind) -> Option<Duration> {
        let state = self.lock();
        state.kinds.iter().find(|(k, _)| *k == kind).and_then(|(_, s)| s.ring.iter().min().copied())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing here can panic while the lock is held, so a poisoned lock still holds sane data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const ARGON2: Kind = Kind::Argon2 { m: 19456, t: 2, p: 1 };
    const OLD_ARGON2: Kind = Kind::Argon2 { m: 65536, t: 3, p: 1 };

    /// A synthetic execution time around `base`: a spread of +-15 % and, one time in twenty, a
    /// stall of up to twice `base` (a busy machine), so the kinds' times overlap in their tails.
    fn synthetic(rng: &mut StdRng, base: f64) -> Duration {
        let mut x = base * rng.gen_range(0.85..1.15);
        if rng.gen_bool(0.05) {
            x += base * rng.gen_range(0.0..2.0);
        }
        Duration::from_secs_f64(x)
    }

    fn quantile(sorted: &[Duration], q: f64) -> f64 {
        sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64()
    }

    /// The property the module exists for: an unknown address, a known argon2 account (configured
    /// or older parameters that overlap scrypt's times) and a scrypt account, each answering at
    /// `max(own time, target)` with their own times recorded as the hasher does, end up with the
    /// same distribution of answer times. Deterministic: synthetic times, seeded picks.
    #[test]
    fn padded_answers_have_the_same_distribution_for_every_kind() {
        let costs = Costs::with_rng(StdRng::seed_from_u64(7));
        let mut machine = StdRng::seed_from_u64(11);
        // (what, its kind, its mean cost in seconds): the unknown address runs the dummy, which is
        // the configured argon2id, like a known argon2 account.
        let paths = [
            ("unknown address", ARGON2, 0.020),
            ("argon2 account", ARGON2, 0.020),
            ("older argon2 account", OLD_ARGON2, 0.070),
            ("scrypt account", Kind::Scrypt, 0.080),
        ];
        // Scrypt is timed once before the first padded check, as the hasher does.
        costs.record(Kind::Scrypt, synthetic(&mut machine, 0.080));
        let mut answers: Vec<Vec<Duration>> = vec![Vec::new(); paths.len()];
        for round in 0..30_000 {
            for (i, (_, kind, base)) in paths.iter().enumerate() {
                let own = synthetic(&mut machine, *base);
                costs.record(*kind, own);
                // Before the rings have filled the answers differ; only the steady state counts.
                let answer = own.max(costs.target(Some(*kind)));
                if round >= 1_000 {
                    answers[i].push(answer);
                }
            }
        }
        for a in &mut answers {
            a.sort();
        }
        for q in [0.05, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99] {
            let reference = quantile(&answers[0], q);
            for (i, (what, _, _)) in paths.iter().enumerate().skip(1) {
                let got = quantile(&answers[i], q);
                assert!(
                    (got - reference).abs() <= 0.03 * reference,
                    "quantile {q}: {what} {got:.4} s, an unknown address {reference:.4} s"
                );
            }
        }
    }

    #[test]
    fn the_target_is_one_pick_per_other_kind_capped() {
        let c = Costs::default();
        assert_eq!(c.target(None), Duration::ZERO, "no sample yet");
        c.record(ARGON2, ms(20));
        assert_eq!(c.target(Some(ARGON2)), Duration::ZERO, "a check's own kind is left out");
        assert_eq!(c.target(None), ms(20));
        c.record(Kind::Scrypt, ms(80));
        assert_eq!(c.target(Some(ARGON2)), ms(80));
        assert_eq!(c.target(Some(Kind::Scrypt)), ms(20));
        assert_eq!(c.target(None), ms(80));
        c.record(OLD_ARGON2, Duration::from_secs(60));
        assert_eq!(c.target(None), MAX_TARGET, "never padded beyond the cap");
    }

    #[test]
    fn the_ring_forgets_the_oldest_samples() {
        let c = Costs::default();
        for _ in 0..RING {
            c.record(Kind::Scrypt, Duration::from_secs(2));
        }
        for _ in 0..RING {
            c.record(Kind::Scrypt, ms(50));
        }
        for _ in 0..100 {
            assert_eq!(c.target(Some(ARGON2)), ms(50), "a stall is forgotten after a ring of samples");
        }
        c.record(Kind::Scrypt, ms(70));
        let picks: Vec<_> = (0..2000).map(|_| c.target(None)).collect();
        assert!(picks.contains(&ms(70)) && picks.contains(&ms(50)), "every sample in the ring can be picked");
    }

    #[test]
    fn kinds_beyond_the_cap_are_pooled() {
        let c = Costs::default();
        for m in 0..(MAX_KINDS as u32 + 10) {
            c.record(Kind::Argon2 { m: 8 + m, t: 1, p: 1 }, ms(1));
        }
        assert_eq!(c.lock().kinds.len(), MAX_KINDS + 1);
        c.record(Kind::Argon2 { m: 1 << 20, t: 64, p: 1 }, ms(900));
        // A pooled kind's own check leaves the shared ring out, as it would its own.
        assert_eq!(c.target(Some(Kind::Argon2 { m: 1 << 19, t: 64, p: 1 })), ms(1));
    }
}
