//! Checks the normalization kernels (`kernels::norm`) against f64 references typed in here from
//! Keras 3 (keras/src/layers/normalization/batch_normalization.py and layer_normalization.py):
//!
//! - BatchNormalization, training: `_moments` — no mask: μ = mean(x), σ² = mean((x − μ)²) over
//!   every row; mask w (one per row): μ = Σ w x / (Σ w + 1e-7), σ² = Σ w (x − μ)² / (Σ w + 1e-7).
//!   Then `ops.batch_normalization`: y = γ (x − μ) / √(σ² + ε) + β on EVERY row (masked rows are
//!   normalized too; they only leave the statistics out). Inference: the same with the moving μ, σ².
//! - LayerNormalization: per row μ, σ² (biased), y = γ (x − μ) / √(σ² + ε) + β.
//!
//! Backward: central differences (f64, h = 1e-6) of L = Σ R ⊙ y through those f64 references,
//! with the statistics recomputed from the perturbed x (the training formula) or held fixed
//! (inference), compared with the f32 kernels at 1e-4 of the gradient's scale. Every output sits
//! between NaN guards that must survive; gradients are pre-filled to check that backward adds.
//! Sizes are ragged (N 1..17, C 1..9).

mod common;

use common::{close, fast, report, to_f64, TestRng};
use fastgru::kernels::norm::{batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward, BnStats, NormDims};

const GUARD: usize = 5;

/// A buffer of n values between GUARD NaNs on each side.
fn guarded(values: &[f32]) -> Vec<f32> {
    let mut v = vec![f32::NAN; values.len() + 2 * GUARD];
    v[GUARD..GUARD + values.len()].copy_from_slice(values);
    v
}

fn inner(v: &[f32]) -> &[f32] {
    &v[GUARD..v.len() - GUARD]
}

fn inner_mut(v: &mut [f32]) -> &mut [f32] {
    let n = v.len();
    &mut v[GUARD..n - GUARD]
}

fn guards_intact(name: &str, v: &[f32]) -> Result<(), String> {
    let n = v.len();
    if v[..GUARD].iter().chain(&v[n - GUARD..]).any(|x| !x.is_nan()) {
        return Err(format!("{}: wrote outside its buffer", name));
    }
    Ok(())
}

/// f64 Keras moments per feature.
fn moments64(x: &[f64], mask: Option<&[u8]>, n: usize, c: usize) -> (Vec<f64>, Vec<f64>) {
    let w = |r: usize| mask.map_or(1.0, |m| if m[r] != 0 { 1.0 } else { 0.0 });
    let denom = match mask {
        Some(_) => (0..n).map(w).sum::<f64>() + 1e-7,
        None => n as f64,
    };
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for j in 0..c {
        mean[j] = (0..n).map(|r| w(r) * x[r * c + j]).sum::<f64>() / denom;
        var[j] = (0..n).map(|r| w(r) * (x[r * c + j] - mean[j]).powi(2)).sum::<f64>() / denom;
    }
    (mean, var)
}

/// f64 batch normalization with given statistics.
#[allow(clippy::too_many_arguments)]
fn bn64(x: &[f64], mean: &[f64], var: &[f64], g: Option<&[f64]>, b: Option<&[f64]>, n: usize, c: usize, eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; n * c];
    for r in 0..n {
        for j in 0..c {
            y[r * c + j] = g.map_or(1.0, |g| g[j]) * (x[r * c + j] - mean[j]) / (var[j] + eps).sqrt() + b.map_or(0.0, |b| b[j]);
        }
    }
    y
}

fn ln64(x: &[f64], g: Option<&[f64]>, b: Option<&[f64]>, n: usize, c: usize, eps: f64) -> Vec<f64> {
    let mut y = vec![0.0; n * c];
    for r in 0..n {
        let row = &x[r * c..(r + 1) * c];
        let mu = row.iter().sum::<f64>() / c as f64;
        let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / c as f64;
        for j in 0..c {
            y[r * c + j] = g.map_or(1.0, |g| g[j]) * (row[j] - mu) / (var + eps).sqrt() + b.map_or(0.0, |b| b[j]);
        }
    }
    y
}

/// Central differences of L(v) = Σ R ⊙ f(v) w.r.t. every entry of v.
fn fd(v: &[f64], r: &[f64], f: &dyn Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let h = 1e-6;
    let mut p = v.to_vec();
    (0..v.len())
        .map(|i| {
            p[i] = v[i] + h;
            let up: f64 = f(&p).iter().zip(r).map(|(a, b)| a * b).sum();
            p[i] = v[i] - h;
            let dn: f64 = f(&p).iter().zip(r).map(|(a, b)| a * b).sum();
            p[i] = v[i];
            (up - dn) / (2.0 * h)
        })
        .collect()
}

/// Pre-fill of gradient buffers: backward must ADD to it.
const PREFILL: f32 = 0.25;

fn minus_prefill(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x - PREFILL).collect()
}

#[derive(Clone, Copy, Debug)]
struct BnCase {
    n: usize,
    c: usize,
    /// 0 none, 1 random, 2 all rows masked.
    mask: u8,
    affine: bool,
    training: bool,
    seed: u64,
}

fn check_bn(k: &BnCase) -> Result<(), String> {
    let (n, c) = (k.n, k.c);
    let eps = 1e-3f32;
    let mut rng = TestRng::new(k.seed);
    // An offset mean makes a one-pass E[x²] − μ² visibly worse than two passes.
    let x = rng.vec(n * c, 2.0, 4.0);
    let mask: Option<Vec<u8>> = match k.mask {
        0 => None,
        1 => Some((0..n).map(|r| if r == 0 || rng.chance(0.6) { 1 } else { 0 }).collect()),
        _ => Some(vec![0; n]),
    };
    let gamma = if k.affine { Some(rng.vec(c, 0.5, 1.5)) } else { None };
    let beta = if k.affine { Some(rng.vec(c, -0.5, 0.5)) } else { None };
    let moving_mean = rng.vec(c, 2.5, 3.5);
    let moving_var = rng.vec(c, 0.5, 1.5);
    let r = rng.vec(n * c, -1.0, 1.0);
    let (x64, r64) = (to_f64(&x), to_f64(&r));
    let (g64, b64) = (gamma.as_ref().map(|v| to_f64(v)), beta.as_ref().map(|v| to_f64(v)));
    let dims = NormDims { rows: n, features: c };
    let m = mask.as_deref();

    let mut y = guarded(&vec![0.0; n * c]);
    let mut bmean = guarded(&vec![0.0; c]);
    let mut bvar = guarded(&vec![0.0; c]);
    let stats = if k.training {
        BnStats::Batch { mean: inner_mut(&mut bmean), var: inner_mut(&mut bvar) }
    } else {
        BnStats::Moving { mean: &moving_mean, var: &moving_var }
    };
    batchnorm_forward(inner_mut(&mut y), stats, &x, m, gamma.as_deref(), beta.as_deref(), &dims, eps).map_err(|s| format!("forward: {:?}", s))?;
    guards_intact("y", &y)?;
    let (mean64, var64) = if k.training { moments64(&x64, m, n, c) } else { (to_f64(&moving_mean), to_f64(&moving_var)) };
    if k.training {
        guards_intact("batch mean", &bmean)?;
        guards_intact("batch var", &bvar)?;
        close("batch mean", inner(&bmean), &mean64, 1e-6)?;
        close("batch var", inner(&bvar), &var64, 1e-6)?;
    }
    let want = bn64(&x64, &mean64, &var64, g64.as_deref(), b64.as_deref(), n, c, eps as f64);
    close("y", inner(&y), &want, 2e-5)?;

    // Backward, with the statistics the forward used (f32) as the kernel's input.
    let (smean, svar): (Vec<f32>, Vec<f32>) = if k.training { (inner(&bmean).to_vec(), inner(&bvar).to_vec()) } else { (moving_mean.clone(), moving_var.clone()) };
    let mut dx = guarded(&vec![PREFILL; n * c]);
    let mut dg = guarded(&vec![PREFILL; c]);
    let mut db = guarded(&vec![PREFILL; c]);
    batchnorm_backward(Some(inner_mut(&mut dx)), Some(inner_mut(&mut dg)), Some(inner_mut(&mut db)), &r, &x, m, gamma.as_deref(), &smean, &svar, &dims, eps, k.training)
        .map_err(|s| format!("backward: {:?}", s))?;
    guards_intact("dx", &dx)?;
    guards_intact("dgamma", &dg)?;
    guards_intact("dbeta", &db)?;
    let training = k.training;
    let (fm, fv) = (mean64.clone(), var64.clone());
    let f_x = |xv: &[f64]| {
        let (mu, var) = if training { moments64(xv, m, n, c) } else { (fm.clone(), fv.clone()) };
        bn64(xv, &mu, &var, g64.as_deref(), b64.as_deref(), n, c, eps as f64)
    };
    close("dx", &minus_prefill(inner(&dx)), &fd(&x64, &r64, &f_x), 1e-4)?;
    let gv = g64.clone().unwrap_or_else(|| vec![1.0; c]);
    let bv = b64.clone().unwrap_or_else(|| vec![0.0; c]);
    let f_g = |gg: &[f64]| bn64(&x64, &mean64, &var64, Some(gg), Some(&bv), n, c, eps as f64);
    let f_b = |bb: &[f64]| bn64(&x64, &mean64, &var64, Some(&gv), Some(bb), n, c, eps as f64);
    close("dgamma", &minus_prefill(inner(&dg)), &fd(&gv, &r64, &f_g), 1e-4)?;
    close("dbeta", &minus_prefill(inner(&db)), &fd(&bv, &r64, &f_b), 1e-4)?;
    Ok(())
}

#[test]
fn batchnorm_matches_keras_formulas_and_finite_differences() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let sizes: Vec<(usize, usize)> = if fast() { vec![(1, 1), (5, 3), (17, 9)] } else { (1..=17).flat_map(|n| [1, 3, 4, 7, 9].into_iter().map(move |c| (n, c))).collect() };
    for (i, &(n, c)) in sizes.iter().enumerate() {
        for mask in 0..3u8 {
            for &training in &[true, false] {
                for &affine in &[true, false] {
                    // N = 1 without a mask has σ² = 0: the gradient through the statistics is 0 and
                    // finite differences of √(σ² + ε) stay well defined; keep it.
                    let k = BnCase { n, c, mask, affine, training, seed: 1000 + i as u64 * 7 + mask as u64 };
                    cases += 1;
                    if let Err(e) = check_bn(&k) {
                        failures.push(format!("{:?}: {}", k, e));
                    }
                }
            }
        }
    }
    report("batchnorm", &failures, cases);
}

/// The two-pass f64 statistics keep the variance of a large offset batch exact, where an f32
/// one-pass E[x²] − μ² would lose every digit.
#[test]
fn batchnorm_statistics_survive_a_large_offset() {
    let (n, c) = (4096, 3);
    let mut rng = TestRng::new(7);
    let x: Vec<f32> = (0..n * c).map(|_| 1000.0 + rng.range(-0.01, 0.01) as f32).collect();
    let (mean64, var64) = moments64(&to_f64(&x), None, n, c);
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    let mut y = vec![0.0; n * c];
    batchnorm_forward(&mut y, BnStats::Batch { mean: &mut mean, var: &mut var }, &x, None, None, None, &NormDims { rows: n, features: c }, 1e-3).unwrap();
    close("mean", &mean, &mean64, 1e-7).unwrap();
    for j in 0..c {
        assert!(((var[j] as f64) - var64[j]).abs() <= 1e-3 * var64[j], "var[{}] = {} vs {}", j, var[j], var64[j]);
    }
}

#[derive(Clone, Copy, Debug)]
struct LnCase {
    n: usize,
    c: usize,
    affine: bool,
    want_stats: bool,
    seed: u64,
}

fn check_ln(k: &LnCase) -> Result<(), String> {
    let (n, c) = (k.n, k.c);
    let eps = 1e-3f32;
    let mut rng = TestRng::new(k.seed);
    let x = rng.vec(n * c, -2.0, 3.0);
    let gamma = if k.affine { Some(rng.vec(c, 0.5, 1.5)) } else { None };
    let beta = if k.affine { Some(rng.vec(c, -0.5, 0.5)) } else { None };
    let r = rng.vec(n * c, -1.0, 1.0);
    let (x64, r64) = (to_f64(&x), to_f64(&r));
    let (g64, b64) = (gamma.as_ref().map(|v| to_f64(v)), beta.as_ref().map(|v| to_f64(v)));
    let dims = NormDims { rows: n, features: c };
    let mut y = guarded(&vec![0.0; n * c]);
    let mut mean = guarded(&vec![0.0; n]);
    let mut rstd = guarded(&vec![0.0; n]);
    if k.want_stats {
        layernorm_forward(inner_mut(&mut y), Some(inner_mut(&mut mean)), Some(inner_mut(&mut rstd)), &x, gamma.as_deref(), beta.as_deref(), &dims, eps)
    } else {
        layernorm_forward(inner_mut(&mut y), None, None, &x, gamma.as_deref(), beta.as_deref(), &dims, eps)
    }
    .map_err(|s| format!("forward: {:?}", s))?;
    guards_intact("y", &y)?;
    guards_intact("mean", &mean)?;
    guards_intact("rstd", &rstd)?;
    close("y", inner(&y), &ln64(&x64, g64.as_deref(), b64.as_deref(), n, c, eps as f64), 1e-5)?;
    if !k.want_stats {
        return Ok(());
    }
    let mut dx = guarded(&vec![PREFILL; n * c]);
    let mut dg = guarded(&vec![PREFILL; c]);
    let mut db = guarded(&vec![PREFILL; c]);
    layernorm_backward(Some(inner_mut(&mut dx)), Some(inner_mut(&mut dg)), Some(inner_mut(&mut db)), &r, &x, inner(&mean), inner(&rstd), gamma.as_deref(), &dims)
        .map_err(|s| format!("backward: {:?}", s))?;
    guards_intact("dx", &dx)?;
    guards_intact("dgamma", &dg)?;
    guards_intact("dbeta", &db)?;
    let f_x = |xv: &[f64]| ln64(xv, g64.as_deref(), b64.as_deref(), n, c, eps as f64);
    close("dx", &minus_prefill(inner(&dx)), &fd(&x64, &r64, &f_x), 1e-4)?;
    let gv = g64.clone().unwrap_or_else(|| vec![1.0; c]);
    let bv = b64.clone().unwrap_or_else(|| vec![0.0; c]);
    let f_g = |gg: &[f64]| ln64(&x64, Some(gg), Some(&bv), n, c, eps as f64);
    let f_b = |bb: &[f64]| ln64(&x64, Some(&gv), Some(bb), n, c, eps as f64);
    close("dgamma", &minus_prefill(inner(&dg)), &fd(&gv, &r64, &f_g), 1e-4)?;
    close("dbeta", &minus_prefill(inner(&db)), &fd(&bv, &r64, &f_b), 1e-4)?;
    Ok(())
}

#[test]
fn layernorm_matches_keras_formula_and_finite_differences() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let sizes: Vec<(usize, usize)> = if fast() { vec![(1, 1), (5, 3), (17, 9)] } else { (1..=17).flat_map(|n| [1, 2, 3, 4, 7, 9].into_iter().map(move |c| (n, c))).collect() };
    for (i, &(n, c)) in sizes.iter().enumerate() {
        for &affine in &[true, false] {
            for &want_stats in &[true, false] {
                let k = LnCase { n, c, affine, want_stats, seed: 5000 + i as u64 };
                cases += 1;
                if let Err(e) = check_ln(&k) {
                    failures.push(format!("{:?}: {}", k, e));
                }
            }
        }
    }
    report("layernorm", &failures, cases);
}

/// A NaN in a masked row stays in that row's output (Keras normalizes masked rows too) but does
/// not reach the batch statistics or the other rows.
#[test]
fn batchnorm_masked_rows_do_not_reach_the_statistics() {
    let (n, c) = (4, 2);
    let x = [1.0, 2.0, f32::NAN, f32::NAN, 3.0, 6.0, 100.0, -100.0];
    let mask = [1u8, 0, 1, 0];
    let mut mean = [0.0; 2];
    let mut var = [0.0; 2];
    let mut y = [0.0; 8];
    batchnorm_forward(&mut y, BnStats::Batch { mean: &mut mean, var: &mut var }, &x, Some(&mask), None, None, &NormDims { rows: n, features: c }, 1e-3).unwrap();
    // (2 + 1e-7) in the denominator, as Keras.
    assert!((mean[0] as f64 - 4.0 / (2.0 + 1e-7)).abs() < 1e-6, "{:?}", mean);
    assert!((mean[1] as f64 - 8.0 / (2.0 + 1e-7)).abs() < 1e-6, "{:?}", mean);
    assert!(y[2].is_nan() && y[3].is_nan());
    assert!(y[0].is_finite() && y[1].is_finite() && y[4].is_finite() && y[6].is_finite());
}
