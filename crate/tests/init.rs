//! Checks the seeded initialisers behind the Keras-named weights of GRU-CONVENTIONS.md §2
//! (`kernel` (D, 3H) Glorot-uniform, `recurrentKernel` (H, 3H) Orthogonal, in Keras) and the
//! U(−1/√H, 1/√H) of §3 (PyTorch).
//!
//! Where the expected numbers come from: the definitions, not another implementation. Uniform
//! U[a, b): mean (a+b)/2, variance (b−a)²/12; normal N(μ, σ²); Keras `TruncatedNormal` redraws
//! outside μ ± 2σ, so its std is σ·0.8796 (the std of a standard normal truncated to [−2, 2]:
//! sqrt(1 − 4φ(2)/(Φ(2)−Φ(−2))) = 0.879626); Keras `Orthogonal` gives orthonormal rows or
//! columns (whichever are fewer) times `gain`, checked as Q·Qᵀ = gain²·I or Qᵀ·Q = gain²·I in f64.
//! Sample-statistic tolerances are 5 standard errors (n = 200 000; FAST_TEST 20 000).

mod common;

use common::fast;
use fastgru::kernels::init::{fill_orthogonal, fill_random, Distribution, Rng};

fn n_samples() -> usize {
    if fast() {
        20_000
    } else {
        200_000
    }
}

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

#[test]
fn same_seed_same_values_different_seed_different() {
    for &dist in &[Distribution::Uniform, Distribution::Normal, Distribution::TruncatedNormal] {
        let mut a = vec![0.0f32; 1000];
        let mut b = vec![0.0f32; 1000];
        let mut c = vec![0.0f32; 1000];
        fill_random(&mut a, dist, -0.5, 0.5, 42);
        fill_random(&mut b, dist, -0.5, 0.5, 42);
        fill_random(&mut c, dist, -0.5, 0.5, 43);
        assert_eq!(a, b, "{:?}: same seed, different values", dist);
        let same = a.iter().zip(&c).filter(|(x, y)| x == y).count();
        assert!(same < 5, "{:?}: seeds 42 and 43 agree on {} of 1000 values", dist, same);
        // A prefix of a longer fill is the shorter fill (one stream per seed).
        let mut long = vec![0.0f32; 1500];
        fill_random(&mut long, dist, -0.5, 0.5, 42);
        assert_eq!(&long[..1000], &a[..], "{:?}: the stream depends on the length", dist);
    }
    let mut q1 = vec![0.0f32; 13 * 39];
    let mut q2 = vec![0.0f32; 13 * 39];
    let mut q3 = vec![0.0f32; 13 * 39];
    fill_orthogonal(&mut q1, 13, 39, 1.0, 7);
    fill_orthogonal(&mut q2, 13, 39, 1.0, 7);
    fill_orthogonal(&mut q3, 13, 39, 1.0, 8);
    assert_eq!(q1, q2);
    assert_ne!(q1, q3);
    let mut r1 = Rng::new(1);
    let mut r2 = Rng::new(1);
    assert!((0..100).all(|_| r1.next_u64() == r2.next_u64()));
}

#[test]
fn uniform_range_mean_variance() {
    let n = n_samples();
    for &(a, b) in &[(0.0f64, 1.0f64), (-0.05, 0.05), (-3.0, 7.0), (2.0, 2.5)] {
        let mut v = vec![0.0f32; n];
        fill_random(&mut v, Distribution::Uniform, a, b, 1234);
        let (lo, hi) = (a as f32, b as f32);
        for &x in &v {
            assert!(x >= lo && x < hi, "U[{}, {}) gave {}", a, b, x);
        }
        let (m, s) = mean_std(&v);
        let sd = (b - a) / 12f64.sqrt();
        let se = sd / (n as f64).sqrt();
        assert!((m - (a + b) / 2.0).abs() < 5.0 * se, "U[{}, {}): mean {}", a, b, m);
        assert!((s - sd).abs() < 5.0 * sd / (2.0 * n as f64).sqrt() + 1e-6, "U[{}, {}): std {} vs {}", a, b, s, sd);
        // Both halves populated roughly equally (no gross bias).
        let below = v.iter().filter(|&&x| (x as f64) < (a + b) / 2.0).count() as f64 / n as f64;
        assert!((below - 0.5).abs() < 5.0 * 0.5 / (n as f64).sqrt());
    }
    // Rng::uniform itself is in [0, 1).
    let mut r = Rng::new(5);
    for _ in 0..n {
        let u = r.uniform();
        assert!((0.0..1.0).contains(&u));
    }
}

/// BUG PIN: `fill_random(Uniform, a, b)` promises U[a, b) but computes `a + (b − a)·u` in f64 and
/// rounds to f32, which gives exactly `b` whenever u is within half an f32 ulp of 1 (u ≥ 1 − 2⁻²⁵
/// for [0, 1): about one draw in 33 million, e.g. 1 in 30 layers of 1M weights). Seed 74093794 makes
/// the very first draw u = 0.9999999742…, so `out[0] == 1.0`. Keras' RandomUniform is [minval,
/// maxval). Suggested fix (init.rs, Uniform arm): after the cast, `if v >= b as f32 { v =
/// prev_float_below(b as f32) }` (or draw u with 24 bits: `(next_u64() >> 40) as f32 * 2⁻²⁴`, then
/// compute in f32 and clamp the same way).
#[test]
fn uniform_never_returns_b() {
    let mut v = vec![0.0f32; 4];
    fill_random(&mut v, Distribution::Uniform, 0.0, 1.0, 74_093_794);
    assert!(v.iter().all(|&x| x < 1.0), "U[0, 1) returned {:?}", v);
}

#[test]
fn normal_mean_std() {
    let n = n_samples();
    for &(mu, sigma) in &[(0.0f64, 1.0f64), (0.5, 0.05), (-2.0, 3.0)] {
        let mut v = vec![0.0f32; n];
        fill_random(&mut v, Distribution::Normal, mu, sigma, 99);
        assert!(v.iter().all(|x| x.is_finite()));
        let (m, s) = mean_std(&v);
        let se = sigma / (n as f64).sqrt();
        assert!((m - mu).abs() < 5.0 * se, "N({}, {}²): mean {}", mu, sigma, m);
        assert!((s - sigma).abs() < 5.0 * sigma / (2.0 * n as f64).sqrt(), "N({}, {}²): std {}", mu, sigma, s);
        // About 95.45% within 2σ.
        let within = v.iter().filter(|&&x| ((x as f64 - mu) / sigma).abs() <= 2.0).count() as f64 / n as f64;
        assert!((within - 0.9545).abs() < 5.0 * (0.9545f64 * 0.0455 / n as f64).sqrt(), "N: {} within 2σ", within);
    }
}

#[test]
fn truncated_normal_within_two_std() {
    let n = n_samples();
    for &(mu, sigma) in &[(0.0f64, 1.0f64), (0.1, 0.05), (-1.0, 2.0)] {
        let mut v = vec![0.0f32; n];
        fill_random(&mut v, Distribution::TruncatedNormal, mu, sigma, 2024);
        let (lo, hi) = ((mu - 2.0 * sigma) as f32, (mu + 2.0 * sigma) as f32);
        for &x in &v {
            assert!(x >= lo && x <= hi, "truncated N({}, {}²) gave {}", mu, sigma, x);
        }
        let (m, s) = mean_std(&v);
        let sd = sigma * 0.879_626;
        assert!((m - mu).abs() < 5.0 * sd / (n as f64).sqrt(), "truncated: mean {}", m);
        assert!((s - sd).abs() < 5.0 * sd / (n as f64).sqrt(), "truncated: std {} vs {}", s, sd);
        // Not just clipped: values pile up at the bounds only if clipped.
        let at_bounds = v.iter().filter(|&&x| x == lo || x == hi).count();
        assert!(at_bounds < 3, "truncated normal clips instead of redrawing ({} at the bounds)", at_bounds);
    }
}

/// Q·Qᵀ (rows ≤ cols) or Qᵀ·Q (rows ≥ cols) = gain²·I to 1e-5.
#[test]
fn orthogonal_is_orthonormal_times_gain() {
    for &(rows, cols) in &[(13usize, 39usize), (39, 13), (8, 8), (1, 5), (5, 1), (1, 1), (17, 51), (64, 192)] {
        for &gain in &[1.0f64, 0.5, 2.0] {
            let mut q = vec![f32::NAN; rows * cols];
            fill_orthogonal(&mut q, rows, cols, gain, 11);
            assert!(q.iter().all(|v| v.is_finite()), "({}, {}): not every value written", rows, cols);
            let at = |i: usize, j: usize| q[i * cols + j] as f64;
            let small = rows.min(cols);
            for a in 0..small {
                for b in 0..small {
                    let dot: f64 = if rows <= cols { (0..cols).map(|j| at(a, j) * at(b, j)).sum() } else { (0..rows).map(|i| at(i, a) * at(i, b)).sum() };
                    let want = if a == b { gain * gain } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5 * gain * gain, "({}, {}) gain {}: entry ({}, {}) of the Gram matrix is {}", rows, cols, gain, a, b, dot);
                }
            }
        }
    }
}

/// Orthogonal values are not degenerate (a random rotation, not a permutation or ±I slice).
#[test]
fn orthogonal_is_random() {
    let mut q = vec![0.0f32; 8 * 8];
    fill_orthogonal(&mut q, 8, 8, 1.0, 3);
    let zeros = q.iter().filter(|v| v.abs() < 1e-6).count();
    let ones = q.iter().filter(|v| (v.abs() - 1.0).abs() < 1e-6).count();
    assert!(zeros < 4 && ones == 0, "looks degenerate: {} zeros, {} ±1", zeros, ones);
}
