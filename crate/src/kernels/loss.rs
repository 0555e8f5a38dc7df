//! Losses fused with their gradients: one pass gives the mean loss and dL/dprediction.
//!
//! Reduction is Keras' `sum_over_batch_size`: the per-row loss (mean over the last axis for
//! MSE/MAE/BCE, sum over classes for cross-entropies) averaged over the N rows (all leading axes).
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
            _ => return crate::fail!(Status::InvalidArgument, "loss: unknown loss id {} (expected 0..=7)", v),
        })
    }
    pub fn sparse(self) -> bool {
        matches!(self, LossKind::SparseCategoricalCrossentropy | LossKind::SparseCategoricalCrossentropyLogits)
    }
}

/// Target of a loss: dense (N, C) values or sparse (N) class ids.
pub enum Target<'a> {
    Dense(&'a [f32]),
    Sparse(&'a [i32]),
}

/// Returns the mean loss; writes dL/dpred (N, C) into `dpred` when given (overwrites: it is the
/// seed of backward). Cross-entropy kinds take C classes per row; sparse labels must be in [0, C).
pub fn loss_forward_backward(dpred: Option<&mut [f32]>, pred: &[f32], target: Target, rows: usize, cols: usize, kind: LossKind) -> KResult<f32> {
    let n = rows;
    let c = cols;
    let mut grad_store;
    let grad: &mut [f32] = match dpred {
        Some(d) => d,
        None => {
            grad_store = scratch(n * c)?;
            &mut grad_store
        }
    };
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
    let inv_n = 1.0 / n as f64;
    let inv_nc = 1.0 / (n * c) as f64;
    let mut total = 0.0f64;
    use LossKind::*;
    match (kind, &target) {
        (MeanSquaredError, Target::Dense(t)) => {
            for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(t.iter()).take(n * c) {
                let d = p - t;
                total += (d as f64) * (d as f64);
                *g = (2.0 * d as f64 * inv_nc) as f32;
            }
            total *= inv_nc;
        }
        (MeanAbsoluteError, Target::Dense(t)) => {
            for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(t.iter()).take(n * c) {
                let d = p - t;
                total += d.abs() as f64;
                *g = (d.signum() as f64 * if d == 0.0 { 0.0 } else { inv_nc }) as f32;
            }
            total *= inv_nc;
        }
        (BinaryCrossentropy, Target::Dense(t)) => {
            for ((g, &p), &t) in grad.iter_mut().zip(pred).zip(t.iter()).take(n * c) {
                let pc = p.max(EPSILON).min(1.0 - EPSILON) as f64;
                let t = t as f64;
                // Keras 3 (backend/tensorflow/nn.py): −(t·log p + (1 − t)·log(1 − p)) on the clipped
                // p. Porting note: Keras 2 / tf.keras added ε inside the logs as well.
                total -= t * pc.ln() + (1.0 - t) * (1.0 - pc).ln();
                let inside = p > EPSILON && p < 1.0 - EPSILON;
                *g = if inside { ((-t / pc + (1.0 - t) / (1.0 - pc)) * inv_nc) as f32 } else { 0.0 };
            }
            total *= inv_nc;
        }
        (BinaryCrossentropyLogits, Target::Dense(t)) => {
            for ((g, &x), &t) in grad.iter_mut().zip(pred).zip(t.iter()).take(n * c) {
                let (x, t) = (x as f64, t as f64);
                total += x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
                let s = 1.0 / (1.0 + (-x).exp());
                *g = ((s - t) * inv_nc) as f32;
            }
            total *= inv_nc;
        }
        (CategoricalCrossentropy, Target::Dense(t)) => {
            for ((g, p), t) in grad.chunks_exact_mut(c).zip(pred.chunks_exact(c)).zip(t.chunks_exact(c)).take(n) {
                // Keras 3: q = p / Σp, clipped; L = −Σ t·log q. Chain rule through the normalisation.
                let s: f64 = p.iter().map(|&v| v as f64).sum();
                let mut gq_dot_q = 0.0f64;
                for j in 0..c {
                    let q = p[j] as f64 / s;
                    let qc = q.max(EPSILON as f64).min(1.0 - EPSILON as f64);
                    total -= t[j] as f64 * qc.ln();
                    let gq = if q > EPSILON as f64 && q < 1.0 - EPSILON as f64 { -(t[j] as f64) / qc } else { 0.0 };
                    g[j] = gq as f32;
                    gq_dot_q += gq * q;
                }
                for gv in g.iter_mut() {
                    *gv = (((*gv as f64) - gq_dot_q) / s * inv_n) as f32;
                }
            }
            total *= inv_n;
        }
        (CategoricalCrossentropyLogits, Target::Dense(t)) => {
            for ((g, x), t) in grad.chunks_exact_mut(c).zip(pred.chunks_exact(c)).zip(t.chunks_exact(c)).take(n) {
                let (lse, _) = softmax_into(g, x);
                let tsum: f64 = t.iter().map(|&v| v as f64).sum();
                let tx: f64 = t.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
                total += lse * tsum - tx;
                for j in 0..c {
                    g[j] = ((g[j] as f64 * tsum - t[j] as f64) * inv_n) as f32;
                }
            }
            total *= inv_n;
        }
        (SparseCategoricalCrossentropy, Target::Sparse(labels)) => {
            for ((g, p), &l) in grad.chunks_exact_mut(c).zip(pred.chunks_exact(c)).zip(labels.iter()).take(n) {
                // Keras 3: clip, then softmax cross-entropy on log(p): −log(p_l / Σ p).
                let s: f64 = p.iter().map(|&v| v.max(EPSILON).min(1.0 - EPSILON) as f64).sum();
                let l = l as usize;
                let pl = p[l].max(EPSILON).min(1.0 - EPSILON) as f64;
                total -= (pl / s).ln();
                for j in 0..c {
                    let inside = p[j] > EPSILON && p[j] < 1.0 - EPSILON;
                    let gj = if j == l { 1.0 / s - 1.0 / pl } else { 1.0 / s };
                    g[j] = if inside { (gj * inv_n) as f32 } else { 0.0 };
                }
            }
            total *= inv_n;
        }
        (SparseCategoricalCrossentropyLogits, Target::Sparse(labels)) => {
            for ((g, x), &l) in grad.chunks_exact_mut(c).zip(pred.chunks_exact(c)).zip(labels.iter()).take(n) {
                let (lse, _) = softmax_into(g, x);
                total += lse - x[l as usize] as f64;
                g[l as usize] -= 1.0;
                for gv in g.iter_mut() {
                    *gv = (*gv as f64 * inv_n) as f32;
                }
            }
            total *= inv_n;
        }
        _ => {
            return crate::fail!(
                Status::InvalidArgument,
                "loss {:?}: {} targets given; {}",
                kind,
                if kind.sparse() { "dense" } else { "sparse" },
                if kind.sparse() { "pass integer class ids (N)" } else { "pass float targets with the prediction's shape" }
            )
        }
    }
    Ok(total as f32)
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
