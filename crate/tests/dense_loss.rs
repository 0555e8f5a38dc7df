//! Checks Dense (`y = act(x·W + b)`, Keras layout W (I, O), §2's row-vector convention) and the
//! fused losses, under GRU-CONVENTIONS.md §5 ("gradients: central finite differences in float64").
//! The activations are §1's (both hard-sigmoids named apart) plus softmax.
//!
//! Where the expected numbers come from:
//! - Dense forward: a naive f64 loop here (`x·W + b`, then `reference::act` or a max-shifted
//!   softmax); backward: central differences (f64, eps 1e-6) of L = Σ dy ⊙ y through that naive
//!   forward, compared with the f32 kernel at 1e-4 of the gradient's scale.
//! - Losses: the Keras 3 definitions typed in here in f64 (keras/src/losses/losses.py and
//!   keras/src/backend/*/nn.py: MSE/MAE mean over the last axis then over rows, i.e. over every
//!   element; BCE clips p to [ε, 1−ε] then −(t·log(p+ε) + (1−t)·log(1−p+ε)); CCE normalises each
//!   row to sum 1, clips, −Σ t·log q; sparse CCE the same at the label; the logits variants
//!   max(x,0) − x·t + log1p(e^−|x|) and log-softmax), ε = 1e-7; the gradient against central
//!   differences of that f64 value. The kernel returns an f32 loss: value tolerance 1e-6 relative,
//!   gradient 1e-5 of the gradient's scale.
//! - Huber, log-cosh and label smoothing: keras/src/losses/losses.py (`huber`: where(|e| <= δ,
//!   ½e², δ|e| − ½δ²); `log_cosh`: e + softplus(−2e) − log 2; `binary_crossentropy`: t·(1 − s) +
//!   ½s; `categorical_crossentropy`: t·(1 − s) + s/C), typed in here in f64.
//! - Weights and masks: keras/src/losses/loss.py `reduce_weighted_values` / `apply_mask` /
//!   `reduce_values` transcribed in f64 (`keras_reduce` below). Golden values from the Keras
//!   docstrings (huber 0.155, log_cosh 0.108, binary_crossentropy rows 0.916 / 0.714).

mod common;

use common::{close, fast, max_abs, report, to_f64, TestRng};
use fastgru::kernels::dense::{dense_backward, dense_forward, DenseDims};
use fastgru::kernels::loss::{loss_forward_backward, LossKind, LossParams, Target};
use fastgru::kernels::Activation;
use fastgru::reference;
use fastgru::status::Status;

const DENSE_ACTS: [Activation; 7] = [
    Activation::Linear,
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::HardSigmoid,
    Activation::HardSigmoidKeras3,
    Activation::Relu,
    Activation::Softmax,
];

/// Naive f64 Dense forward: (N, O).
fn dense_f64(x: &[f64], w: &[f64], b: Option<&[f64]>, d: &DenseDims, act: Activation) -> Vec<f64> {
    let (n, i, o) = (d.rows, d.input, d.units);
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for j in 0..o {
            let mut s = b.map_or(0.0, |b| b[j]);
            for k in 0..i {
                s += x[r * i + k] * w[k * o + j];
            }
            y[r * o + j] = s;
        }
        let row = &mut y[r * o..(r + 1) * o];
        if act == Activation::Softmax {
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            row.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
        } else {
            row.iter_mut().for_each(|v| *v = reference::act(act, *v));
        }
    }
    y
}

#[derive(Clone, Copy, Debug)]
struct DenseCase {
    dims: DenseDims,
    act: Activation,
    bias: bool,
    want_dx: bool,
    want_db: bool,
    seed: u64,
}

fn check_dense(c: &DenseCase) -> Result<(), String> {
    let DenseDims { rows: n, input: i, units: o } = c.dims;
    let mut rng = TestRng::new(c.seed);
    let x = rng.vec(n * i, -1.0, 1.0);
    let w = rng.vec(i * o, -1.0, 1.0);
    let b = if c.bias { Some(rng.vec(o, -0.5, 0.5)) } else { None };
    let dy = rng.vec(n * o, -1.0, 1.0);
    let (x64, w64, b64, dy64) = (to_f64(&x), to_f64(&w), b.as_ref().map(|v| to_f64(v)), to_f64(&dy));

    // Forward: y inside a NaN buffer; everything past N·O must stay NaN.
    let mut y = vec![f32::NAN; n * o + 5];
    dense_forward(&mut y[..n * o], &x, &w, b.as_deref(), &c.dims, c.act).map_err(|s| format!("dense_forward: {:?}", s))?;
    if y[n * o..].iter().any(|v| !v.is_nan()) {
        return Err("dense_forward wrote past y".into());
    }
    let y = y[..n * o].to_vec();
    let want = dense_f64(&x64, &w64, b64.as_deref(), &c.dims, c.act);
    close("y", &y, &want, 1e-5)?;

    // Backward into pre-filled buffers.
    let pre_dx = rng.vec(n * i, -1.0, 1.0);
    let pre_dw = rng.vec(i * o, -1.0, 1.0);
    let pre_db = rng.vec(o, -1.0, 1.0);
    let (mut dx, mut dw, mut db) = (pre_dx.clone(), pre_dw.clone(), pre_db.clone());
    dense_backward(if c.want_dx { Some(&mut dx) } else { None }, &mut dw, if c.want_db { Some(&mut db) } else { None }, &dy, &y, &x, &w, &c.dims, c.act)
        .map_err(|s| format!("dense_backward: {:?}", s))?;

    // Central differences of L = Σ dy ⊙ y (f64) for x, W and b (b around zeros when absent).
    let eps = 1e-6;
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 { dense_f64(x, w, Some(b), &c.dims, c.act).iter().zip(&dy64).map(|(p, q)| p * q).sum() };
    let mut bufs = vec![x64, w64, b64.unwrap_or_else(|| vec![0.0; o])];
    let mut fds = Vec::new();
    for which in 0..3 {
        let mut fd = vec![0.0; bufs[which].len()];
        for k in 0..fd.len() {
            let orig = bufs[which][k];
            bufs[which][k] = orig + eps;
            let lp = loss(&bufs[0], &bufs[1], &bufs[2]);
            bufs[which][k] = orig - eps;
            let lm = loss(&bufs[0], &bufs[1], &bufs[2]);
            bufs[which][k] = orig;
            fd[k] = (lp - lm) / (2.0 * eps);
        }
        fds.push(fd);
    }
    let delta = |got: &[f32], pre: &[f32]| -> Vec<f32> { got.iter().zip(pre).map(|(a, b)| (*a as f64 - *b as f64) as f32).collect() };
    if c.want_dx {
        close("dx", &delta(&dx, &pre_dx), &fds[0], 1e-4)?;
    } else if dx != pre_dx {
        return Err("dx not requested but changed".into());
    }
    close("dw", &delta(&dw, &pre_dw), &fds[1], 1e-4)?;
    if c.want_db {
        close("db", &delta(&db, &pre_db), &fds[2], 1e-4)?;
    } else if db != pre_db {
        return Err("db not requested but changed".into());
    }
    Ok(())
}

/// Every activation (softmax included) × ragged sizes (rows 1..=7, input 1..=9, units 1..=13).
#[test]
fn dense_every_activation_ragged() {
    let mut rng = TestRng::new(30);
    let per_act = if fast() { 6 } else { 40 };
    let mut failures = Vec::new();
    let mut cases = 0;
    for &act in &DENSE_ACTS {
        for k in 0..per_act {
            let dims = DenseDims { rows: rng.int(1, 7), input: if k == 0 { 1 } else { rng.int(1, 9) }, units: if k == 1 { 1 } else { rng.int(1, 13) } };
            let bias = rng.chance(0.7);
            let c = DenseCase { dims, act, bias, want_dx: rng.chance(0.8), want_db: rng.chance(0.8), seed: rng.next_u64() };
            cases += 1;
            match std::panic::catch_unwind(|| check_dense(&c)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{} -- {:?}", e, c)),
                Err(_) => failures.push(format!("PANIC -- {:?}", c)),
            }
        }
    }
    report("dense", &failures, cases);
}

/// Regression: Dense with one input feature. Its dW = xᵀ·dpre has a (1, N) column-vector view as
/// A; the committed gemm (34f6ae4) panicked on it (see gemm.rs, `transposed_a_one_row_tight_stride`).
#[test]
fn dense_input_1() {
    for &act in &DENSE_ACTS {
        for &n in &[1usize, 2, 5, 9] {
            let c = DenseCase { dims: DenseDims { rows: n, input: 1, units: 6 }, act, bias: true, want_dx: true, want_db: true, seed: n as u64 };
            check_dense(&c).unwrap_or_else(|e| panic!("{:?}: {}", c, e));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Losses.

const KINDS: [LossKind; 10] = [
    LossKind::MeanSquaredError,
    LossKind::MeanAbsoluteError,
    LossKind::BinaryCrossentropy,
    LossKind::BinaryCrossentropyLogits,
    LossKind::CategoricalCrossentropy,
    LossKind::CategoricalCrossentropyLogits,
    LossKind::SparseCategoricalCrossentropy,
    LossKind::SparseCategoricalCrossentropyLogits,
    LossKind::Huber,
    LossKind::LogCosh,
];

const EPS: f64 = 1e-7;

fn clip(p: f64) -> f64 {
    // Keras clips in the input's dtype: 1 − ε in float32 is 0.99999988.
    p.max(EPS).min((1.0f32 - 1e-7f32) as f64)
}

fn log_softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
    let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    x.iter().map(|v| v - lse).collect()
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Keras 3's per-row loss values (reduction "none") in f64: `dense` (N, C) targets or `labels`;
/// `delta` for Huber, `s` the label smoothing of the (binary/categorical) cross-entropies.
fn keras_rows(kind: LossKind, p: &[f64], dense: &[f64], labels: &[i32], n: usize, c: usize, delta: f64, s: f64) -> Vec<f64> {
    use LossKind::*;
    (0..n)
        .map(|r| {
            let p = &p[r * c..(r + 1) * c];
            let t: Vec<f64> = if dense.is_empty() { Vec::new() } else { dense[r * c..(r + 1) * c].to_vec() };
            // keras/src/losses/losses.py: label smoothing rewrites y_true before the loss.
            let bce_t: Vec<f64> = t.iter().map(|&t| t * (1.0 - s) + 0.5 * s).collect();
            let cce_t: Vec<f64> = t.iter().map(|&t| t * (1.0 - s) + s / c as f64).collect();
            match kind {
                MeanSquaredError => p.iter().zip(&t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / c as f64,
                MeanAbsoluteError => p.iter().zip(&t).map(|(a, b)| (a - b).abs()).sum::<f64>() / c as f64,
                BinaryCrossentropy => {
                    p.iter()
                        .zip(&bce_t)
                        .map(|(&a, &t)| {
                            // Keras 3 (backend/tensorflow/nn.py): clip, then plain logs.
                            let q = clip(a);
                            -(t * q.ln() + (1.0 - t) * (1.0 - q).ln())
                        })
                        .sum::<f64>()
                        / c as f64
                }
                BinaryCrossentropyLogits => p.iter().zip(&bce_t).map(|(&x, &t)| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()).sum::<f64>() / c as f64,
                CategoricalCrossentropy => {
                    let sum: f64 = p.iter().sum();
                    -p.iter().zip(&cce_t).map(|(&a, &t)| t * clip(a / sum).ln()).sum::<f64>()
                }
                CategoricalCrossentropyLogits => -log_softmax(p).iter().zip(&cce_t).map(|(l, t)| t * l).sum::<f64>(),
                SparseCategoricalCrossentropy => {
                    let sum: f64 = p.iter().sum();
                    -clip(p[labels[r] as usize] / sum).ln()
                }
                SparseCategoricalCrossentropyLogits => -log_softmax(p)[labels[r] as usize],
                Huber => {
                    p.iter()
                        .zip(&t)
                        .map(|(&a, &b)| {
                            let e = a - b;
                            if e.abs() <= delta {
                                0.5 * e * e
                            } else {
                                delta * e.abs() - 0.5 * delta * delta
                            }
                        })
                        .sum::<f64>()
                        / c as f64
                }
                LogCosh => p.iter().zip(&t).map(|(&a, &b)| (a - b) + softplus(-2.0 * (a - b)) - 2f64.ln()).sum::<f64>() / c as f64,
            }
        })
        .collect()
}

/// keras/src/losses/loss.py `reduce_weighted_values(values, sample_weight, mask,
/// "sum_over_batch_size")` in f64, for per-row `values` with per-row weights and mask:
/// `apply_mask` scales the mask by total / valid (divide_no_nan), multiplies it into the sample
/// weight, and `reduce_values` divides the weighted sum by the number of values.
fn keras_reduce(values: &[f64], sample_weight: Option<&[f64]>, mask: Option<&[f64]>) -> f64 {
    let total = values.len() as f64;
    let sw: Option<Vec<f64>> = match mask {
        Some(m) => {
            let valid: f64 = m.iter().sum();
            let k = if valid == 0.0 { 0.0 } else { total / valid };
            let m: Vec<f64> = m.iter().map(|v| v * k).collect();
            Some(match sample_weight {
                Some(w) => w.iter().zip(&m).map(|(a, b)| a * b).collect(),
                None => m,
            })
        }
        None => sample_weight.map(|w| w.to_vec()),
    };
    let sum: f64 = match &sw {
        Some(w) => values.iter().zip(w).map(|(v, w)| v * w).sum(),
        None => values.iter().sum(),
    };
    sum / total
}

/// The Keras 3 loss, `sum_over_batch_size` reduction, weighted per row.
#[allow(clippy::too_many_arguments)]
fn keras_loss(kind: LossKind, p: &[f64], dense: &[f64], labels: &[i32], n: usize, c: usize, delta: f64, s: f64, w: Option<&[f64]>) -> f64 {
    keras_reduce(&keras_rows(kind, p, dense, labels, n, c, delta, s), w, None)
}

struct LossData {
    pred: Vec<f32>,
    dense: Vec<f32>,
    labels: Vec<i32>,
}

fn loss_data(rng: &mut TestRng, kind: LossKind, n: usize, c: usize) -> LossData {
    use LossKind::*;
    let pred = match kind {
        MeanSquaredError | MeanAbsoluteError | Huber | LogCosh => rng.vec(n * c, -2.0, 2.0),
        BinaryCrossentropy => rng.vec(n * c, 0.02, 0.98),
        // Unnormalised positive scores: Keras divides by the row sum.
        CategoricalCrossentropy | SparseCategoricalCrossentropy => rng.vec(n * c, 0.05, 1.0),
        _ => rng.vec(n * c, -5.0, 5.0),
    };
    let mut dense = Vec::new();
    let mut labels = Vec::new();
    match kind {
        MeanSquaredError | MeanAbsoluteError | Huber | LogCosh => dense = rng.vec(n * c, -2.0, 2.0),
        BinaryCrossentropy | BinaryCrossentropyLogits => {
            // Hard and soft labels.
            dense = (0..n * c).map(|_| if rng.chance(0.5) { rng.below(2) as f32 } else { rng.uniform() as f32 }).collect();
        }
        CategoricalCrossentropy | CategoricalCrossentropyLogits => {
            for _ in 0..n {
                if rng.chance(0.5) {
                    let l = rng.below(c);
                    dense.extend((0..c).map(|j| (j == l) as i32 as f32));
                } else {
                    let raw: Vec<f64> = (0..c).map(|_| rng.uniform()).collect();
                    let s: f64 = raw.iter().sum();
                    dense.extend(raw.iter().map(|v| (v / s) as f32));
                }
            }
        }
        _ => labels = (0..n).map(|_| rng.below(c) as i32).collect(),
    }
    LossData { pred, dense, labels }
}

fn target<'a>(kind: LossKind, d: &'a LossData) -> Target<'a> {
    if kind.sparse() {
        Target::Sparse(&d.labels)
    } else {
        Target::Dense(&d.dense)
    }
}

/// Each kind, with random options (Huber δ, label smoothing, per-row weights with zeros): the
/// value and the per-row values against the Keras formulas, the gradient against central
/// differences of them, `dpred` overwritten (not accumulated), `dpred = None` giving the same
/// value, and weights of all ones giving exactly the unweighted result.
#[test]
fn losses_value_and_gradient() {
    let mut rng = TestRng::new(40);
    let per_kind = if fast() { 10 } else { 60 };
    let mut failures = Vec::new();
    let mut cases = 0;
    for &kind in &KINDS {
        for _ in 0..per_kind {
            let n = rng.int(1, 6);
            let c = rng.int(if kind.sparse() || matches!(kind, LossKind::CategoricalCrossentropy | LossKind::CategoricalCrossentropyLogits) { 2 } else { 1 }, 9);
            cases += 1;
            let d = loss_data(&mut rng, kind, n, c);
            let delta = if kind == LossKind::Huber && rng.chance(0.7) { rng.range(0.2, 2.5) as f32 } else { 1.0 };
            let s = if kind.smooths() && rng.chance(0.6) { if rng.chance(0.2) { 1.0 } else { rng.uniform() as f32 } } else { 0.0 };
            let params = LossParams { delta, label_smoothing: s };
            let weights: Option<Vec<f32>> = if rng.chance(0.6) { Some((0..n).map(|_| if rng.chance(0.25) { 0.0 } else { rng.range(0.0, 3.0) as f32 }).collect()) } else { None };
            let what = format!("{:?} n={} c={} delta={} s={} w={:?}", kind, n, c, delta, s, weights);
            let mut grad = vec![f32::NAN; n * c];
            let mut rows = vec![f32::NAN; n];
            let got = match loss_forward_backward(Some(&mut grad), Some(&mut rows), &d.pred, target(kind, &d), weights.as_deref(), n, c, kind, &params) {
                Ok(v) => v,
                Err(st) => {
                    failures.push(format!("{}: returned {:?}", what, st));
                    continue;
                }
            };
            let p64 = to_f64(&d.pred);
            let t64 = to_f64(&d.dense);
            let w64 = weights.as_ref().map(|w| to_f64(w));
            let (delta64, s64) = (delta as f64, s as f64);
            let want_rows = keras_rows(kind, &p64, &t64, &d.labels, n, c, delta64, s64);
            let want = keras_reduce(&want_rows, w64.as_deref(), None);
            if !((got as f64 - want).abs() <= 1e-6 * want.abs().max(1.0)) {
                failures.push(format!("{}: loss {} but Keras gives {}", what, got, want));
                continue;
            }
            if let Err(e) = close("row_loss", &rows, &want_rows, 1e-6) {
                failures.push(format!("{}: {}", what, e));
                continue;
            }
            let again = loss_forward_backward(None, None, &d.pred, target(kind, &d), weights.as_deref(), n, c, kind, &params).unwrap();
            if again.to_bits() != got.to_bits() {
                failures.push(format!("{}: dpred=None gives {} vs {}", what, again, got));
            }
            if weights.is_none() {
                let ones = vec![1.0f32; n];
                let mut g1 = vec![f32::NAN; n * c];
                let w1 = loss_forward_backward(Some(&mut g1), None, &d.pred, target(kind, &d), Some(&ones), n, c, kind, &params).unwrap();
                if w1.to_bits() != got.to_bits() || g1.iter().zip(&grad).any(|(a, b)| a.to_bits() != b.to_bits()) {
                    failures.push(format!("{}: weights of ones differ from no weights", what));
                }
            }
            let h = 1e-6;
            let mut p = p64.clone();
            let fd: Vec<f64> = (0..n * c)
                .map(|k| {
                    let orig = p[k];
                    p[k] = orig + h;
                    let lp = keras_loss(kind, &p, &t64, &d.labels, n, c, delta64, s64, w64.as_deref());
                    p[k] = orig - h;
                    let lm = keras_loss(kind, &p, &t64, &d.labels, n, c, delta64, s64, w64.as_deref());
                    p[k] = orig;
                    (lp - lm) / (2.0 * h)
                })
                .collect();
            let scale = max_abs(&fd).max(1e-3 / (n * c) as f64);
            for (k, (&g, &f)) in grad.iter().zip(&fd).enumerate() {
                if !((g as f64 - f).abs() <= 1e-5 * scale) {
                    failures.push(format!("{}: dL/dpred[{}] = {} but finite difference {}", what, k, g, f));
                    break;
                }
            }
        }
    }
    report("losses", &failures, cases);
}

/// Sequence outputs (B, T, C) with a (B, T) mask and (B,) sample weights: folding
/// w[b, t] = sample_weight[b] · mask[b, t] · (B·T) / Σmask into the kernel's per-row weights gives
/// Keras 3's `reduce_weighted_values` (loss.py: `apply_mask` then `reduce_values`) exactly, the
/// masked rows get a zero gradient, and an all-masked batch gives 0 (divide_no_nan).
#[test]
fn masks_and_sample_weights_follow_keras_apply_mask() {
    let mut rng = TestRng::new(41);
    let mut failures = Vec::new();
    let mut cases = 0;
    for &kind in &KINDS {
        for k in 0..(if fast() { 4 } else { 12 }) {
            let (b, t) = (rng.int(1, 4), rng.int(1, 6));
            let n = b * t;
            let c = rng.int(2, 6);
            cases += 1;
            let d = loss_data(&mut rng, kind, n, c);
            // Per-step mask (1 = valid); k == 0 masks everything.
            let mask: Vec<f64> = (0..n).map(|_| if k == 0 { 0.0 } else { rng.chance(0.7) as i32 as f64 }).collect();
            let sw: Vec<f64> = (0..b).map(|_| rng.range(0.0, 2.0)).collect();
            let sw_rows: Vec<f64> = (0..n).map(|r| sw[r / t]).collect();
            let valid: f64 = mask.iter().sum();
            let fold = if valid == 0.0 { 0.0 } else { n as f64 / valid };
            let w: Vec<f32> = (0..n).map(|r| (sw_rows[r] * mask[r] * fold) as f32).collect();
            let mut grad = vec![f32::NAN; n * c];
            let got = loss_forward_backward(Some(&mut grad), None, &d.pred, target(kind, &d), Some(&w), n, c, kind, &LossParams::default()).unwrap();
            let values = keras_rows(kind, &to_f64(&d.pred), &to_f64(&d.dense), &d.labels, n, c, 1.0, 0.0);
            let want = keras_reduce(&values, Some(&sw_rows), Some(&mask));
            if !((got as f64 - want).abs() <= 1e-6 * want.abs().max(1.0)) {
                failures.push(format!("{:?} B={} T={} C={}: loss {} but Keras apply_mask gives {}", kind, b, t, c, got, want));
            }
            // Without the sample weights: the plain mean over the valid rows.
            if valid > 0.0 {
                let mean_valid = values.iter().zip(&mask).map(|(v, m)| v * m).sum::<f64>() / valid;
                let wm: Vec<f32> = (0..n).map(|r| (mask[r] * fold) as f32).collect();
                let got = loss_forward_backward(None, None, &d.pred, target(kind, &d), Some(&wm), n, c, kind, &LossParams::default()).unwrap();
                if !((got as f64 - mean_valid).abs() <= 1e-6 * mean_valid.abs().max(1.0)) {
                    failures.push(format!("{:?}: masked loss {} is not the mean over valid rows {}", kind, got, mean_valid));
                }
            }
            for r in 0..n {
                if mask[r] == 0.0 && grad[r * c..(r + 1) * c].iter().any(|&g| g != 0.0) {
                    failures.push(format!("{:?}: masked row {} has a non-zero gradient", kind, r));
                    break;
                }
            }
        }
    }
    report("masked losses", &failures, cases);
}

/// Golden numbers from the Keras 3 docstrings (keras/src/losses/losses.py), and sample weights
/// not normalised by their sum (Huber with sample_weight [1, 0]: 0.18 · 1 / 2 = 0.09, by hand
/// from loss.py's `reduce_values`).
#[test]
fn keras_docstring_values() {
    let run = |kind: LossKind, t: &[f32], p: &[f32], n: usize, c: usize, w: Option<&[f32]>| -> (f32, Vec<f32>) {
        let mut rows = vec![0.0f32; n];
        let l = loss_forward_backward(None, Some(&mut rows), p, Target::Dense(t), w, n, c, kind, &LossParams::default()).unwrap();
        (l, rows)
    };
    // huber(y_true=[[0, 1], [0, 0]], y_pred=[[0.6, 0.4], [0.4, 0.6]]) -> 0.155
    let (l, _) = run(LossKind::Huber, &[0.0, 1.0, 0.0, 0.0], &[0.6, 0.4, 0.4, 0.6], 2, 2, None);
    assert!((l - 0.155).abs() < 1e-6, "huber {}", l);
    let (l, _) = run(LossKind::Huber, &[0.0, 1.0, 0.0, 0.0], &[0.6, 0.4, 0.4, 0.6], 2, 2, Some(&[1.0, 0.0]));
    assert!((l - 0.09).abs() < 1e-6, "huber with sample_weight [1, 0]: {}", l);
    // log_cosh(y_true=[[0., 1.], [0., 0.]], y_pred=[[1., 1.], [0., 0.]]) -> 0.108
    let (l, _) = run(LossKind::LogCosh, &[0.0, 1.0, 0.0, 0.0], &[1.0, 1.0, 0.0, 0.0], 2, 2, None);
    assert!((l - 0.108).abs() < 5e-4, "log_cosh {}", l);
    // binary_crossentropy(y_true=[[0, 1], [0, 0]], y_pred=[[0.6, 0.4], [0.4, 0.6]]) -> [0.916, 0.714]
    let (_, rows) = run(LossKind::BinaryCrossentropy, &[0.0, 1.0, 0.0, 0.0], &[0.6, 0.4, 0.4, 0.6], 2, 2, None);
    assert!((rows[0] - 0.916).abs() < 5e-4 && (rows[1] - 0.714).abs() < 5e-4, "bce rows {:?}", rows);
}

/// Huber's gradient is e inside [−δ, δ] and ±δ outside; log-cosh's is tanh(e) and stays finite
/// for errors of 1e4 (where cosh overflows).
#[test]
fn huber_and_log_cosh_gradients() {
    let p = [0.5f32, -0.5, 3.0, -3.0, 1e4, -1e4];
    let t = [0.0f32; 6];
    let mut g = [f32::NAN; 6];
    let params = LossParams { delta: 2.0, label_smoothing: 0.0 };
    loss_forward_backward(Some(&mut g), None, &p, Target::Dense(&t), None, 1, 6, LossKind::Huber, &params).unwrap();
    let want = [0.5, -0.5, 2.0, -2.0, 2.0, -2.0];
    for k in 0..6 {
        assert!((g[k] as f64 - want[k] / 6.0).abs() < 1e-7, "huber grad {:?}", g);
    }
    let mut rows = [f32::NAN; 1];
    let l = loss_forward_backward(Some(&mut g), Some(&mut rows), &p, Target::Dense(&t), None, 1, 6, LossKind::LogCosh, &LossParams::default()).unwrap();
    assert!(l.is_finite() && rows[0] == l, "{} {:?}", l, rows);
    let want = keras_rows(LossKind::LogCosh, &to_f64(&p), &to_f64(&t), &[], 1, 6, 1.0, 0.0)[0];
    assert!((l as f64 - want).abs() < 1e-6 * want, "log_cosh {} vs {}", l, want);
    for k in 0..6 {
        assert!((g[k] as f64 - (p[k] as f64).tanh() / 6.0).abs() < 1e-7, "log_cosh grad {:?}", g);
    }
}

/// Probabilities at or past the clip (0, 1, and > 1 for BCE; a row with a zero for CCE) give a
/// finite loss and a zero gradient where the clip is active, as Keras' clip does.
#[test]
fn probability_losses_clip() {
    let pred = [0.0f32, 1.0, 0.5, 1.5, -0.25, 1e-9];
    let target = [1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), None, &pred, Target::Dense(&target), None, 1, 6, LossKind::BinaryCrossentropy, &LossParams::default()).unwrap();
    let want = keras_loss(LossKind::BinaryCrossentropy, &to_f64(&pred), &to_f64(&target), &[], 1, 6, 1.0, 0.0, None);
    assert!((l as f64 - want).abs() <= 1e-6 * want, "BCE with clipped inputs: {} vs {}", l, want);
    for (k, &v) in g.iter().enumerate() {
        assert!(v.is_finite());
        if k != 2 {
            assert_eq!(v, 0.0, "BCE gradient at a clipped p = {} must be 0", pred[k]);
        }
    }
    assert!((g[2] as f64 - (-1.0 / 0.5) / 6.0).abs() < 1e-7, "BCE gradient at p = 0.5, t = 1: −1/p over 6 values");

    let pred = [0.0f32, 0.3, 0.7];
    let target = [1.0f32, 0.0, 0.0];
    let mut g = [f32::NAN; 3];
    let l = loss_forward_backward(Some(&mut g), None, &pred, Target::Dense(&target), None, 1, 3, LossKind::CategoricalCrossentropy, &LossParams::default()).unwrap();
    assert!((l as f64 - (-(EPS.ln()))).abs() < 1e-5, "CCE of a zero probability: {} vs −log ε", l);
    assert!(g.iter().all(|v| v.is_finite()));
}

/// Logits of ±1e4 give a finite loss and gradient and the right values.
#[test]
fn huge_logits_stay_finite() {
    let x = [1e4f32, -1e4, 0.0, 1e4, -1e4, 3.0];
    let dflt = LossParams::default();
    let kl = |kind: LossKind, t: &[f32]| keras_loss(kind, &to_f64(&x), &to_f64(t), &[], 2, 3, 1.0, 0.0, None);
    // BCE logits, hard and soft labels.
    let t = [0.0f32, 1.0, 1.0, 1.0, 0.0, 0.3];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), None, &x, Target::Dense(&t), None, 2, 3, LossKind::BinaryCrossentropyLogits, &dflt).unwrap();
    let want = kl(LossKind::BinaryCrossentropyLogits, &t);
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "BCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
    // CCE logits and sparse CCE logits: rows [1e4, -1e4, 0] and [1e4, -1e4, 3].
    let t = [0.0f32, 1.0, 0.0, 0.0, 0.0, 1.0];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), None, &x, Target::Dense(&t), None, 2, 3, LossKind::CategoricalCrossentropyLogits, &dflt).unwrap();
    let want = kl(LossKind::CategoricalCrossentropyLogits, &t);
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "CCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
    // Gradient = (softmax − t) / N: (1, −1, 0) / 2 in the first row.
    assert!((g[0] - 0.5).abs() < 1e-6 && (g[1] + 0.5).abs() < 1e-6 && g[2].abs() < 1e-6, "{:?}", g);
    let labels = [1i32, 2];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), None, &x, Target::Sparse(&labels), None, 2, 3, LossKind::SparseCategoricalCrossentropyLogits, &dflt).unwrap();
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "sparse CCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
    // Label-smoothed CCE logits at ±1e4: finite, and the smoothed target's loss.
    let s = LossParams { delta: 1.0, label_smoothing: 0.1 };
    let l = loss_forward_backward(Some(&mut g), None, &x, Target::Dense(&t), None, 2, 3, LossKind::CategoricalCrossentropyLogits, &s).unwrap();
    let want = keras_loss(LossKind::CategoricalCrossentropyLogits, &to_f64(&x), &to_f64(&t), &[], 2, 3, 1.0, 0.1f32 as f64, None);
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "smoothed CCE logits {} vs {}", l, want);
}

fn detail() -> String {
    String::from_utf8_lossy(fastgru::status::detail()).to_string()
}

/// Out-of-range sparse labels are an error naming the label and the row; the wrong kind of
/// target, a bad δ and a label smoothing out of range or on a kind without it are errors too.
/// (One test: the error detail is a single global buffer.)
#[test]
fn bad_targets_and_params_are_errors() {
    let pred = vec![0.25f32; 4 * 5];
    let dflt = LossParams::default();
    for &kind in &[LossKind::SparseCategoricalCrossentropy, LossKind::SparseCategoricalCrossentropyLogits] {
        for &(bad, row) in &[(5i32, 2usize), (-1, 0), (17, 3)] {
            let mut labels = vec![1i32, 4, 0, 2];
            labels[row] = bad;
            let mut g = vec![0.0f32; 20];
            let r = loss_forward_backward(Some(&mut g), None, &pred, Target::Sparse(&labels), None, 4, 5, kind, &dflt);
            assert_eq!(r, Err(Status::IndexOutOfRange), "{:?} label {} at row {}", kind, bad, row);
            let msg = detail();
            assert!(msg.contains(&format!("label {}", bad)) && msg.contains(&format!("row {}", row)), "detail {:?} should name label {} and row {}", msg, bad, row);
        }
    }
    let labels = [0i32, 1, 2, 3];
    assert_eq!(loss_forward_backward(None, None, &pred, Target::Sparse(&labels), None, 4, 5, LossKind::MeanSquaredError, &dflt), Err(Status::InvalidArgument));
    let dense = vec![0.0f32; 20];
    assert_eq!(loss_forward_backward(None, None, &pred, Target::Dense(&dense), None, 4, 5, LossKind::SparseCategoricalCrossentropy, &dflt), Err(Status::InvalidArgument));
    for &delta in &[0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        let r = loss_forward_backward(None, None, &pred, Target::Dense(&dense), None, 4, 5, LossKind::Huber, &LossParams { delta, label_smoothing: 0.0 });
        assert_eq!(r, Err(Status::InvalidArgument), "delta {}", delta);
        assert!(detail().contains("delta must be a finite number > 0"), "{}", detail());
    }
    // δ is read by Huber only.
    assert!(loss_forward_backward(None, None, &pred, Target::Dense(&dense), None, 4, 5, LossKind::MeanSquaredError, &LossParams { delta: -1.0, label_smoothing: 0.0 }).is_ok());
    for &s in &[-0.1f32, 1.5, f32::NAN] {
        let r = loss_forward_backward(None, None, &pred, Target::Dense(&dense), None, 4, 5, LossKind::BinaryCrossentropy, &LossParams { delta: 1.0, label_smoothing: s });
        assert_eq!(r, Err(Status::InvalidArgument), "smoothing {}", s);
        assert!(detail().contains("label_smoothing must be in [0, 1]"), "{}", detail());
    }
    let r = loss_forward_backward(None, None, &pred, Target::Dense(&dense), None, 4, 5, LossKind::MeanSquaredError, &LossParams { delta: 1.0, label_smoothing: 0.1 });
    assert_eq!(r, Err(Status::InvalidArgument));
    assert!(detail().contains("only binary and categorical cross-entropy smooth labels"), "{}", detail());
    let r = loss_forward_backward(None, None, &pred, Target::Sparse(&labels), None, 4, 5, LossKind::SparseCategoricalCrossentropyLogits, &LossParams { delta: 1.0, label_smoothing: 0.1 });
    assert_eq!(r, Err(Status::InvalidArgument));
}
