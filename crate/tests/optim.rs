//! Checks the optimizer updates of `kernels::optim` against Keras 3 (`keras/src/optimizers/`).
//!
//! Where the expected numbers come from:
//! - A naive f64 reference typed in below straight from each Keras 3 `update_step`:
//!   `sgd.py`, `rmsprop.py`, `adam.py` (+ `adamw.py`, which is Adam with a required weight decay),
//!   `adagrad.py`, `adadelta.py`, `adamax.py`, `nadam.py` (its `_backend_update_step` advances
//!   `_u_product` by u_t = β₁(1 − 0.5·0.96ᵗ) before the per-variable update), and from
//!   `base_optimizer.py`: `_apply_weight_decay` (`variable − variable·wd·lr`, before the update),
//!   `_clip_by_norm` (`g·c / max(‖g‖, c)` per tensor), `clip_by_global_norm`
//!   (`g · c·min(1/n, 1/c)`), clipvalue (`ops.clip(g, −c, c)`). Each optimizer and option combination
//!   runs 5 steps on n = 13 random parameters with fresh random gradients per step; parameters are
//!   compared at 1e-6 of their scale, and the parameter CHANGE and every moment buffer at 1e-5 of
//!   their own scale (so a wrong small term cannot hide under the parameters' magnitude).
//! - Keras' own golden tests (`keras/src/optimizers/*_test.py`, `test_single_step`,
//!   `test_correctness_with_golden`, `test_weight_decay`), numbers copied here with Keras'
//!   tolerances (rtol = atol = 1e-4 resp. 5e-4): outside truth for the reference above.

mod common;

use common::{close, report, to_f64, TestRng};
use fastgru::kernels::optim::*;
use fastgru::status::{KResult, Status};

const N: usize = 13;
const STEPS: u64 = 5;

#[derive(Clone, Copy, Debug)]
enum Opt {
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
    AdamW(AdamConfig),
    Adagrad(AdagradConfig),
    Adadelta(AdadeltaConfig),
    Adamax(AdamaxConfig),
    Nadam(NadamConfig),
}

/// Names of the moment buffers each optimizer keeps (all allocated; optional ones passed only
/// when the config needs them).
fn slots(opt: &Opt) -> &'static [&'static str] {
    match opt {
        Opt::Sgd(_) => &["momentums"],
        Opt::Rmsprop(_) => &["velocity", "momentums", "average_grads"],
        Opt::Adam(_) | Opt::AdamW(_) => &["m", "v", "vhat"],
        Opt::Adagrad(_) => &["accumulators"],
        Opt::Adadelta(_) => &["accumulated_grads", "accumulated_deltas"],
        Opt::Adamax(_) => &["m", "u"],
        Opt::Nadam(_) => &["m", "v"],
    }
}

fn initial_slot(opt: &Opt) -> f64 {
    match opt {
        Opt::Adagrad(c) => c.initial_accumulator_value,
        _ => 0.0,
    }
}

#[derive(Clone, Debug)]
struct State32 {
    p: Vec<f32>,
    s: Vec<Vec<f32>>,
    u_product: f64,
}

#[derive(Clone, Debug)]
struct State64 {
    p: Vec<f64>,
    s: Vec<Vec<f64>>,
    u_product: f64,
}

fn new_states(opt: &Opt, p0: &[f32]) -> (State32, State64) {
    let k = slots(opt).len();
    let s0 = initial_slot(opt);
    let mut acc = vec![0.0f32; p0.len()];
    if let Opt::Adagrad(c) = opt {
        adagrad_init(&mut acc, c); // the kernel's own init, checked against the f64 value below
    }
    let s32: Vec<Vec<f32>> = (0..k).map(|_| if matches!(opt, Opt::Adagrad(_)) { acc.clone() } else { vec![0.0; p0.len()] }).collect();
    (
        State32 { p: p0.to_vec(), s: s32, u_product: 1.0 },
        State64 { p: to_f64(p0), s: (0..k).map(|_| vec![s0; p0.len()]).collect(), u_product: 1.0 },
    )
}

fn opt_if(needed: bool, b: &mut [f32]) -> Option<&mut [f32]> {
    if needed {
        Some(b)
    } else {
        None
    }
}

/// One kernel step.
fn step32(opt: &Opt, st: &mut State32, g: &[f32], t: u64) -> KResult {
    let p = &mut st.p[..];
    match (opt, &mut st.s[..]) {
        (Opt::Sgd(c), [m]) => sgd_update(p, opt_if(c.momentum != 0.0, m), g, c),
        (Opt::Rmsprop(c), [v, m, a]) => rmsprop_update(p, v, opt_if(c.momentum > 0.0, m), opt_if(c.centered, a), g, c),
        (Opt::Adam(c), [m, v, h]) => adam_update(p, m, v, opt_if(c.amsgrad, h), g, c, t),
        (Opt::AdamW(c), [m, v, h]) => adamw_update(p, m, v, opt_if(c.amsgrad, h), g, c, t),
        (Opt::Adagrad(c), [a]) => adagrad_update(p, a, g, c),
        (Opt::Adadelta(c), [eg, ed]) => adadelta_update(p, eg, ed, g, c),
        (Opt::Adamax(c), [m, u]) => adamax_update(p, m, u, g, c, t),
        (Opt::Nadam(c), [m, v]) => nadam_update(p, m, v, &mut st.u_product, g, c, t),
        _ => unreachable!(),
    }
}

/// One reference step in f64, transcribed from the Keras 3 `update_step`s (comments quote them).
fn step64(opt: &Opt, st: &mut State64, g: &[f64], t: u64) {
    let t = t as f64;
    let n = st.p.len();
    let wd_lr = |p: f64, wd: f64, lr: f64| p - p * wd * lr; // base_optimizer._apply_weight_decay
    match (opt, &mut st.s[..]) {
        (Opt::Sgd(c), [m]) => {
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                st.p[i] = if c.momentum != 0.0 {
                    // m = m*momentum - g*lr; nesterov: p += m*momentum - g*lr; else p += m
                    m[i] = m[i] * c.momentum - g[i] * c.learning_rate;
                    if c.nesterov {
                        p + m[i] * c.momentum - g[i] * c.learning_rate
                    } else {
                        p + m[i]
                    }
                } else {
                    p - g[i] * c.learning_rate
                };
            }
        }
        (Opt::Rmsprop(c), [v, m, a]) => {
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                v[i] = c.rho * v[i] + (1.0 - c.rho) * g[i] * g[i];
                let den = if c.centered {
                    a[i] = c.rho * a[i] + (1.0 - c.rho) * g[i];
                    v[i] - a[i] * a[i] + c.epsilon
                } else {
                    v[i] + c.epsilon
                };
                let inc = c.learning_rate * g[i] / den.sqrt();
                st.p[i] = if c.momentum > 0.0 {
                    m[i] = c.momentum * m[i] + inc;
                    p - m[i]
                } else {
                    p - inc
                };
            }
        }
        (Opt::Adam(c), [m, v, h]) | (Opt::AdamW(c), [m, v, h]) => {
            // alpha = lr * sqrt(1 - beta_2_power) / (1 - beta_1_power)
            let alpha = c.learning_rate * (1.0 - c.beta_2.powf(t)).sqrt() / (1.0 - c.beta_1.powf(t));
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                m[i] += (g[i] - m[i]) * (1.0 - c.beta_1);
                v[i] += (g[i] * g[i] - v[i]) * (1.0 - c.beta_2);
                let vv = if c.amsgrad {
                    h[i] = h[i].max(v[i]);
                    h[i]
                } else {
                    v[i]
                };
                st.p[i] = p - m[i] * alpha / (vv.sqrt() + c.epsilon);
            }
        }
        (Opt::Adagrad(c), [acc]) => {
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                acc[i] += g[i] * g[i];
                st.p[i] = p - c.learning_rate * g[i] / (acc[i] + c.epsilon).sqrt();
            }
        }
        (Opt::Adadelta(c), [eg, ed]) => {
            let rms = |x: f64| (x + c.epsilon).sqrt();
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                eg[i] = c.rho * eg[i] + (1.0 - c.rho) * g[i] * g[i];
                let delta = -(rms(ed[i]) * g[i] / rms(eg[i]));
                ed[i] = c.rho * ed[i] + (1.0 - c.rho) * delta * delta;
                st.p[i] = p + c.learning_rate * delta;
            }
        }
        (Opt::Adamax(c), [m, u]) => {
            let b1p = c.beta_1.powf(t);
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                m[i] += (g[i] - m[i]) * (1.0 - c.beta_1);
                u[i] = (c.beta_2 * u[i]).max(g[i].abs());
                st.p[i] = p - c.learning_rate * m[i] / ((1.0 - b1p) * (u[i] + c.epsilon));
            }
        }
        (Opt::Nadam(c), [m, v]) => {
            // _backend_update_step: u_product *= beta_1 * (1 - 0.5 * 0.96 ** (iterations + 1))
            let u_t = c.beta_1 * (1.0 - 0.5 * 0.96f64.powf(t));
            let u_t_1 = c.beta_1 * (1.0 - 0.5 * 0.96f64.powf(t + 1.0));
            st.u_product *= u_t;
            let u_product_t = st.u_product;
            let u_product_t_1 = u_product_t * u_t_1;
            let beta_2_power = c.beta_2.powf(t);
            for i in 0..n {
                let p = wd_lr(st.p[i], c.weight_decay, c.learning_rate);
                m[i] += (g[i] - m[i]) * (1.0 - c.beta_1);
                v[i] += (g[i] * g[i] - v[i]) * (1.0 - c.beta_2);
                let m_hat = u_t_1 * m[i] / (1.0 - u_product_t_1) + (1.0 - u_t) * g[i] / (1.0 - u_product_t);
                let v_hat = v[i] / (1.0 - beta_2_power);
                st.p[i] = p - m_hat * c.learning_rate / (v_hat.sqrt() + c.epsilon);
            }
        }
        _ => unreachable!(),
    }
}

/// Every optimizer with every option combination, at learning rates large enough that the updates
/// are far above f32 rounding of the parameters.
fn grid() -> Vec<Opt> {
    let mut cases = Vec::new();
    for &wd in &[0.0, 0.05] {
        for &momentum in &[0.0, 0.9] {
            for &nesterov in &[false, true] {
                cases.push(Opt::Sgd(SgdConfig { learning_rate: 0.1, momentum, nesterov, weight_decay: wd }));
            }
        }
        for &momentum in &[0.0, 0.5] {
            for &centered in &[false, true] {
                cases.push(Opt::Rmsprop(RmspropConfig { learning_rate: 0.05, rho: 0.8, momentum, epsilon: 1e-6, centered, weight_decay: wd }));
            }
        }
        for &amsgrad in &[false, true] {
            cases.push(Opt::Adam(AdamConfig { learning_rate: 0.1, amsgrad, weight_decay: wd, ..AdamConfig::default() }));
        }
        cases.push(Opt::Adagrad(AdagradConfig { learning_rate: 0.1, weight_decay: wd, ..AdagradConfig::default() }));
        cases.push(Opt::Adadelta(AdadeltaConfig { learning_rate: 1.0, rho: 0.8, epsilon: 1e-6, weight_decay: wd }));
        cases.push(Opt::Adamax(AdamaxConfig { learning_rate: 0.1, weight_decay: wd, ..AdamaxConfig::default() }));
        cases.push(Opt::Nadam(NadamConfig { learning_rate: 0.1, weight_decay: wd, ..NadamConfig::default() }));
    }
    for &amsgrad in &[false, true] {
        cases.push(Opt::AdamW(AdamConfig { learning_rate: 0.1, amsgrad, ..AdamConfig::adamw() }));
    }
    cases
}

/// `|got − want| ≤ rel · max|want|` (relative to the array's own scale, however small).
fn close_own_scale(name: &str, got: &[f64], want: &[f64], rel: f64) -> Result<(), String> {
    let scale = want.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let tol = rel * scale + 1e-30;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs().is_nan() || (g - w).abs() > tol {
            return Err(format!("{}: element {} is {:e} but should be {:e} (tol {:.3e})", name, i, g, w, tol));
        }
    }
    Ok(())
}

fn compare(opt: &Opt, p0: &[f32], s32: &State32, s64: &State64) -> Result<(), String> {
    close("params", &s32.p, &s64.p, 1e-6)?;
    let d32: Vec<f64> = s32.p.iter().zip(p0).map(|(&a, &b)| a as f64 - b as f64).collect();
    let d64: Vec<f64> = s64.p.iter().zip(p0).map(|(&a, &b)| a - b as f64).collect();
    close_own_scale("params change", &d32, &d64, 1e-5)?;
    for (k, name) in slots(opt).iter().enumerate() {
        close_own_scale(name, &to_f64(&s32.s[k]), &s64.s[k], 1e-5)?;
    }
    if (s32.u_product - s64.u_product).abs() > 1e-12 {
        return Err(format!("u_product {} != {}", s32.u_product, s64.u_product));
    }
    Ok(())
}

#[test]
fn five_steps_match_the_keras_formulas_in_f64() {
    let cases = grid();
    let mut failures = Vec::new();
    for (ci, opt) in cases.iter().enumerate() {
        let mut rng = TestRng::new(1000 + ci as u64);
        let p0 = rng.vec(N, -1.0, 1.0);
        let (mut s32, mut s64) = new_states(opt, &p0);
        let mut result = Ok(());
        for t in 1..=STEPS {
            // Gradient magnitudes vary per step so AMSGrad's running max and Adamax's max matter.
            let scale = if t % 2 == 0 { 0.2 } else { 1.5 };
            let g = rng.vec(N, -scale, scale);
            if let Err(e) = step32(opt, &mut s32, &g, t) {
                result = Err(format!("step {} returned {:?}", t, e));
                break;
            }
            step64(opt, &mut s64, &to_f64(&g), t);
            result = compare(opt, &p0, &s32, &s64).map_err(|e| format!("after step {}: {}", t, e));
            if result.is_err() {
                break;
            }
        }
        if let Err(e) = result {
            failures.push(format!("{:?}: {}", opt, e));
        }
    }
    report("optimizer vs f64 Keras formulas", &failures, cases.len());
}

fn snapshot(st: &State32) -> (Vec<u32>, Vec<Vec<u32>>, u64) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    (bits(&st.p), st.s.iter().map(|s| bits(s)).collect(), st.u_product.to_bits())
}

#[test]
fn non_finite_gradient_is_rejected_and_changes_nothing() {
    let mut failures = Vec::new();
    let cases = grid();
    for (ci, opt) in cases.iter().enumerate() {
        for &bad in &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut rng = TestRng::new(2000 + ci as u64);
            let p0 = rng.vec(N, -1.0, 1.0);
            let (mut st, _) = new_states(opt, &p0);
            for t in 1..=2 {
                let g = rng.vec(N, -1.0, 1.0);
                step32(opt, &mut st, &g, t).unwrap();
            }
            let before = snapshot(&st);
            let mut g = rng.vec(N, -1.0, 1.0);
            g[N - 1] = bad; // the last element: the check must finish before any write
            let r = step32(opt, &mut st, &g, 3);
            if r != Err(Status::NonFinite) {
                failures.push(format!("{:?} with {}: returned {:?}", opt, bad, r));
            } else if snapshot(&st) != before {
                failures.push(format!("{:?} with {}: state changed", opt, bad));
            }
        }
    }
    report("non-finite gradients", &failures, cases.len() * 3);
}

#[test]
fn length_mismatch_is_rejected_and_changes_nothing() {
    let mut failures = Vec::new();
    let cases = grid();
    let mut count = 0;
    for opt in &cases {
        let p0 = TestRng::new(3).vec(N, -1.0, 1.0);
        let g = TestRng::new(4).vec(N, -1.0, 1.0);
        // Short gradients.
        {
            let (mut st, _) = new_states(opt, &p0);
            let before = snapshot(&st);
            let r = step32(opt, &mut st, &g[..N - 1], 1);
            count += 1;
            if r != Err(Status::ShapeMismatch) || snapshot(&st) != before {
                failures.push(format!("{:?} short grads: {:?}", opt, r));
            }
        }
        // Each moment buffer that this configuration uses, one float too long.
        for k in 0..slots(opt).len() {
            let used = match opt {
                Opt::Sgd(c) => c.momentum != 0.0,
                Opt::Rmsprop(c) => k == 0 || (k == 1 && c.momentum > 0.0) || (k == 2 && c.centered),
                Opt::Adam(c) | Opt::AdamW(c) => k < 2 || c.amsgrad,
                _ => true,
            };
            if !used {
                continue;
            }
            let (mut st, _) = new_states(opt, &p0);
            st.s[k].push(0.0);
            let before = snapshot(&st);
            let r = step32(opt, &mut st, &g, 1);
            count += 1;
            if r != Err(Status::ShapeMismatch) || snapshot(&st) != before {
                failures.push(format!("{:?} long {}: {:?}", opt, slots(opt)[k], r));
            }
        }
    }
    report("length mismatches", &failures, count);
}

#[test]
fn missing_buffers_step_zero_and_adamw_without_decay_are_invalid() {
    let mut p = vec![0.5f32; N];
    let mut a = vec![0.0f32; N];
    let mut b = vec![0.0f32; N];
    let g = vec![0.1f32; N];
    let sgd = SgdConfig { momentum: 0.9, ..SgdConfig::default() };
    assert_eq!(sgd_update(&mut p, None, &g, &sgd), Err(Status::InvalidArgument));
    let rms = RmspropConfig { momentum: 0.5, ..RmspropConfig::default() };
    assert_eq!(rmsprop_update(&mut p, &mut a, None, None, &g, &rms), Err(Status::InvalidArgument));
    let rms = RmspropConfig { centered: true, ..RmspropConfig::default() };
    assert_eq!(rmsprop_update(&mut p, &mut a, None, None, &g, &rms), Err(Status::InvalidArgument));
    let ams = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    assert_eq!(adam_update(&mut p, &mut a, &mut b, None, &g, &ams, 1), Err(Status::InvalidArgument));
    assert_eq!(adam_update(&mut p, &mut a, &mut b, None, &g, &AdamConfig::default(), 0), Err(Status::InvalidArgument));
    assert_eq!(adamw_update(&mut p, &mut a, &mut b, None, &g, &AdamConfig::default(), 1), Err(Status::InvalidArgument));
    assert_eq!(adamax_update(&mut p, &mut a, &mut b, &g, &AdamaxConfig::default(), 0), Err(Status::InvalidArgument));
    let mut u = 1.0;
    assert_eq!(nadam_update(&mut p, &mut a, &mut b, &mut u, &g, &NadamConfig::default(), 0), Err(Status::InvalidArgument));
    assert_eq!(u, 1.0);
    assert!(p.iter().all(|&x| x == 0.5) && a.iter().all(|&x| x == 0.0) && b.iter().all(|&x| x == 0.0));
}

// ------------------------------------------------------------------------------------------------
// Gradient transforms
// ------------------------------------------------------------------------------------------------

#[test]
fn clip_by_value_matches_ops_clip() {
    let mut rng = TestRng::new(5);
    let g0 = rng.vec(N, -3.0, 3.0);
    let mut g = g0.clone();
    clip_by_value(&mut g, 1.5);
    for (i, (&x, &y)) in g0.iter().zip(&g).enumerate() {
        assert_eq!(y, x.clamp(-1.5, 1.5), "element {}", i);
    }
    // Keras' test_clip_value: clipvalue=1 on [100, 100] -> [1, 1].
    let mut k = [100.0f32, 100.0];
    clip_by_value(&mut k, 1.0);
    assert_eq!(k, [1.0, 1.0]);
    // NaN survives (so the update still rejects it); ±inf is clipped; clipvalue ≤ 0 is a no-op.
    let mut s = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 2.0];
    clip_by_value(&mut s, 1.0);
    assert!(s[0].is_nan());
    assert_eq!(&s[1..], &[1.0, -1.0, 1.0]);
    let mut h = g0.clone();
    clip_by_value(&mut h, 0.0);
    assert_eq!(h, g0);
}

#[test]
fn clip_by_norm_matches_keras_per_tensor() {
    let mut rng = TestRng::new(6);
    let mut g0 = rng.vec(N, -1.0, 1.0);
    // Tensor 0 (4 floats) large, tensor 1 (5) small, tensor 2 (2) zero; floats 11..13 are a gap.
    g0[..4].iter_mut().for_each(|x| *x *= 10.0);
    g0[4..9].iter_mut().for_each(|x| *x *= 0.05);
    g0[9..11].iter_mut().for_each(|x| *x = 0.0);
    let tensors = [(0usize, 4usize), (4, 5), (9, 2)];
    let c = 2.0f64;
    let mut want = to_f64(&g0);
    for &(off, len) in &tensors {
        let norm = want[off..off + len].iter().map(|x| x * x).sum::<f64>().sqrt();
        want[off..off + len].iter_mut().for_each(|x| *x = *x * c / norm.max(c));
    }
    let mut g = g0.clone();
    clip_by_norm(&mut g, &tensors, c as f32).unwrap();
    close("clip_by_norm", &g, &want, 1e-6).unwrap();
    let norm0 = want[..4].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm0 - c).abs() < 1e-6, "the large tensor's norm is now {}", norm0);
    assert_eq!(&g[11..], &g0[11..], "the gap is left alone");
    assert!(g[9..11].iter().all(|&x| x == 0.0), "a zero tensor stays zero, not NaN");
    // Keras' test_clip_norm: clipnorm=1 on [100, 100] -> [√2/2, √2/2].
    let mut k = [100.0f32, 100.0];
    clip_by_norm(&mut k, &[(0, 2)], 1.0).unwrap();
    close("keras clip_norm", &k, &[0.5f64.sqrt(), 0.5f64.sqrt()], 1e-6).unwrap();
    // Ranges outside the buffer (also one whose end overflows) fail before any write.
    for bad in [[(0usize, 4usize), (10, 4)], [(0, 4), (usize::MAX, 2)]].iter() {
        let mut h = g0.clone();
        assert_eq!(clip_by_norm(&mut h, bad, 1.0), Err(Status::ShapeMismatch));
        assert_eq!(h, g0);
    }
    // clipnorm ≤ 0: no-op.
    let mut h = g0.clone();
    clip_by_norm(&mut h, &tensors, 0.0).unwrap();
    assert_eq!(h, g0);
}

#[test]
fn global_norm_and_global_clipping_match_keras() {
    let mut rng = TestRng::new(7);
    let g0 = rng.vec(N, -1.0, 1.0);
    let n64 = to_f64(&g0).iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((global_norm(&g0) - n64).abs() <= 1e-12 * n64);
    // Above the threshold: g · c/n.
    let c = (n64 / 3.0) as f32;
    let mut g = g0.clone();
    let n = clip_by_global_norm(&mut g, c);
    assert!((n - n64).abs() <= 1e-12 * n64);
    let want: Vec<f64> = to_f64(&g0).iter().map(|x| x * c as f64 * (1.0 / n64).min(1.0 / c as f64)).collect();
    close("clip_by_global_norm", &g, &want, 1e-6).unwrap();
    assert!((global_norm(&g) - c as f64).abs() < 1e-5 * c as f64);
    // Below the threshold (and at zero norm, and clipnorm ≤ 0): bit-for-bit unchanged.
    let mut h = g0.clone();
    clip_by_global_norm(&mut h, (n64 * 2.0) as f32);
    assert_eq!(h, g0);
    let mut z = vec![0.0f32; N];
    assert_eq!(clip_by_global_norm(&mut z, 1.0), 0.0);
    assert!(z.iter().all(|&x| x == 0.0));
    let mut h = g0.clone();
    clip_by_global_norm(&mut h, -1.0);
    assert_eq!(h, g0);
    // A non-finite norm makes every gradient NaN (Keras' `+ (use_norm - use_norm)`).
    let mut bad = g0.clone();
    bad[3] = f32::INFINITY;
    clip_by_global_norm(&mut bad, 1.0);
    assert!(bad.iter().all(|x| x.is_nan()));
}

#[test]
fn apply_weight_decay_matches_keras() {
    let mut rng = TestRng::new(8);
    let p0 = rng.vec(N, -2.0, 2.0);
    let mut p = p0.clone();
    apply_weight_decay(&mut p, 0.004, 0.5);
    let want: Vec<f64> = to_f64(&p0).iter().map(|x| x - x * 0.004 * 0.5).collect();
    close("weight decay", &p, &want, 1e-7).unwrap();
    let mut q = p0.clone();
    apply_weight_decay(&mut q, 0.0, 0.5);
    assert_eq!(q, p0);
}

// ------------------------------------------------------------------------------------------------
// Keras' own golden numbers (keras/src/optimizers/*_test.py)
// ------------------------------------------------------------------------------------------------

fn assert_all_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= tol + tol * w.abs(), "{}: element {} is {} but Keras gives {}", what, i, g, w);
    }
}

/// Keras `test_single_step`: vars [1, 2, 3, 4], grads [1, 6, 7, 2], learning_rate = 0.5, one step.
#[test]
fn keras_single_step() {
    let cases: [(Opt, [f64; 4]); 8] = [
        (Opt::Sgd(SgdConfig { learning_rate: 0.5, ..SgdConfig::default() }), [0.5, -1.0, -0.5, 3.0]),
        (Opt::Rmsprop(RmspropConfig { learning_rate: 0.5, ..RmspropConfig::default() }), [-0.5811, 0.4189, 1.4189, 2.4189]),
        (Opt::Adam(AdamConfig { learning_rate: 0.5, ..AdamConfig::default() }), [0.5, 1.5, 2.5, 3.5]),
        (Opt::AdamW(AdamConfig { learning_rate: 0.5, ..AdamConfig::adamw() }), [0.4980, 1.4960, 2.494, 3.492]),
        (Opt::Adagrad(AdagradConfig { learning_rate: 0.5, ..AdagradConfig::default() }), [0.5233, 1.5007, 2.5005, 3.5061]),
        (Opt::Adadelta(AdadeltaConfig { learning_rate: 0.5, ..AdadeltaConfig::default() }), [0.9993, 1.9993, 2.9993, 3.9993]),
        (Opt::Adamax(AdamaxConfig { learning_rate: 0.5, ..AdamaxConfig::default() }), [0.5, 1.5, 2.5, 3.5]),
        (Opt::Nadam(NadamConfig { learning_rate: 0.5, ..NadamConfig::default() }), [0.4686, 1.4686, 2.4686, 3.4686]),
    ];
    for (opt, want) in cases.iter() {
        let (mut st, _) = new_states(opt, &[1.0, 2.0, 3.0, 4.0]);
        step32(opt, &mut st, &[1.0, 6.0, 7.0, 2.0], 1).unwrap();
        assert_all_close(&format!("{:?}", opt), &st.p, want, 1e-4);
    }
}

/// Keras `test_weight_decay`: var = 2, zero gradient, lr = 1, weight_decay = 0.004, applied by
/// three optimizers in turn -> 2·0.996³ = 1.9760959 (to 6 decimals), for every optimizer.
#[test]
fn keras_weight_decay() {
    let wd = 0.004;
    let opts = [
        Opt::Sgd(SgdConfig { learning_rate: 1.0, weight_decay: wd, ..SgdConfig::default() }),
        Opt::Rmsprop(RmspropConfig { learning_rate: 1.0, weight_decay: wd, ..RmspropConfig::default() }),
        Opt::Adam(AdamConfig { learning_rate: 1.0, weight_decay: wd, ..AdamConfig::default() }),
        Opt::AdamW(AdamConfig { learning_rate: 1.0, ..AdamConfig::adamw() }),
        Opt::Adagrad(AdagradConfig { learning_rate: 1.0, weight_decay: wd, ..AdagradConfig::default() }),
        Opt::Adadelta(AdadeltaConfig { learning_rate: 1.0, weight_decay: wd, ..AdadeltaConfig::default() }),
        Opt::Adamax(AdamaxConfig { learning_rate: 1.0, weight_decay: wd, ..AdamaxConfig::default() }),
        Opt::Nadam(NadamConfig { learning_rate: 1.0, weight_decay: wd, ..NadamConfig::default() }),
    ];
    for opt in opts.iter() {
        let mut p = vec![2.0f32];
        for _ in 0..3 {
            // A fresh optimizer each time, as in the Keras test.
            let (mut st, _) = new_states(opt, &p);
            step32(opt, &mut st, &[0.0], 1).unwrap();
            p = st.p;
        }
        assert!((p[0] as f64 - 1.9760959).abs() < 1.5e-6, "{:?}: {}", opt, p[0]);
    }
}

/// Keras `test_correctness_with_golden`: x = ones(10); one step with gradients 0.01, then steps
/// with `arange(0.1, 1.1, 0.1)`; row i is x after step i + 1; rtol = atol = 5e-4.
#[test]
fn keras_correctness_with_golden() {
    fn tile(v: [f64; 5]) -> Vec<[f64; 10]> {
        v.iter().map(|&x| [x; 10]).collect()
    }
    let cases: Vec<(Opt, Vec<[f64; 10]>)> = vec![
        (
            // SGD(nesterov=True): momentum 0, so plain SGD at lr 0.01.
            Opt::Sgd(SgdConfig { nesterov: true, ..SgdConfig::default() }),
            vec![
                [0.9999; 10],
                [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
                [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
                [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
                [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599],
            ],
        ),
        (Opt::Rmsprop(RmspropConfig { centered: true, ..RmspropConfig::default() }), tile([0.9967, 0.9933, 0.9908, 0.9885, 0.9864])),
        (Opt::Adam(AdamConfig { amsgrad: true, ..AdamConfig::default() }), tile([0.999, 0.9982, 0.9974, 0.9965, 0.9955])),
        (
            Opt::AdamW(AdamConfig { learning_rate: 1.0, weight_decay: 0.5, epsilon: 2.0, ..AdamConfig::default() }),
            vec![
                [0.4998; 10],
                [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
                [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
                [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
                [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
            ],
        ),
        (
            Opt::Adagrad(AdagradConfig { learning_rate: 0.2, initial_accumulator_value: 0.3, epsilon: 1e-6, weight_decay: 0.0 }),
            vec![
                [0.9963; 10],
                [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
                [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
                [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
                [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825],
            ],
        ),
        (Opt::Adadelta(AdadeltaConfig { learning_rate: 1.0, rho: 0.8, epsilon: 1e-6, weight_decay: 0.0 }), tile([0.9978, 0.9947, 0.9915, 0.9882, 0.9849])),
        (
            Opt::Adamax(AdamaxConfig { learning_rate: 0.2, beta_1: 0.85, beta_2: 0.95, epsilon: 1e-6, weight_decay: 0.0 }),
            vec![
                [0.8; 10],
                [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
                [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
                [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
                [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126],
            ],
        ),
        (
            Opt::Nadam(NadamConfig { learning_rate: 0.5, beta_1: 0.5, beta_2: 0.67, epsilon: 1e-5, weight_decay: 0.0 }),
            vec![
                [0.4281; 10],
                [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
                [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
                [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
                [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455, -1.7454],
            ],
        ),
    ];
    let first = [0.01f32; 10];
    let grads: Vec<f32> = (1..=10).map(|k| (k as f64 * 0.1) as f32).collect();
    for (opt, golden) in cases.iter() {
        let (mut st, _) = new_states(opt, &[1.0; 10]);
        for (i, row) in golden.iter().enumerate() {
            let g: &[f32] = if i == 0 { &first } else { &grads };
            step32(opt, &mut st, g, i as u64 + 1).unwrap();
            assert_all_close(&format!("{:?} after step {}", opt, i + 1), &st.p, row, 5e-4);
        }
    }
}
