//! Normalization layers: `batchnorm_forward` / `batchnorm_backward` (Keras `BatchNormalization`)
//! and `layernorm_forward` / `layernorm_backward` (Keras `LayerNormalization`), over the last axis.
//!
//! Data is (N, C): every leading axis folded into N rows, the normalized feature axis last.
//! Statistics and every reduction accumulate in f64: a batch of 32 × 400 steps is 12 800 rows,
//! where an f32 running sum would lose ~4 digits. The element-wise part is f32 in the form
//! `y = x·a + b` with `a = γ/√(σ² + ε)`, `b = β − μ·a` rounded once per feature (or row), the form
//! `tf.nn.batch_normalization` and Keras 3's `LayerNormalization.call` use.
//!
//! Backward ADDS into dx, dγ, dβ; the trainer zeroes them once per step.

use super::scratch;
use crate::status::{KResult, Status};

/// Sizes of one call.
#[derive(Clone, Copy, Debug)]
pub struct NormDims {
    /// N: rows (every axis but the feature axis, folded).
    pub rows: usize,
    /// C: features.
    pub features: usize,
}

/// Keras' `backend.epsilon()`, added to the weight sum of a masked batch (`_moments`).
pub const MASK_WEIGHT_EPSILON: f64 = 1e-7;

/// Which statistics `batchnorm_forward` normalizes with.
pub enum BnStats<'a> {
    /// Training: computed from this batch (mask-weighted if a mask is given) and written out, (C) each.
    Batch { mean: &'a mut [f32], var: &'a mut [f32] },
    /// Inference: the moving statistics, (C) each.
    Moving { mean: &'a [f32], var: &'a [f32] },
}

/// A zeroed f64 scratch vector; out of memory is an error, not a trap.
fn scratch64(len: usize) -> KResult<Vec<f64>> {
    let mut v: Vec<f64> = Vec::new();
    if v.try_reserve_exact(len).is_err() {
        return crate::fail!(Status::OutOfMemory, "normalization scratch: could not allocate {} KiB; the wasm heap cannot grow further", len * 8 / 1024);
    }
    v.resize(len, 0.0);
    Ok(v)
}

/// Row weight: 1 for a valid row (or no mask), 0 for a masked one.
#[inline]
fn weight(mask: Option<&[u8]>, row: usize) -> f64 {
    match mask {
        Some(m) if m[row] == 0 => 0.0,
        _ => 1.0,
    }
}

/// Batch moments per feature, as Keras 3 `BatchNormalization._moments` (biased variance):
/// no mask: μ = Σᵢ xᵢ / N, σ² = Σᵢ (xᵢ − μ)² / N;
/// mask w ∈ {0, 1} per row: μ = Σ wᵢ xᵢ / (Σ w + 1e-7), σ² = Σ wᵢ (xᵢ − μ)² / (Σ w + 1e-7)
/// (an all-masked batch gives μ = σ² = 0). Two passes in f64; the results are rounded to f32.
///
/// mean, var: (C) out · x: (N, C) · mask: (N) or None.
pub fn batchnorm_moments(mean: &mut [f32], var: &mut [f32], x: &[f32], mask: Option<&[u8]>, dims: &NormDims) -> KResult {
    let NormDims { rows: n, features: c } = *dims;
    let mut acc = scratch64(c)?;
    let mut total = 0.0f64;
    for (r, row) in x.chunks_exact(c).take(n).enumerate() {
        let w = weight(mask, r);
        if w == 0.0 {
            continue;
        }
        total += w;
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v as f64;
        }
    }
    let denom = if mask.is_some() { total + MASK_WEIGHT_EPSILON } else { n as f64 };
    for (m, a) in mean.iter_mut().zip(acc.iter_mut()) {
        *m = (*a / denom) as f32;
        *a = 0.0;
    }
    // Second pass around the f32 mean the forward normalizes with.
    for (r, row) in x.chunks_exact(c).take(n).enumerate() {
        if weight(mask, r) == 0.0 {
            continue;
        }
        for ((a, &v), &m) in acc.iter_mut().zip(row).zip(mean.iter()) {
            let d = v as f64 - m as f64;
            *a += d * d;
        }
    }
    for (v, a) in var.iter_mut().zip(&acc) {
        *v = (*a / denom) as f32;
    }
    Ok(())
}

/// y = γ ⊙ (x − μ) / √(σ² + ε) + β per feature, computed as y = x·a + b with a = γ/√(σ² + ε),
/// b = β − μ·a (f64, rounded once per feature). With `BnStats::Batch`, μ and σ² are this batch's
/// moments (`batchnorm_moments`, the mask excludes rows from them only: masked rows are still
/// normalized, as Keras) and are written out for the moving-average update and for backward.
///
/// y: (N, C) out · stats · x: (N, C) · mask: (N) or None (batch statistics only) ·
/// gamma, beta: (C) or None (scale = false / center = false). y must not alias x.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward(y: &mut [f32], stats: BnStats, x: &[f32], mask: Option<&[u8]>, gamma: Option<&[f32]>, beta: Option<&[f32]>, dims: &NormDims, epsilon: f32) -> KResult {
    let NormDims { rows: n, features: c } = *dims;
    let (mean, var): (&[f32], &[f32]) = match stats {
        BnStats::Batch { mean, var } => {
            batchnorm_moments(mean, var, x, mask, dims)?;
            (mean, var)
        }
        BnStats::Moving { mean, var } => (mean, var),
    };
    let mut a = scratch(c)?;
    let mut b = scratch(c)?;
    for j in 0..c {
        let inv = 1.0 / (var[j] as f64 + epsilon as f64).sqrt();
        let aj = gamma.map_or(1.0, |g| g[j] as f64) * inv;
        a[j] = aj as f32;
        b[j] = (beta.map_or(0.0, |bt| bt[j] as f64) - mean[j] as f64 * aj) as f32;
    }
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)).take(n) {
        for (((yv, &xv), &av), &bv) in yr.iter_mut().zip(xr).zip(&a).zip(&b) {
            *yv = xv * av + bv;
        }
    }
    Ok(())
}

/// Backward of `batchnorm_forward`; ADDS into dx (N, C), dγ (C), dβ (C).
///
/// With s = 1/√(σ² + ε), x̂ = (x − μ)·s, g = dy ⊙ γ: dβ += Σᵢ dyᵢ, dγ += Σᵢ dyᵢ x̂ᵢ (every row,
/// masked ones included: their outputs used the statistics too). `batch_stats` false (the forward
/// used the moving statistics, constants): dx += g·s. `batch_stats` true: the full formula through
/// μ(x) and σ²(x), with row weights w (1 without a mask) and n = Σ w + 1e-7 (N without a mask):
///   dσ² = −½ s³ Σᵢ gᵢ (xᵢ − μ),  dμ = −s Σᵢ gᵢ − 2 dσ² Σᵢ wᵢ (xᵢ − μ) / n,
///   dxᵢ += gᵢ s + wᵢ (2 dσ² (xᵢ − μ) + dμ) / n.
/// Reductions in f64.
///
/// dx: (N, C) or None · dgamma, dbeta: (C) or None · dy, x: (N, C) · mask: (N) or None ·
/// gamma: (C) or None (then γ = 1) · mean, var: (C) the statistics the forward used.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    dx: Option<&mut [f32]>,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    mask: Option<&[u8]>,
    gamma: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    dims: &NormDims,
    epsilon: f32,
    batch_stats: bool,
) -> KResult {
    let NormDims { rows: n, features: c } = *dims;
    // Σ dy, Σ dy (x − μ), Σ w (x − μ), per feature.
    let mut sums = scratch64(3 * c)?;
    let (s_dy, rest) = sums.split_at_mut(c);
    let (s_dyx, s_wx) = rest.split_at_mut(c);
    let mut total = 0.0f64;
    for (r, (dyr, xr)) in dy.chunks_exact(c).zip(x.chunks_exact(c)).take(n).enumerate() {
        let w = weight(mask, r);
        total += w;
        for j in 0..c {
            let d = xr[j] as f64 - mean[j] as f64;
            s_dy[j] += dyr[j] as f64;
            s_dyx[j] += dyr[j] as f64 * d;
            s_wx[j] += w * d;
        }
    }
    let mut inv = scratch64(c)?;
    for (s, &v) in inv.iter_mut().zip(var) {
        *s = 1.0 / (v as f64 + epsilon as f64).sqrt();
    }
    if let Some(db) = dbeta {
        for (o, s) in db.iter_mut().zip(s_dy.iter()) {
            *o += *s as f32;
        }
    }
    if let Some(dg) = dgamma {
        for j in 0..c {
            dg[j] += (s_dyx[j] * inv[j]) as f32;
        }
    }
    let dx = match dx {
        Some(d) => d,
        None => return Ok(()),
    };
    let n_eff = if mask.is_some() { total + MASK_WEIGHT_EPSILON } else { n as f64 };
    // Per feature: dx = dy·k0 + w·(x − μ)·k1 + w·k2.
    let mut k = scratch64(3 * c)?;
    for j in 0..c {
        let g = gamma.map_or(1.0, |g| g[j] as f64);
        let s = inv[j];
        k[j] = g * s;
        if batch_stats {
            let dvar = -0.5 * s * s * s * g * s_dyx[j];
            let dmu = -s * g * s_dy[j] - 2.0 * dvar * s_wx[j] / n_eff;
            k[c + j] = 2.0 * dvar / n_eff;
            k[2 * c + j] = dmu / n_eff;
        }
    }
    for (r, (dxr, (dyr, xr))) in dx.chunks_exact_mut(c).zip(dy.chunks_exact(c).zip(x.chunks_exact(c))).take(n).enumerate() {
        let w = if batch_stats { weight(mask, r) } else { 0.0 };
        for j in 0..c {
            let mut v = dyr[j] as f64 * k[j];
            if w != 0.0 {
                v += (xr[j] as f64 - mean[j] as f64) * k[c + j] + k[2 * c + j];
            }
            dxr[j] += v as f32;
        }
    }
    Ok(())
}

/// Per row: μ = mean(x), σ² = mean((x − μ)²) (biased), r = 1/√(σ² + ε); y = x·(r γ) + (β − μ r γ),
/// Keras 3 `LayerNormalization.call`'s form, evaluated in f64 and rounded once per element.
/// Writes μ and r per row when asked (backward needs them).
///
/// y: (N, C) out · mean, rstd: (N) out or None · x: (N, C) · gamma, beta: (C) or None.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    y: &mut [f32],
    mut mean: Option<&mut [f32]>,
    mut rstd: Option<&mut [f32]>,
    x: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    dims: &NormDims,
    epsilon: f32,
) -> KResult {
    let NormDims { rows: n, features: c } = *dims;
    for (r, (yr, xr)) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)).take(n).enumerate() {
        let (mu, inv) = row_moments(xr, epsilon);
        if let Some(m) = mean.as_deref_mut() {
            m[r] = mu as f32;
        }
        if let Some(s) = rstd.as_deref_mut() {
            s[r] = inv as f32;
        }
        for j in 0..c {
            let a = inv * gamma.map_or(1.0, |g| g[j] as f64);
            let b = beta.map_or(0.0, |bt| bt[j] as f64) - mu * a;
            yr[j] = (xr[j] as f64 * a + b) as f32;
        }
    }
    Ok(())
}

/// (μ, 1/√(σ² + ε)) of one row, two passes in f64.
fn row_moments(row: &[f32], epsilon: f32) -> (f64, f64) {
    let c = row.len() as f64;
    let mu = row.iter().map(|&v| v as f64).sum::<f64>() / c;
    let var = row.iter().map(|&v| (v as f64 - mu) * (v as f64 - mu)).sum::<f64>() / c;
    (mu, 1.0 / (var + epsilon as f64).sqrt())
}

/// Backward of `layernorm_forward`; ADDS into dx (N, C), dγ (C), dβ (C). Per row, with
/// x̂ = (x − μ)·r and g = dy ⊙ γ: dx += r (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)); dγ += Σ_rows dy ⊙ x̂;
/// dβ += Σ_rows dy. f64 throughout.
///
/// dx: (N, C) or None · dgamma, dbeta: (C) or None · dy, x: (N, C) · mean, rstd: (N) from the
/// forward · gamma: (C) or None.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    dx: Option<&mut [f32]>,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    mean: &[f32],
    rstd: &[f32],
    gamma: Option<&[f32]>,
    dims: &NormDims,
) -> KResult {
    let NormDims { rows: n, features: c } = *dims;
    let mut acc = scratch64(2 * c)?;
    let mut xhat = scratch64(c)?;
    let mut dx = dx;
    for (r, (dyr, xr)) in dy.chunks_exact(c).zip(x.chunks_exact(c)).take(n).enumerate() {
        let (mu, inv) = (mean[r] as f64, rstd[r] as f64);
        let mut mg = 0.0f64;
        let mut mgx = 0.0f64;
        for j in 0..c {
            let xh = (xr[j] as f64 - mu) * inv;
            xhat[j] = xh;
            let d = dyr[j] as f64;
            acc[j] += d;
            acc[c + j] += d * xh;
            let g = d * gamma.map_or(1.0, |g| g[j] as f64);
            mg += g;
            mgx += g * xh;
        }
        if let Some(dx) = dx.as_deref_mut() {
            mg /= c as f64;
            mgx /= c as f64;
            let dxr = &mut dx[r * c..(r + 1) * c];
            for j in 0..c {
                let g = dyr[j] as f64 * gamma.map_or(1.0, |g| g[j] as f64);
                dxr[j] += (inv * (g - mg - xhat[j] * mgx)) as f32;
            }
        }
    }
    if let Some(db) = dbeta {
        for j in 0..c {
            db[j] += acc[j] as f32;
        }
    }
    if let Some(dg) = dgamma {
        for j in 0..c {
            dg[j] += acc[c + j] as f32;
        }
    }
    Ok(())
}
