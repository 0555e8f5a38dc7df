//! Checks the activations of GRU-CONVENTIONS.md §1 (σ, tanh, and the two hard-sigmoids it names:
//! Keras 2 / tfjs / ONNX `clip(0.2·x + 0.5, 0, 1)`, Keras 3 `relu6(x + 3) / 6`) and the `exp`
//! they are built on.
//!
//! Expected numbers: Rust's f64 `exp`/`tanh` (correctly rounded to well under 1e-15 on these
//! ranges) and the f64 formulas of §1, on a dense grid (every 1e-4 over [-20, 20]; FAST_TEST:
//! every 1e-3) plus a sweep over every 4099th f32 bit pattern (all finite magnitudes, subnormals,
//! ±0, ±f32::MAX). A native build runs the scalar twins; `kernels::activate` is the dispatch
//! point, so both are checked here and agree bit for bit.

mod common;

use common::fast;
use fastgru::kernels::activations::{
    activate_scalar, derivative, exp_scalar, hard_sigmoid_keras3_scalar, hard_sigmoid_scalar, scale_by_derivative, sigmoid_scalar, softmax_rows,
    tanh_scalar, Activation, EXP_MAX, EXP_MIN,
};
use fastgru::kernels::{activate, exp_inplace};
use fastgru::reference;

const ALL: [Activation; 6] = [Activation::Linear, Activation::Tanh, Activation::Sigmoid, Activation::HardSigmoid, Activation::HardSigmoidKeras3, Activation::Relu];

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The grid: every `step` over [-20, 20], as f32.
fn grid() -> Vec<f32> {
    let (n, step) = if fast() { (20_000i64, 1e-3) } else { (200_000i64, 1e-4) };
    (-n..=n).map(|i| (i as f64 * step) as f32).collect()
}

/// Special values: ±0, subnormals, tiny, the exp clamp edges, huge, ±f32::MAX.
fn specials() -> Vec<f32> {
    let mut v = vec![
        0.0,
        f32::from_bits(1),
        f32::from_bits(0x0000_8000),
        f32::MIN_POSITIVE / 2.0,
        f32::MIN_POSITIVE,
        1e-30,
        1e-10,
        1e-7,
        1e-4,
        0.5,
        1.0,
        2.5,
        3.0,
        9.0,
        20.5,
        43.5,
        44.0,
        44.5,
        50.0,
        86.9,
        87.0,
        87.1,
        88.0,
        88.5,
        88.7,
        89.0,
        100.0,
        1e4,
        1e10,
        1e30,
        f32::MAX,
    ];
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v
}

/// Every 4099th f32 bit pattern that is finite: ~1M values covering every exponent.
fn sweep() -> Vec<f32> {
    let stride = if fast() { 40_009u64 } else { 4_099 };
    (0..(1u64 << 32)).step_by(stride as usize).map(|b| f32::from_bits(b as u32)).filter(|x| x.is_finite()).collect()
}

fn applied(act: Activation, xs: &[f32]) -> Vec<f32> {
    let mut v = xs.to_vec();
    activate(act, &mut v);
    v
}

/// `activate` (the dispatch point) and the per-value scalar functions agree bit for bit.
#[test]
fn activate_matches_scalar_functions() {
    let mut xs = grid();
    xs.extend(specials());
    xs.extend(sweep());
    let pairs: [(Activation, fn(f32) -> f32); 5] = [
        (Activation::Tanh, tanh_scalar),
        (Activation::Sigmoid, sigmoid_scalar),
        (Activation::HardSigmoid, hard_sigmoid_scalar),
        (Activation::HardSigmoidKeras3, hard_sigmoid_keras3_scalar),
        (Activation::Relu, |x| x.max(0.0)),
    ];
    for &(act, f) in &pairs {
        let ys = applied(act, &xs);
        let mut ys2 = xs.clone();
        activate_scalar(act, &mut ys2);
        // Bit for bit, except the sign of a zero: `f32::max(-0.0, 0.0)` may return either zero
        // (it differs between rustc 1.63's vectorised loop and a lone call), and so may maxps.
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0);
        for ((&x, &y), &y2) in xs.iter().zip(&ys).zip(&ys2) {
            assert!(same(y, f(x)), "{:?}({}) via activate: {} vs {}", act, x, y, f(x));
            assert!(same(y2, f(x)), "{:?}({}) via activate_scalar: {} vs {}", act, x, y2, f(x));
        }
    }
    // Linear and Softmax are identities for the element-wise path.
    for &act in &[Activation::Linear, Activation::Softmax] {
        let ys = applied(act, &xs);
        assert!(ys.iter().zip(&xs).all(|(a, b)| a.to_bits() == b.to_bits()), "{:?} changed its input", act);
    }
    let mut e = xs.clone();
    exp_inplace(&mut e);
    for (&x, &y) in xs.iter().zip(&e) {
        assert_eq!(y.to_bits(), exp_scalar(x).to_bits(), "exp_inplace({})", x);
    }
}

/// σ and tanh within 2e-7 absolute of f64 on the dense grid, the specials and the bit sweep
/// (observed worst: 8.9e-8 for both).
#[test]
fn sigmoid_and_tanh_within_2e7_of_f64() {
    let mut xs = grid();
    xs.extend(specials());
    xs.extend(sweep());
    let mut worst = [(0.0f64, 0.0f32); 2];
    for (k, (act, f64fn)) in [(Activation::Sigmoid, sigmoid64 as fn(f64) -> f64), (Activation::Tanh, f64::tanh as fn(f64) -> f64)].iter().enumerate() {
        let ys = applied(*act, &xs);
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!(y.is_finite(), "{:?}({}) = {}", act, x, y);
            let e = (y as f64 - f64fn(x as f64)).abs();
            if e > worst[k].0 {
                worst[k] = (e, x);
            }
        }
        assert!(worst[k].0 <= 2e-7, "{:?}: error {:.3e} at x = {} exceeds 2e-7", act, worst[k].0, worst[k].1);
    }
    // Range and symmetry: σ in [0, 1], tanh in [-1, 1] and odd.
    let ys = applied(Activation::Sigmoid, &xs);
    assert!(ys.iter().all(|&y| (0.0..=1.0).contains(&y)));
    let ts = applied(Activation::Tanh, &xs);
    assert!(ts.iter().all(|&t| (-1.0..=1.0).contains(&t)));
    for (&x, &t) in xs.iter().zip(&ts) {
        if x != 0.0 {
            assert_eq!(tanh_scalar(-x), -t, "tanh is not odd at {}", x);
        }
    }
}

/// Units in the last place between an f32 and the f64 value it approximates.
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let ulp = (f32::from_bits(w.to_bits() + 1) - w) as f64;
    (got as f64 - want).abs() / ulp
}

/// exp within 2 ulp of f64 (observed: 0.99) on [-87, 88] (every 1e-4; FAST_TEST 1e-3), never Inf/NaN/negative for
/// finite input, saturating at e^88 above and e^-87 below.
#[test]
fn exp_accuracy_and_saturation() {
    let step = if fast() { 1e-3 } else { 1e-4 };
    let n = ((EXP_MAX - EXP_MIN) as f64 / step) as i64;
    let mut worst = (0.0f64, 0.0f32);
    for i in 0..=n {
        let x = (EXP_MIN as f64 + i as f64 * step) as f32;
        if x > EXP_MAX {
            break;
        }
        let u = ulps(exp_scalar(x), (x as f64).exp());
        if u > worst.0 {
            worst = (u, x);
        }
    }
    assert!(worst.0 <= 2.0, "exp: {:.2} ulp at x = {}", worst.0, worst.1);

    let top = exp_scalar(EXP_MAX);
    let bottom = exp_scalar(EXP_MIN);
    assert!(ulps(top, 88f64.exp()) <= 2.0 && ulps(bottom, (-87f64).exp()) <= 2.0);
    let mut xs = specials();
    xs.extend(sweep());
    for &x in &xs {
        let e = exp_scalar(x);
        assert!(e.is_finite() && e > 0.0, "exp({}) = {}", x, e);
        if x >= EXP_MAX {
            assert_eq!(e, top, "exp({}) should saturate at e^88", x);
        }
        if x <= EXP_MIN {
            assert_eq!(e, bottom, "exp({}) should saturate at e^-87", x);
        }
    }
}

/// The hard sigmoids follow their exact formulas (§1): within half an f32 ulp-ish (1.2e-7) of
/// the f64 formula, exactly 0 / 0.5 / 1 where the formula says so.
#[test]
fn hard_sigmoids_exact_formulas() {
    let mut xs = grid();
    xs.extend(specials());
    xs.extend(sweep());
    let k2 = applied(Activation::HardSigmoid, &xs);
    let k3 = applied(Activation::HardSigmoidKeras3, &xs);
    for ((&x, &a), &b) in xs.iter().zip(&k2).zip(&k3) {
        let xf = x as f64;
        let want2 = (0.2 * xf + 0.5).max(0.0).min(1.0);
        let want3 = (xf + 3.0).max(0.0).min(6.0) / 6.0;
        assert!((a as f64 - want2).abs() <= 1.2e-7, "hard_sigmoid({}) = {}, want {}", x, a, want2);
        assert!((b as f64 - want3).abs() <= 1.2e-7, "hard_sigmoid_keras3({}) = {}, want {}", x, b, want3);
        if x <= -2.5 {
            assert_eq!(a, 0.0, "hard_sigmoid({})", x);
        }
        if x >= 2.5 {
            assert_eq!(a, 1.0, "hard_sigmoid({})", x);
        }
        if x <= -3.0 {
            assert_eq!(b, 0.0, "hard_sigmoid_keras3({})", x);
        }
        if x >= 3.0 {
            assert_eq!(b, 1.0, "hard_sigmoid_keras3({})", x);
        }
    }
    assert_eq!(hard_sigmoid_scalar(0.0), 0.5);
    assert_eq!(hard_sigmoid_keras3_scalar(0.0), 0.5);
    // The two are different functions (§1: "name which one you mean").
    assert!((hard_sigmoid_scalar(1.0) - 0.7).abs() < 1e-7);
    assert!((hard_sigmoid_keras3_scalar(1.0) - 4.0 / 6.0).abs() < 1e-7);
    // ReLU and linear are exact.
    let r = applied(Activation::Relu, &xs);
    for (&x, &y) in xs.iter().zip(&r) {
        assert_eq!(y, if x > 0.0 { x } else { 0.0 });
    }
}

/// No NaN or Inf out of any activation for any finite input, including ±f32::MAX.
#[test]
fn finite_in_finite_out() {
    let mut xs = specials();
    xs.extend(sweep());
    for &act in &ALL {
        let ys = applied(act, &xs);
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!(y.is_finite(), "{:?}({}) = {}", act, x, y);
        }
    }
}

/// `derivative(act, y)` (from the forward's output) matches an f64 central difference of the f64
/// activation at x, away from the kinks of relu (0) and the hard sigmoids (±2.5, ±3).
#[test]
fn derivative_matches_f64_finite_differences() {
    let xs: Vec<f32> = grid().into_iter().step_by(7).collect();
    let h = 1e-5;
    for &act in &ALL {
        let kinks: &[f64] = match act {
            Activation::Relu => &[0.0],
            Activation::HardSigmoid => &[-2.5, 2.5],
            Activation::HardSigmoidKeras3 => &[-3.0, 3.0],
            _ => &[],
        };
        let ys = applied(act, &xs);
        let mut grads = vec![1.0f32; xs.len()];
        scale_by_derivative(act, &mut grads, &ys);
        for ((&x, &y), &g) in xs.iter().zip(&ys).zip(&grads) {
            let xf = x as f64;
            if kinks.iter().any(|k| (xf - k).abs() < 1e-3) {
                continue;
            }
            let fd = (reference::act(act, xf + h) - reference::act(act, xf - h)) / (2.0 * h);
            let d = derivative(act, y);
            assert!((d as f64 - fd).abs() <= 5e-7, "{:?}'({}) = {} from y = {}, finite difference {}", act, x, d, y, fd);
            assert_eq!(g.to_bits(), d.to_bits(), "scale_by_derivative({:?}) != derivative at {}", act, x);
            // And the reference's own act_grad (the GRU oracle's derivative) agrees.
            assert!((reference::act_grad(act, xf) - fd).abs() <= 1e-8, "reference::act_grad({:?}, {})", act, x);
        }
    }
}

/// Softmax over rows: within 2e-7 of f64, rows sum to 1, no overflow for huge logits.
#[test]
fn softmax_rows_against_f64() {
    let rows: Vec<Vec<f32>> = vec![
        vec![0.0],
        vec![1.0, 2.0, 3.0],
        vec![-1e4, 0.0, 1e4, 3.0],
        vec![1e30, 1e30, -1e30],
        vec![-5.0, -5.0, -5.0, -5.0, -5.0],
        (0..17).map(|i| (i as f32 * 0.37).sin() * 9.0).collect(),
    ];
    for row in &rows {
        let mut v = row.clone();
        softmax_rows(&mut v, row.len());
        let m = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let s: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
        for (&x, &y) in row.iter().zip(&v) {
            let want = (x as f64 - m).exp() / s;
            assert!((y as f64 - want).abs() <= 2e-7, "softmax {:?}: {} vs {}", row, y, want);
        }
        let total: f64 = v.iter().map(|&y| y as f64).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}

/// A NaN input gives NaN in every activation (scalar twins included), so a diverged network never
/// looks finite: the scalar clamps use comparisons that keep NaN, as the SIMD pmin/pmax do. ABI
/// inputs are checked finite, but intermediate values are not (a Dense relu whose x·W + b hits
/// Inf − Inf must stay NaN for the ABI's post-forward overflow check to see it).
#[test]
fn nan_input_gives_nan() {
    let mut wrong = Vec::new();
    if !exp_scalar(f32::NAN).is_nan() {
        wrong.push(format!("exp(NaN) = {:e}", exp_scalar(f32::NAN)));
    }
    for &act in &ALL {
        let y = applied(act, &[f32::NAN])[0];
        if !y.is_nan() {
            wrong.push(format!("{:?}(NaN) = {:e}", act, y));
        }
    }
    // The consequence at the ABI: Dense relu, x·W = 1e30·1e30 + 1e30·(−1e30) = Inf − Inf = NaN,
    // comes out as 0, so `dense_forward`'s overflow check (check_finite on y) passes.
    let mut y = [0.0f32; 1];
    let dims = fastgru::kernels::dense::DenseDims { rows: 1, input: 2, units: 1 };
    fastgru::kernels::dense::dense_forward(&mut y, &[1e30, 1e30], &[1e30, -1e30], None, &dims, Activation::Relu).unwrap();
    if !y[0].is_nan() {
        wrong.push(format!("Dense relu with x·W = Inf − Inf gives y = {} (the ABI's overflow check passes)", y[0]));
    }
    assert!(wrong.is_empty(), "NaN in, not NaN out: {}", wrong.join(", "));
}
