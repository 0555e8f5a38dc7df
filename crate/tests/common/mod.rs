//! Helpers shared by the integration tests: a seeded RNG (independent of the crate's own
//! `kernels::init::Rng`, so the tests never use the code under test to make their inputs),
//! the `FAST_TEST` switch, f32↔f64 conversion and tolerance checks that report where they fail.
#![allow(dead_code)]

/// True when `FAST_TEST` is set to anything but "" or "0": grids shrink to a representative subset.
pub fn fast() -> bool {
    std::env::var("FAST_TEST").map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

/// xoshiro256** seeded through SplitMix64: deterministic across platforms and toolchains.
pub struct TestRng([u64; 4]);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        TestRng([next(), next(), next(), next()])
    }
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }
    /// Uniform integer in [lo, hi] (inclusive).
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.range(lo, hi) as f32).collect()
    }
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |a, &b| a.max(b.abs()))
}

/// Checks `|got − want| ≤ rel · max(1, max|want|)` element-wise (an error relative to the array's
/// scale, as f32 rounding is relative to the magnitudes that were summed, not to each result).
/// Returns a message naming the worst element on failure.
pub fn close(name: &str, got: &[f32], want: &[f64], rel: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{}: length {} != {}", name, got.len(), want.len()));
    }
    let tol = rel * max_abs(want).max(1.0);
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g as f64 - w).abs();
        if !(e <= worst.1) {
            worst = (i, if e.is_nan() { f64::INFINITY } else { e });
        }
    }
    if worst.1 > tol {
        let i = worst.0;
        return Err(format!("{}: element {} is {} but should be {} (error {:.3e} > tol {:.3e})", name, i, got[i], want[i], worst.1, tol));
    }
    Ok(())
}

/// As `close` for two f64 arrays (finite-difference checks of the f64 reference).
pub fn close64(name: &str, got: &[f64], want: &[f64], rel: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{}: length {} != {}", name, got.len(), want.len()));
    }
    let tol = rel * max_abs(want).max(1.0);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g - w).abs();
        if !(e <= tol) {
            return Err(format!("{}: element {} is {} but should be {} (error {:.3e} > tol {:.3e})", name, i, g, w, e, tol));
        }
    }
    Ok(())
}

/// Panics with the first `limit` failures, if any, after a grid has run to the end (so one bug
/// does not hide another).
pub fn report(what: &str, failures: &[String], cases: usize) {
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(12).map(|s| s.as_str()).collect();
        panic!("{}: {} of {} cases failed; first ones:\n  {}", what, failures.len(), cases, shown.join("\n  "));
    }
}

pub mod json;
