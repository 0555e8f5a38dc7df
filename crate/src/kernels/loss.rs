//! Losses fused with their gradients: one pass gives the mean loss and dL/dprediction.
//!
//! A "row" is one prediction vector (the last axis): a (B, C) output has B rows, a sequence output
//! (B, T, C) has B·T rows. Each kind gives a per-row loss L_r (mean over the last axis for MSE,
//! MAE, BCE, Huber and log-cosh; a sum over classes for the cross-entropies), and the reduction is
//! Keras 3's `sum_over_batch_size` with per-row weights w_r:
//!
//! ```text
//! loss = Σ_r w_r · L_r / N          dL/dpred[r, :] = w_r / N · dL_r/dpred[r, :]
//! ```
//!
//! N counts every row, whatever its weight: Keras 3 `reduce_values` divides the weighted sum by
//! the number of loss values, not by Σ w (keras/src/losses/loss.py, `reduce_weighted_values` →
//! `reduce_values`). A mask is a weight too, but Keras rescales it first: `apply_mask` multiplies
//! the mask by total / valid (`divide_no_nan`, so an all-masked batch gives 0), so the mean runs
//! over the valid rows only. The caller folds that rescale and any sample or class weights into
//! `weights` (see `ts/src/training/losses.ts`, `rowWeights`); the kernel only multiplies.
//!
//! Probabilities are clipped to [ε, 1 − ε] with ε = 1e-7 as Keras does; the gradient is zero where
//! the clip is active, as the clip's own gradient is. The `*Logits` kinds take raw scores and are
//! the stable path (log-sum-exp), which is what a Dense(softmax) + cross-entropy should use.

use super::{exp_inplace, scratch};
use crate::status::{KResult, Status};

pub const EPSILON: f32 = 1e-7;

/// Loss ids. Must match `ts/src/wasm/abi.ts` (`LossKind`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    MeanSquaredError = 0,
    MeanAbsoluteError = 1,
    BinaryCrossentropy = 2,
    BinaryCrossentropyLogits = 3,
    CategoricalCrossentropy = 4,
    CategoricalCrossentropyLogits = 5,
    SparseCategoricalCrossentropy = 6,
    SparseCategoricalCrossentropyLogits = 7,
    /// Keras `Huber(delta)`: ½e² where |e| ≤ δ, else δ|e| − ½δ²; mean over the last axis.
    Huber = 8,
    /// Keras `LogCosh`: log(cosh(e)), e = pred − target; mean over the last axis.
    LogCosh = 9,
}

impl LossKind {
    pub fn from_i32(v: i32) -> KResult<Self> {
        use LossKind::*;
        Ok(match v {
            0 => MeanSquaredError,
            1 => MeanAbsoluteError,
            2 => BinaryCrossentropy,
            3 => BinaryCrossentropyLogits,
            4 => CategoricalCrossentropy,
            5 => CategoricalCrossentropyLogits,
            6 => SparseCategoricalCrossentropy,
            7 => SparseCategoricalCrossentropyLogits,
            8 => Huber,
            9 => LogCosh,
            _ => return crate::fail!(Status::InvalidArgument, "loss: unknown loss id {} (expected 0..=9)", v),
        })
    }
    pub fn sparse(self) -> bool {
        matches!(self, LossKind::SparseCategoricalCrossentropy | LossKind::SparseCategoricalCrossentropyLogits)
    }
    /// Kinds that take `label_smoothing` (Keras 3: BinaryCrossentropy, CategoricalCrossentropy).
    pub fn smooths(self) -> bool {
        use LossKind::*;
        matches!(self, BinaryCrossentropy | BinaryCrossentropyLogits | CategoricalCrossentropy | CategoricalCrossentropyLogits)
    }
}

/// Hyper-parameters of the kinds that have them. `Default` gives Keras 3's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossParams {
    /// Huber's δ, where the loss turns from quadratic to linear; must be finite and > 0 for
    /// `Huber`, ignored by the other kinds. Keras default 1.0.
    pub delta: f32,
    /// s in [0, 1]; 0 turns it off and is the only value the kinds without smoothing accept.
    /// Keras 3 (keras/src/losses/losses.py): BCE targets become t·(1 − s) + ½s, CCE targets
    /// t·(1 − s) + s / C, before the loss (both the probability and the logits forms).
    pub label_smoothing: f32,
}

impl Default for LossParams {
    fn default() -> Self {
        LossParams { delta: 1.0, label_smoothing: 0.0 }
    }
}

impl LossParams {
    fn check(&self, kind: LossKind) -> KResult {
        if kind == LossKind::Huber && !(self.delta.is_finite() && self.delta > 0.0) {
            return crate::fail!(Status::InvalidArgument, "huber: delta must be a finite number > 0, got {}", self.delta);
        }
        let s = self.label_smoothing;
        if kind.smooths() {
            if !(s >= 0.0 && s <= 1.0) {
                return crate::fail!(Status::InvalidArgument, "loss {:?}: label_smoothing must be in [0, 1], got {}", kind, s);
            }
        } else if s != 0.0 {
            return crate::fail!(
                Status::InvalidArgument,
                "loss {:?}: label_smoothing {} given, but only binary and categorical cross-entropy smooth labels; pass 0",
                kind,
                s
            );
        }
        Ok(())
    }
}

/// Target of a loss: dense (N, C) values or sparse (N) class ids.
pub enum Target<'a> {
    Dense(&'a [f32]),
    Sparse(&'a [i32]),
}

/// Mean loss (sum_over_batch_size, weighted, see the module doc) and its gradient.
///
/// dpred: (N, C) out, dL/dpred, **overwritten** (it is the seed of backward), or None ·
/// row_loss: (N) out, the unweighted per-row loss L_r, or None ·
/// pred: (N, C) · target: (N, C) values, or (N) class ids in [0, C) for the sparse kinds ·
/// weights: (N) per-row weights, or None for all ones.
/// Returns Σ_r w_r·L_r / N. Outputs must not alias inputs.
#[allow(clippy::too_many_arguments)]
pub fn loss_forward_backward(
    dpred: Option<&mut [f32]>,
    mut row_loss: Option<&mut [f32]>,
    pred: &[f32],
    target: Target,
    weights: Option<&[f32]>,
    rows: usize,
    cols: usize,
    kind: LossKind,
    params: &LossParams,
) -> KResult<f32> {
    let n = rows;
    let c = cols;
    params.check(kind)?;
    match (&target, kind.sparse()) {
        (Target::Sparse(_), false) | (Target::Dense(_), true) => {
            return crate::fail!(
                Status::InvalidArgument,
                "loss {:?}: {} targets given; {}",
                kind,
                if kind.sparse() { "dense" } else { "sparse" },
                if kind.sparse() { "pass integer class ids (N)" } else { "pass float targets with the prediction's shape" }
            )
        }
        _ => {}
    }
    if let Target::Sparse(labels) = target {
        if let Some((row, &l)) = labels.iter().enumerate().take(n).find(|(_, &l)| l < 0 || l as usize >= c) {
            return crate::fail!(
                Status::IndexOutOfRange,
                "sparse labels: label {} at row {} is outside [0, {}); labels must be class ids below the number of classes",
                l,
                row,
                c
            );
        }
    }
    let mut grad_store;
    let grad: &mut [f32] = match dpred {
        Some(d) => d,
        None => {
            grad_store = scratch(c)?;
            &mut grad_store
        }
    };
    let per_row_grad = grad.len() >= n * c;
    let inv_n = 1.0 / n as f64;
    let s = params.label_smoothing as f64;
    let mut total = 0.0f64;
    for r in 0..n {
        let p = &pred[r * c..(r + 1) * c];
        // Without a dpred buffer one row of scratch is reused.
        let g = if per_row_grad { &mut grad[r * c..(r + 1) * c] } else { &mut grad[..c] };
        let w = weights.map_or(1.0, |w| w[r] as f64);
        // dLoss/dL_r: the weight over the row count.
        let scale = w * inv_n;
        let l = match target {
            Target::Dense(t) => {
                let t = &t[r * c..(r + 1) * c];
                match kind {
                    LossKind::CategoricalCrossentropy => cce_row(g, p, t, s, scale),
                    LossKind::CategoricalCrossentropyLogits => cce_logits_row(g, p, t, s, scale),
                    _ => elementwise_row(g, p, t, kind, params, scale),
                }
            }
            Target::Sparse(labels) => {
                let l = labels[r] as usize;
                if kind == LossKind::SparseCategoricalCrossentropy {
                    sparse_cce_row(g, p, l, scale)
                } else {
                    sparse_cce_logits_row(g, p, l, scale)
                }
            }
        };
        if let Some(out) = row_loss.as_deref_mut() {
            out[r] = l as f32;
        }
        total += w * l;
    }
    Ok((total * inv_n) as f32)
}

/// Losses that are a mean over the last axis of a function of (p, t): returns L_r and writes
/// g = scale · dL_r/dp.
fn elementwise_row(g: &mut [f32], p: &[f32], t: &[f32], kind: LossKind, params: &LossParams, scale: f64) -> f64 {
    use LossKind::*;
    let c = p.len();
    let gs = scale / c as f64;
    let s = params.label_smoothing as f64;
    let delta = params.delta as f64;
    let mut sum = 0.0f64;
    for ((gv, &pv), &tv) in g.iter_mut().zip(p).zip(t) {
        let (l, d) = match kind {
            MeanSquaredError => {
                let e = pv as f64 - tv as f64;
                (e * e, 2.0 * e)
            }
            MeanAbsoluteError => {
                let e = pv as f64 - tv as f64;
                (e.abs(), if e == 0.0 { 0.0 } else { e.signum() })
            }
            BinaryCrossentropy => {
                let t = smooth(tv as f64, s, 0.5);
                let pc = pv.max(EPSILON).min(1.0 - EPSILON) as f64;
                // Keras 3 (backend/tensorflow/nn.py): −(t·log p + (1 − t)·log(1 − p)) on the clipped
                // p. Porting note: Keras 2 / tf.keras added ε inside the logs as well.
                let inside = pv > EPSILON && pv < 1.0 - EPSILON;
                (-(t * pc.ln() + (1.0 - t) * (1.0 - pc).ln()), if inside { -t / pc + (1.0 - t) / (1.0 - pc) } else { 0.0 })
            }
            BinaryCrossentropyLogits => {
                let t = smooth(tv as f64, s, 0.5);
                let x = pv as f64;
                (x.max(0.0) - x * t + (-x.abs()).exp().ln_1p(), 1.0 / (1.0 + (-x).exp()) - t)
            }
            Huber => {
                // Keras 3 `huber`: where(|e| <= δ, ½e², δ|e| − ½δ²); its gradient is e, or δ·sign(e).
                let e = pv as f64 - tv as f64;
                if e.abs() <= delta {
                    (0.5 * e * e, e)
                } else {
                    (delta * e.abs() - 0.5 * delta * delta, delta * e.signum())
                }
            }
            LogCosh => {
                // Keras 3 `log_cosh`: e + softplus(−2e) − log 2, which is |e| + log1p(e^(−2|e|)) − log 2
                // without overflow for either sign; its gradient is tanh(e).
                let e = pv as f64 - tv as f64;
                (e.abs() + (-2.0 * e.abs()).exp().ln_1p() - std::f64::consts::LN_2, e.tanh())
            }
            // The row kinds never reach here (dispatched in loss_forward_backward).
            _ => (0.0, 0.0),
        };
        sum += l;
        *gv = (d * gs) as f32;
    }
    sum / c as f64
}

/// Keras 3 label smoothing: t·(1 − s) + s·k (k = ½ for BCE, 1/C for CCE).
#[inline]
fn smooth(t: f64, s: f64, k: f64) -> f64 {
    if s == 0.0 {
        t
    } else {
        t * (1.0 - s) + s * k
    }
}

/// Categorical cross-entropy on probabilities. Keras 3 (backend nn.py): q = p / Σp, clipped;
/// L = −Σ t·log q. The gradient goes through the normalisation (chain rule), zero where clipped.
fn cce_row(g: &mut [f32], p: &[f32], t: &[f32], s: f64, scale: f64) -> f64 {
    let c = p.len();
    let k = 1.0 / c as f64;
    let sum: f64 = p.iter().map(|&v| v as f64).sum();
    let eps = EPSILON as f64;
    let mut l = 0.0f64;
    let mut gq_dot_q = 0.0f64;
    for j in 0..c {
        let tj = smooth(t[j] as f64, s, k);
        let q = p[j] as f64 / sum;
        let qc = q.max(eps).min(1.0 - eps);
        l -= tj * qc.ln();
        let gq = if q > eps && q < 1.0 - eps { -tj / qc } else { 0.0 };
        g[j] = gq as f32;
        gq_dot_q += gq * q;
    }
    for gv in g.iter_mut() {
        *gv = (((*gv as f64) - gq_dot_q) / sum * scale) as f32;
    }
    l
}

/// Categorical cross-entropy on logits: L = Σt·lse(x) − Σ t·x; dL/dx = softmax(x)·Σt − t.
fn cce_logits_row(g: &mut [f32], x: &[f32], t: &[f32], s: f64, scale: f64) -> f64 {
    let k = 1.0 / x.len() as f64;
    let (lse, _) = softmax_into(g, x);
    let mut tsum = 0.0f64;
    let mut tx = 0.0f64;
    for (&tv, &xv) in t.iter().zip(x) {
        let tj = smooth(tv as f64, s, k);
        tsum += tj;
        tx += tj * xv as f64;
    }
    for (gv, &tv) in g.iter_mut().zip(t) {
        let tj = smooth(tv as f64, s, k);
        *gv = ((*gv as f64 * tsum - tj) * scale) as f32;
    }
    lse * tsum - tx
}

/// Sparse categorical cross-entropy on probabilities. Keras 3: clip, then softmax cross-entropy on
/// log(p): −log(p_l / Σ p).
fn sparse_cce_row(g: &mut [f32], p: &[f32], l: usize, scale: f64) -> f64 {
    let sum: f64 = p.iter().map(|&v| v.max(EPSILON).min(1.0 - EPSILON) as f64).sum();
    let pl = p[l].max(EPSILON).min(1.0 - EPSILON) as f64;
    for (j, gv) in g.iter_mut().enumerate() {
        let inside = p[j] > EPSILON && p[j] < 1.0 - EPSILON;
        let gj = if j == l { 1.0 / sum - 1.0 / pl } else { 1.0 / sum };
        *gv = if inside { (gj * scale) as f32 } else { 0.0 };
    }
    -(pl / sum).ln()
}

/// Sparse categorical cross-entropy on logits: lse(x) − x_l; dL/dx = softmax(x) − onehot(l).
fn sparse_cce_logits_row(g: &mut [f32], x: &[f32], l: usize, scale: f64) -> f64 {
    let (lse, _) = softmax_into(g, x);
    g[l] -= 1.0;
    for gv in g.iter_mut() {
        *gv = (*gv as f64 * scale) as f32;
    }
    lse - x[l] as f64
}

/// Writes softmax(x) into `out`; returns (log Σ exp x, max x).
fn softmax_into(out: &mut [f32], x: &[f32]) -> (f64, f32) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v - m;
    }
    exp_inplace(out);
    let s: f64 = out.iter().map(|&v| v as f64).sum();
    let inv = (1.0 / s) as f32;
    for o in out.iter_mut() {
        *o *= inv;
    }
    (m as f64 + s.ln(), m)
}
