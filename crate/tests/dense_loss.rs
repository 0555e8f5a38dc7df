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

mod common;

use common::{close, fast, max_abs, report, to_f64, TestRng};
use fastgru::kernels::dense::{dense_backward, dense_forward, DenseDims};
use fastgru::kernels::loss::{loss_forward_backward, LossKind, Target};
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

const KINDS: [LossKind; 8] = [
    LossKind::MeanSquaredError,
    LossKind::MeanAbsoluteError,
    LossKind::BinaryCrossentropy,
    LossKind::BinaryCrossentropyLogits,
    LossKind::CategoricalCrossentropy,
    LossKind::CategoricalCrossentropyLogits,
    LossKind::SparseCategoricalCrossentropy,
    LossKind::SparseCategoricalCrossentropyLogits,
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

/// The Keras 3 loss, `sum_over_batch_size` reduction, in f64. `dense` (N, C) targets or `labels`.
fn keras_loss(kind: LossKind, p: &[f64], dense: &[f64], labels: &[i32], n: usize, c: usize) -> f64 {
    use LossKind::*;
    let rows = (0..n).map(|r| (&p[r * c..(r + 1) * c], if dense.is_empty() { &[][..] } else { &dense[r * c..(r + 1) * c] }));
    let per_row: Vec<f64> = rows
        .enumerate()
        .map(|(r, (p, t))| match kind {
            MeanSquaredError => p.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / c as f64,
            MeanAbsoluteError => p.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f64>() / c as f64,
            BinaryCrossentropy => {
                p.iter()
                    .zip(t)
                    .map(|(&a, &t)| {
                        // Keras 3 (backend/tensorflow/nn.py): clip, then plain logs.
                        let q = clip(a);
                        -(t * q.ln() + (1.0 - t) * (1.0 - q).ln())
                    })
                    .sum::<f64>()
                    / c as f64
            }
            BinaryCrossentropyLogits => p.iter().zip(t).map(|(&x, &t)| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()).sum::<f64>() / c as f64,
            CategoricalCrossentropy => {
                let s: f64 = p.iter().sum();
                -p.iter().zip(t).map(|(&a, &t)| t * clip(a / s).ln()).sum::<f64>()
            }
            CategoricalCrossentropyLogits => -log_softmax(p).iter().zip(t).map(|(l, t)| t * l).sum::<f64>(),
            SparseCategoricalCrossentropy => {
                let s: f64 = p.iter().sum();
                -clip(p[labels[r] as usize] / s).ln()
            }
            SparseCategoricalCrossentropyLogits => -log_softmax(p)[labels[r] as usize],
        })
        .collect();
    per_row.iter().sum::<f64>() / n as f64
}

struct LossData {
    pred: Vec<f32>,
    dense: Vec<f32>,
    labels: Vec<i32>,
}

fn loss_data(rng: &mut TestRng, kind: LossKind, n: usize, c: usize) -> LossData {
    use LossKind::*;
    let pred = match kind {
        MeanSquaredError | MeanAbsoluteError => rng.vec(n * c, -2.0, 2.0),
        BinaryCrossentropy => rng.vec(n * c, 0.02, 0.98),
        // Unnormalised positive scores: Keras divides by the row sum.
        CategoricalCrossentropy | SparseCategoricalCrossentropy => rng.vec(n * c, 0.05, 1.0),
        _ => rng.vec(n * c, -5.0, 5.0),
    };
    let mut dense = Vec::new();
    let mut labels = Vec::new();
    match kind {
        MeanSquaredError | MeanAbsoluteError => dense = rng.vec(n * c, -2.0, 2.0),
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

fn call(kind: LossKind, d: &LossData, dpred: Option<&mut [f32]>, n: usize, c: usize) -> Result<f32, Status> {
    let target = if kind.sparse() { Target::Sparse(&d.labels) } else { Target::Dense(&d.dense) };
    loss_forward_backward(dpred, &d.pred, target, n, c, kind)
}

/// Each kind: the value against the Keras formula, the gradient against central differences of
/// it, `dpred` overwritten (not accumulated), and `dpred = None` giving the same value.
#[test]
fn losses_value_and_gradient() {
    let mut rng = TestRng::new(40);
    let per_kind = if fast() { 8 } else { 60 };
    let mut failures = Vec::new();
    let mut cases = 0;
    for &kind in &KINDS {
        for _ in 0..per_kind {
            let n = rng.int(1, 6);
            let c = rng.int(if kind.sparse() || matches!(kind, LossKind::CategoricalCrossentropy | LossKind::CategoricalCrossentropyLogits) { 2 } else { 1 }, 9);
            cases += 1;
            let d = loss_data(&mut rng, kind, n, c);
            let mut grad = vec![f32::NAN; n * c];
            let got = match call(kind, &d, Some(&mut grad), n, c) {
                Ok(v) => v,
                Err(s) => {
                    failures.push(format!("{:?} n={} c={}: returned {:?}", kind, n, c, s));
                    continue;
                }
            };
            let p64 = to_f64(&d.pred);
            let t64 = to_f64(&d.dense);
            let want = keras_loss(kind, &p64, &t64, &d.labels, n, c);
            if !((got as f64 - want).abs() <= 1e-6 * want.abs().max(1.0)) {
                failures.push(format!("{:?} n={} c={}: loss {} but Keras gives {}", kind, n, c, got, want));
                continue;
            }
            let again = call(kind, &d, None, n, c).unwrap();
            if again.to_bits() != got.to_bits() {
                failures.push(format!("{:?}: dpred=None gives {} vs {}", kind, again, got));
            }
            let h = 1e-6;
            let mut p = p64.clone();
            let fd: Vec<f64> = (0..n * c)
                .map(|k| {
                    let orig = p[k];
                    p[k] = orig + h;
                    let lp = keras_loss(kind, &p, &t64, &d.labels, n, c);
                    p[k] = orig - h;
                    let lm = keras_loss(kind, &p, &t64, &d.labels, n, c);
                    p[k] = orig;
                    (lp - lm) / (2.0 * h)
                })
                .collect();
            let scale = max_abs(&fd).max(1e-3 / (n * c) as f64);
            for (k, (&g, &f)) in grad.iter().zip(&fd).enumerate() {
                if !((g as f64 - f).abs() <= 1e-5 * scale) {
                    failures.push(format!("{:?} n={} c={}: dL/dpred[{}] = {} but finite difference {}", kind, n, c, k, g, f));
                    break;
                }
            }
        }
    }
    report("losses", &failures, cases);
}

/// Probabilities at or past the clip (0, 1, and > 1 for BCE; a row with a zero for CCE) give a
/// finite loss and a zero gradient where the clip is active, as Keras' clip does.
#[test]
fn probability_losses_clip() {
    let pred = [0.0f32, 1.0, 0.5, 1.5, -0.25, 1e-9];
    let target = [1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), &pred, Target::Dense(&target), 1, 6, LossKind::BinaryCrossentropy).unwrap();
    let want = keras_loss(LossKind::BinaryCrossentropy, &to_f64(&pred), &to_f64(&target), &[], 1, 6);
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
    let l = loss_forward_backward(Some(&mut g), &pred, Target::Dense(&target), 1, 3, LossKind::CategoricalCrossentropy).unwrap();
    assert!((l as f64 - (-(EPS.ln()))).abs() < 1e-5, "CCE of a zero probability: {} vs −log ε", l);
    assert!(g.iter().all(|v| v.is_finite()));
}

/// Logits of ±1e4 give a finite loss and gradient and the right values.
#[test]
fn huge_logits_stay_finite() {
    let x = [1e4f32, -1e4, 0.0, 1e4, -1e4, 3.0];
    // BCE logits, hard and soft labels.
    let t = [0.0f32, 1.0, 1.0, 1.0, 0.0, 0.3];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), &x, Target::Dense(&t), 2, 3, LossKind::BinaryCrossentropyLogits).unwrap();
    let want = keras_loss(LossKind::BinaryCrossentropyLogits, &to_f64(&x), &to_f64(&t), &[], 2, 3);
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "BCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
    // CCE logits and sparse CCE logits: rows [1e4, -1e4, 0] and [1e4, -1e4, 3].
    let t = [0.0f32, 1.0, 0.0, 0.0, 0.0, 1.0];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), &x, Target::Dense(&t), 2, 3, LossKind::CategoricalCrossentropyLogits).unwrap();
    let want = keras_loss(LossKind::CategoricalCrossentropyLogits, &to_f64(&x), &to_f64(&t), &[], 2, 3);
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "CCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
    // Gradient = (softmax − t) / N: (1, −1, 0) / 2 in the first row.
    assert!((g[0] - 0.5).abs() < 1e-6 && (g[1] + 0.5).abs() < 1e-6 && g[2].abs() < 1e-6, "{:?}", g);
    let labels = [1i32, 2];
    let mut g = [f32::NAN; 6];
    let l = loss_forward_backward(Some(&mut g), &x, Target::Sparse(&labels), 2, 3, LossKind::SparseCategoricalCrossentropyLogits).unwrap();
    assert!(l.is_finite() && (l as f64 - want).abs() <= 1e-6 * want, "sparse CCE logits {} vs {}", l, want);
    assert!(g.iter().all(|v| v.is_finite()), "{:?}", g);
}

/// Out-of-range sparse labels are an error naming the label and the row; the wrong kind of
/// target is an error too. (One test: the error detail is a single global buffer.)
#[test]
fn bad_targets_are_errors() {
    let pred = vec![0.25f32; 4 * 5];
    for &kind in &[LossKind::SparseCategoricalCrossentropy, LossKind::SparseCategoricalCrossentropyLogits] {
        for &(bad, row) in &[(5i32, 2usize), (-1, 0), (17, 3)] {
            let mut labels = vec![1i32, 4, 0, 2];
            labels[row] = bad;
            let mut g = vec![0.0f32; 20];
            let r = loss_forward_backward(Some(&mut g), &pred, Target::Sparse(&labels), 4, 5, kind);
            assert_eq!(r, Err(Status::IndexOutOfRange), "{:?} label {} at row {}", kind, bad, row);
            let msg = String::from_utf8_lossy(fastgru::status::detail()).to_string();
            assert!(msg.contains(&format!("label {}", bad)) && msg.contains(&format!("row {}", row)), "detail {:?} should name label {} and row {}", msg, bad, row);
        }
    }
    let labels = [0i32, 1, 2, 3];
    assert_eq!(loss_forward_backward(None, &pred, Target::Sparse(&labels), 4, 5, LossKind::MeanSquaredError), Err(Status::InvalidArgument));
    let dense = vec![0.0f32; 20];
    assert_eq!(loss_forward_backward(None, &pred, Target::Dense(&dense), 4, 5, LossKind::SparseCategoricalCrossentropy), Err(Status::InvalidArgument));
}
