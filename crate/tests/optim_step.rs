//! `kernels::optim::apply_gradients`, one Keras `apply_gradients` step over many tensors, against
//! the per-tensor kernels it is made of (themselves checked against Keras 3 in `tests/optim.rs`).
//!
//! The reference for each step follows Keras 3 `base_optimizer.py` (`_backend_apply_gradients`):
//! `_clip_gradients` (`clipnorm`: `_clip_by_norm` per tensor; `global_clipnorm`:
//! `clip_by_global_norm` over the list; `clipvalue`: `ops.clip`), then per variable
//! `_apply_weight_decay` (skipped for variables in `exclude_from_weight_decay`) and `update_step`.
//! Here that is: the clip kernels on copies of the gradients (global: on their concatenation), then
//! one kernel call per tensor with its own moment buffers and the weight decay zeroed for tensors
//! left out. Same f32 operations in the same order, so results must agree BITWISE.

mod common;

use common::TestRng;
use fastgru::kernels::optim::*;
use fastgru::status::{self, Status};

/// Tensor lengths: a scalar, a ragged length, a "kernel" and a "bias"-like tensor, and an empty one.
const LENS: [usize; 5] = [1, 7, 24, 0, 9];
/// Weight-decay flags, mixed (as for a kernel and a bias left out).
const WD: [bool; 5] = [true, false, true, true, false];
const STEPS: u64 = 5;

fn updates() -> Vec<Update> {
    let wd = 0.05;
    vec![
        Update::Sgd(SgdConfig { learning_rate: 0.1, ..SgdConfig::default() }),
        Update::Sgd(SgdConfig { learning_rate: 0.1, momentum: 0.9, weight_decay: wd, ..SgdConfig::default() }),
        Update::Sgd(SgdConfig { learning_rate: 0.1, momentum: 0.8, nesterov: true, ..SgdConfig::default() }),
        Update::Rmsprop(RmspropConfig { learning_rate: 0.01, weight_decay: wd, ..RmspropConfig::default() }),
        Update::Rmsprop(RmspropConfig { learning_rate: 0.01, momentum: 0.5, ..RmspropConfig::default() }),
        Update::Rmsprop(RmspropConfig { learning_rate: 0.01, centered: true, ..RmspropConfig::default() }),
        Update::Rmsprop(RmspropConfig { learning_rate: 0.01, momentum: 0.5, centered: true, weight_decay: wd, ..RmspropConfig::default() }),
        Update::Adam(AdamConfig { learning_rate: 0.01, ..AdamConfig::default() }),
        Update::Adam(AdamConfig { learning_rate: 0.01, amsgrad: true, weight_decay: wd, ..AdamConfig::default() }),
        Update::AdamW(AdamConfig { learning_rate: 0.01, ..AdamConfig::adamw() }),
        Update::AdamW(AdamConfig { learning_rate: 0.01, amsgrad: true, weight_decay: 0.1, ..AdamConfig::default() }),
        Update::Adagrad(AdagradConfig { learning_rate: 0.1, weight_decay: wd, ..AdagradConfig::default() }),
        Update::Adadelta(AdadeltaConfig { learning_rate: 1.0, weight_decay: wd, ..AdadeltaConfig::default() }),
        Update::Adamax(AdamaxConfig { learning_rate: 0.01, weight_decay: wd, ..AdamaxConfig::default() }),
        Update::Nadam(NadamConfig { learning_rate: 0.01, ..NadamConfig::default() }),
        Update::Nadam(NadamConfig { learning_rate: 0.01, weight_decay: wd, ..NadamConfig::default() }),
    ]
}

fn clips() -> Vec<Clip> {
    // Thresholds near the gradients' norms, so some tensors are clipped and some are not.
    vec![Clip::None, Clip::Norm(1.0), Clip::GlobalNorm(2.5), Clip::Value(0.4), Clip::Norm(0.0)]
}

fn initial_state_value(u: &Update) -> f32 {
    match u {
        Update::Adagrad(c) => c.initial_accumulator_value as f32,
        _ => 0.0,
    }
}

fn with_wd(u: &Update, wd: f64) -> Update {
    match *u {
        Update::Sgd(c) => Update::Sgd(SgdConfig { weight_decay: wd, ..c }),
        Update::Rmsprop(c) => Update::Rmsprop(RmspropConfig { weight_decay: wd, ..c }),
        Update::Adam(c) | Update::AdamW(c) => Update::Adam(AdamConfig { weight_decay: wd, ..c }),
        Update::Adagrad(c) => Update::Adagrad(AdagradConfig { weight_decay: wd, ..c }),
        Update::Adadelta(c) => Update::Adadelta(AdadeltaConfig { weight_decay: wd, ..c }),
        Update::Adamax(c) => Update::Adamax(AdamaxConfig { weight_decay: wd, ..c }),
        Update::Nadam(c) => Update::Nadam(NadamConfig { weight_decay: wd, ..c }),
    }
}

/// The multi-tensor side: params and grads per tensor, one flat state, u_product.
struct Multi {
    p: Vec<Vec<f32>>,
    state: Vec<f32>,
    u: f64,
}

/// The reference side: params and OWN moment buffers per tensor, u_product.
struct Single {
    p: Vec<Vec<f32>>,
    s: Vec<Vec<Vec<f32>>>,
    u: f64,
}

fn multi_step(m: &mut Multi, grads: &mut [Vec<f32>], u: &Update, clip: Clip, t: u64) -> status::KResult<f64> {
    let mut tensors: Vec<ParamTensor> = m
        .p
        .iter_mut()
        .zip(grads.iter_mut())
        .zip(WD.iter())
        .map(|((p, g), &w)| ParamTensor { params: &mut p[..], grads: &mut g[..], weight_decay: w })
        .collect();
    apply_gradients(&mut tensors, &mut m.state, &mut m.u, u, clip, t)
}

fn single_step(s: &mut Single, grads: &[Vec<f32>], u: &Update, clip: Clip, t: u64) {
    let mut g: Vec<Vec<f32>> = grads.to_vec();
    match clip {
        Clip::None => {}
        Clip::Norm(c) => g.iter_mut().for_each(|g| {
            let n = g.len();
            clip_by_norm(g, &[(0, n)], c).unwrap()
        }),
        Clip::GlobalNorm(c) => {
            let mut flat: Vec<f32> = g.concat();
            clip_by_global_norm(&mut flat, c);
            let mut off = 0;
            for x in g.iter_mut() {
                let n = x.len();
                x.copy_from_slice(&flat[off..off + n]);
                off += n;
            }
        }
        Clip::Value(c) => g.iter_mut().for_each(|g| clip_by_value(g, c)),
    }
    let incoming = s.u;
    for i in 0..g.len() {
        let cfg = with_wd(u, if WD[i] { u.weight_decay() } else { 0.0 });
        let p = &mut s.p[i][..];
        let st = &mut s.s[i];
        let gi = &g[i][..];
        match (&cfg, &mut st[..]) {
            (Update::Sgd(c), []) => sgd_update(p, None, gi, c),
            (Update::Sgd(c), [m]) => sgd_update(p, Some(m), gi, c),
            (Update::Rmsprop(c), [v]) => rmsprop_update(p, v, None, None, gi, c),
            (Update::Rmsprop(c), [v, x]) => {
                if c.momentum > 0.0 {
                    rmsprop_update(p, v, Some(x), None, gi, c)
                } else {
                    rmsprop_update(p, v, None, Some(x), gi, c)
                }
            }
            (Update::Rmsprop(c), [v, m, a]) => rmsprop_update(p, v, Some(m), Some(a), gi, c),
            (Update::Adam(c), [m, v]) => adam_update(p, m, v, None, gi, c, t),
            (Update::Adam(c), [m, v, h]) => adam_update(p, m, v, Some(h), gi, c, t),
            (Update::Adagrad(c), [a]) => adagrad_update(p, a, gi, c),
            (Update::Adadelta(c), [eg, ed]) => adadelta_update(p, eg, ed, gi, c),
            (Update::Adamax(c), [m, uu]) => adamax_update(p, m, uu, gi, c, t),
            (Update::Nadam(c), [m, v]) => {
                let mut uu = incoming;
                let r = nadam_update(p, m, v, &mut uu, gi, c, t);
                s.u = uu;
                r
            }
            (c, st) => panic!("no reference for {:?} with {} buffers", c, st.len()),
        }
        .unwrap();
    }
}

fn setup(u: &Update, seed: u64) -> (Multi, Single, TestRng) {
    let mut rng = TestRng::new(seed);
    let p: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -1.0, 1.0)).collect();
    let total: usize = LENS.iter().sum();
    let r = u.state_regions().len();
    let s0 = initial_state_value(u);
    let multi = Multi { p: p.clone(), state: vec![s0; r * total], u: 1.0 };
    let single = Single { p, s: LENS.iter().map(|&n| vec![vec![s0; n]; r]).collect(), u: 1.0 };
    (multi, single, rng)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The multi-tensor state, region by region, cut back into per-tensor buffers.
fn split_state(state: &[f32], regions: usize) -> Vec<Vec<Vec<f32>>> {
    let total: usize = LENS.iter().sum();
    let mut off = 0;
    LENS.iter()
        .map(|&n| {
            let s = (0..regions).map(|k| state[k * total + off..k * total + off + n].to_vec()).collect();
            off += n;
            s
        })
        .collect()
}

#[test]
fn multi_tensor_step_equals_per_tensor_kernel_calls_bitwise() {
    let mut cases = 0;
    for (ui, u) in updates().iter().enumerate() {
        for (ci, &clip) in clips().iter().enumerate() {
            let (mut m, mut s, mut rng) = setup(u, 100 * ui as u64 + ci as u64);
            for t in 1..=STEPS {
                // Gradients of varied scale so clipping bites on some tensors and steps only.
                let scale = if t % 2 == 0 { 3.0 } else { 0.3 };
                let g: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -scale, scale)).collect();
                let mut gm = g.clone();
                let norm = multi_step(&mut m, &mut gm, u, clip, t).unwrap();
                single_step(&mut s, &g, u, clip, t);
                let flat: Vec<f32> = g.concat();
                assert_eq!(norm.to_bits(), global_norm(&flat).to_bits(), "{:?} {:?} step {}: global norm", u, clip, t);
                for i in 0..LENS.len() {
                    assert_eq!(bits(&m.p[i]), bits(&s.p[i]), "{:?} {:?} step {}: params of tensor {}", u, clip, t, i);
                }
                let regions = u.state_regions().len();
                let got = split_state(&m.state, regions);
                for i in 0..LENS.len() {
                    for k in 0..regions {
                        assert_eq!(bits(&got[i][k]), bits(&s.s[i][k]), "{:?} {:?} step {}: region {} of tensor {}", u, clip, t, u.state_regions()[k], i);
                    }
                }
                assert_eq!(m.u.to_bits(), s.u.to_bits(), "{:?}: u_product", u);
            }
            cases += 1;
        }
    }
    assert_eq!(cases, updates().len() * clips().len());
}

#[test]
fn gradients_are_clipped_in_place_and_the_norm_is_taken_before_clipping() {
    let u = Update::Sgd(SgdConfig::default());
    let (mut m, _, mut rng) = setup(&u, 7);
    let g: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -2.0, 2.0)).collect();
    let flat: Vec<f32> = g.concat();
    let n = global_norm(&flat);
    assert!(n > 1.0);
    let mut gm = g.clone();
    let got = multi_step(&mut m, &mut gm, &u, Clip::GlobalNorm(1.0), 1).unwrap();
    assert_eq!(got, n, "returned norm is the one before clipping");
    // The global norm spans all tensors: larger than any single tensor's.
    for x in &g {
        assert!(global_norm(x) < n);
    }
    let after = global_norm(&gm.concat());
    assert!((after - 1.0).abs() < 1e-6, "clipped global norm {}", after);
    // Per tensor: each tensor's norm ends up at most 1.
    let mut gm = g.clone();
    multi_step(&mut m, &mut gm, &u, Clip::Norm(1.0), 2).unwrap();
    for x in &gm {
        assert!(global_norm(x) <= 1.0 + 1e-6);
    }
}

#[test]
fn weight_decay_flag_selects_tensors() {
    // SGD with lr = 0.1, wd = 0.5 and zero gradients: flagged tensors shrink by 1 − 0.05, others stay.
    let u = Update::Sgd(SgdConfig { learning_rate: 0.1, weight_decay: 0.5, ..SgdConfig::default() });
    let (mut m, _, _) = setup(&u, 9);
    let p0 = m.p.clone();
    let mut g: Vec<Vec<f32>> = LENS.iter().map(|&n| vec![0.0; n]).collect();
    multi_step(&mut m, &mut g, &u, Clip::None, 1).unwrap();
    for i in 0..LENS.len() {
        for (a, b) in m.p[i].iter().zip(&p0[i]) {
            let want = if WD[i] { b - b * 0.5f32 * 0.1f32 } else { *b };
            assert_eq!(a.to_bits(), want.to_bits(), "tensor {}", i);
        }
    }
}

/// The error detail is one static buffer and the test harness runs tests on several threads:
/// tests that provoke errors and read the detail hold this lock.
static DETAIL_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn detail() -> String {
    String::from_utf8_lossy(status::detail()).into_owned()
}

#[test]
fn errors_leave_params_grads_state_and_u_product_untouched() {
    let _lock = DETAIL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    for u in updates() {
        for &clip in &clips() {
            for &bad in &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let (mut m, _, mut rng) = setup(&u, 31);
                for t in 1..=2 {
                    let mut g: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -1.0, 1.0)).collect();
                    multi_step(&mut m, &mut g, &u, clip, t).unwrap();
                }
                let mut g: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -3.0, 3.0)).collect();
                // The last element of the last tensor: every check must finish before any write.
                let last = LENS.len() - 1;
                let k = LENS[last] - 1;
                g[last][k] = bad;
                let before = (m.p.clone(), m.state.clone(), m.u, g.clone());
                let r = multi_step(&mut m, &mut g, &u, clip, 3);
                assert_eq!(r, Err(Status::NonFinite), "{:?} {:?} {}", u, clip, bad);
                let msg = detail();
                assert!(msg.starts_with(&format!("gradient of tensor {} has a non-finite value ({}) at flat index {}", last, bad, k)), "{}", msg);
                assert_eq!(m.p.iter().map(|p| bits(p)).collect::<Vec<_>>(), before.0.iter().map(|p| bits(p)).collect::<Vec<_>>(), "{:?} {:?}: params", u, clip);
                assert_eq!(bits(&m.state), bits(&before.1), "{:?} {:?}: state", u, clip);
                assert_eq!(m.u.to_bits(), before.2.to_bits());
                assert_eq!(g.iter().map(|p| bits(p)).collect::<Vec<_>>(), before.3.iter().map(|p| bits(p)).collect::<Vec<_>>(), "{:?} {:?}: grads", u, clip);
            }
        }
    }
}

#[test]
fn shape_step_and_adamw_errors_change_nothing() {
    let _lock = DETAIL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let adam = Update::Adam(AdamConfig::default());
    let check = |u: &Update, state_delta: isize, grads_short: bool, step: u64, want: Status, msg: &str| {
        let (mut m, _, mut rng) = setup(u, 5);
        let len = (m.state.len() as isize + state_delta) as usize;
        m.state.resize(len, 0.0);
        let mut g: Vec<Vec<f32>> = LENS.iter().map(|&n| rng.vec(n, -1.0, 1.0)).collect();
        if grads_short {
            g[2].pop();
        }
        let before = (m.p.clone(), bits(&m.state), g.clone());
        assert_eq!(multi_step(&mut m, &mut g, u, Clip::GlobalNorm(0.1), step), Err(want));
        assert!(detail().contains(msg), "{} does not contain {}", detail(), msg);
        assert_eq!(m.p, before.0);
        assert_eq!(bits(&m.state), before.1);
        assert_eq!(g, before.2);
    };
    check(&adam, -1, false, 1, Status::ShapeMismatch, "state: expected 2 regions [\"momentums\", \"velocities\"] of 41 floats");
    check(&adam, 1, false, 1, Status::ShapeMismatch, "= 82 floats, got 83");
    check(&adam, 0, true, 1, Status::ShapeMismatch, "tensors[2]: grads has 23 floats but params has 24");
    check(&adam, 0, false, 0, Status::InvalidArgument, "step: expected the 1-based iteration");
    check(&Update::AdamW(AdamConfig::default()), 0, false, 1, Status::InvalidArgument, "AdamW needs weight_decay > 0");
}

#[test]
fn state_regions_follow_the_config() {
    let n = |u: Update| u.state_regions().len();
    assert_eq!(n(Update::Sgd(SgdConfig::default())), 0);
    assert_eq!(n(Update::Sgd(SgdConfig { momentum: 0.9, ..SgdConfig::default() })), 1);
    assert_eq!(n(Update::Rmsprop(RmspropConfig::default())), 1);
    assert_eq!(n(Update::Rmsprop(RmspropConfig { momentum: 0.1, centered: true, ..RmspropConfig::default() })), 3);
    assert_eq!(n(Update::Adam(AdamConfig::default())), 2);
    assert_eq!(n(Update::AdamW(AdamConfig { amsgrad: true, ..AdamConfig::adamw() })), 3);
    assert_eq!(n(Update::Adagrad(AdagradConfig::default())), 1);
    assert_eq!(n(Update::Adadelta(AdadeltaConfig::default())), 2);
    assert_eq!(n(Update::Adamax(AdamaxConfig::default())), 2);
    assert_eq!(n(Update::Nadam(NadamConfig::default())), 2);
}
