//! Checks the GRU kernels against GRU-CONVENTIONS.md §1 (both cell forms, the update rule, the
//! two hard-sigmoids), §2 (Keras layout: kernel (D, 3H), recurrent (H, 3H), bias (2, 3H)
//! reset-after / (3H) reset-before, gate order [z | r | h]) and §5 (random weights, odd sizes,
//! fp32 at ~1e-5; gradients by central finite differences in float64 and against PyTorch).
//!
//! Where the expected numbers come from:
//! - `fastgru::reference::gru` (naive f64, written from §1) for the f32 kernels: forward at 1e-5,
//!   backward at 1e-4, relative to each array's scale (max(1, max|want|));
//! - the reference itself is pinned by outside truth twice: (a) central finite differences of its
//!   own forward (f64, eps 1e-6, tol 1e-6) on tiny sizes, for both forms, masks, go_backwards and
//!   h0; (b) `test/fixtures/torch_gru_reset_after.json`, PyTorch 1.13 `nn.GRU` float64 outputs and
//!   autograd gradients converted to Keras layout (made by `test/fixtures/make_torch_fixtures.py`,
//!   see test/fixtures/README.md), at 1e-10;
//! - Keras masking semantics (§3 "Masking differs") are checked directly: a masked step is
//!   equivalent to deleting it, y before the first valid step is 0, a fully masked row keeps h0.
//!
//! Kinks: relu and the hard sigmoids are not differentiable at 0 / ±2.5 / ±3. Weights and inputs
//! are small enough that pre-activations rarely come near ±2.5, and a central difference that
//! straddled a kink would show as an error of order eps·slope/eps = O(slope), far above the
//! tolerance; the seeds below are fixed, so these checks are deterministic and do not straddle.

mod common;

use common::json::Json;
use common::{close, close64, fast, report, to_f64, TestRng};
use fastgru::kernels::gru::{cache_len, gru_backward, gru_forward, gru_pack, packed_len, GruConfig, GruDims, GruGrads, GruOutputs, GruSeeds};
use fastgru::kernels::Activation;
use fastgru::reference::gru as rgru;

const ACTS: [Activation; 6] = [Activation::Tanh, Activation::Sigmoid, Activation::HardSigmoid, Activation::HardSigmoidKeras3, Activation::Relu, Activation::Linear];
const REC_ACTS: [Activation; 3] = [Activation::Sigmoid, Activation::HardSigmoid, Activation::HardSigmoidKeras3];

#[derive(Clone, Copy, Debug, PartialEq)]
enum MaskKind {
    NoMask,
    AllValid,
    /// Keras "pre" padding: each row's first p steps masked (at least one valid step).
    LeftPad,
    /// "post" padding: each row's last p steps masked.
    RightPad,
    /// Random valid/masked steps.
    Gapped,
    /// Gapped, with one row masked at every step.
    FullyMaskedRow,
}

const MASKS: [MaskKind; 6] = [MaskKind::NoMask, MaskKind::AllValid, MaskKind::LeftPad, MaskKind::RightPad, MaskKind::Gapped, MaskKind::FullyMaskedRow];

#[derive(Clone, Copy, Debug)]
struct Case {
    dims: GruDims,
    cfg: GruConfig,
    h0: bool,
    bias: bool,
    mask: MaskKind,
    dy: bool,
    dy_last: bool,
    dh_last: bool,
    /// Ask for dx / dh0 / dbias (dbias may be asked for even without a bias: gradient at zero).
    want_dx: bool,
    want_dh0: bool,
    want_dbias: bool,
    seed: u64,
    /// Recurrent dropout masks (3, B, H), drawn from their own stream so other data is unchanged.
    rec_drop: bool,
}

/// Inputs, weights and seeds of one case, in f32 (what the kernels get).
struct Data {
    x: Vec<f32>,
    h0: Option<Vec<f32>>,
    mask: Option<Vec<u8>>,
    kernel: Vec<f32>,
    recurrent: Vec<f32>,
    bias: Option<Vec<f32>>,
    dy: Option<Vec<f32>>,
    dy_last: Option<Vec<f32>>,
    dh_last: Option<Vec<f32>>,
    /// (3, B, H) [m_z; m_r; m_h], each 0 or 1/(1 − rate).
    rec_mask: Option<Vec<f32>>,
}

fn make_mask(rng: &mut TestRng, kind: MaskKind, b: usize, t: usize) -> Option<Vec<u8>> {
    // Any nonzero byte means valid.
    let valid_byte = |rng: &mut TestRng| 1 + rng.below(255) as u8;
    let mut m = vec![0u8; b * t];
    match kind {
        MaskKind::NoMask => return None,
        MaskKind::AllValid => m.iter_mut().for_each(|v| *v = valid_byte(rng)),
        MaskKind::LeftPad | MaskKind::RightPad => {
            for row in 0..b {
                let p = if row == 0 { t - 1 } else { rng.below(t) };
                for s in 0..t {
                    let masked = if kind == MaskKind::LeftPad { s < p } else { s >= t - p };
                    m[row * t + s] = if masked { 0 } else { valid_byte(rng) };
                }
            }
        }
        MaskKind::Gapped | MaskKind::FullyMaskedRow => {
            for v in m.iter_mut() {
                *v = if rng.chance(0.6) { valid_byte(rng) } else { 0 };
            }
            if kind == MaskKind::FullyMaskedRow {
                let row = rng.below(b);
                m[row * t..(row + 1) * t].iter_mut().for_each(|v| *v = 0);
            }
        }
    }
    Some(m)
}

fn make_data(c: &Case) -> Data {
    let GruDims { batch: b, time: t, input: d, units: h } = c.dims;
    let g = 3 * h;
    let mut rng = TestRng::new(c.seed);
    let ks = 1.2 / (d as f64).sqrt();
    let us = 1.2 / (h as f64).sqrt();
    Data {
        x: rng.vec(b * t * d, -1.0, 1.0),
        h0: if c.h0 { Some(rng.vec(b * h, -0.8, 0.8)) } else { None },
        mask: make_mask(&mut rng, c.mask, b, t),
        kernel: rng.vec(d * g, -ks, ks),
        recurrent: rng.vec(h * g, -us, us),
        bias: if c.bias { Some(rng.vec(if c.cfg.reset_after { 2 * g } else { g }, -0.5, 0.5)) } else { None },
        dy: if c.dy { Some(rng.vec(b * t * h, -1.0, 1.0)) } else { None },
        dy_last: if c.dy_last { Some(rng.vec(b * h, -1.0, 1.0)) } else { None },
        dh_last: if c.dh_last { Some(rng.vec(b * h, -1.0, 1.0)) } else { None },
        rec_mask: if c.rec_drop { Some(make_rec_mask(c.seed, b, h)) } else { None },
    }
}

/// Three independent (B, H) dropout masks as Keras draws them (`backend.random.dropout` of ones):
/// 0 with probability `rate`, else 1/(1 − rate); the rate is 0.25 or 0.5 by seed.
fn make_rec_mask(seed: u64, b: usize, h: usize) -> Vec<f32> {
    let mut rng = TestRng::new(seed ^ 0x0D20_90D2);
    let rate = if rng.chance(0.5) { 0.25 } else { 0.5 };
    (0..3 * b * h).map(|_| if rng.chance(rate) { 0.0 } else { (1.0 / (1.0 - rate)) as f32 }).collect()
}

/// `gru_pack` into a NaN-filled buffer: every float the forward reads must have been written
/// (bias-less packing included), so any NaN left over is a bug.
fn pack(c: &Case, data: &Data) -> Result<Vec<f32>, String> {
    let GruDims { input: d, units: h, .. } = c.dims;
    let mut packed = vec![f32::NAN; packed_len(d, h, c.cfg.reset_after)];
    gru_pack(&mut packed, &data.kernel, &data.recurrent, data.bias.as_deref(), d, h, c.cfg.reset_after);
    if let Some(i) = packed.iter().position(|v| !v.is_finite()) {
        return Err(format!("gru_pack left float {} of {} unwritten", i, packed.len()));
    }
    Ok(packed)
}

struct KernelForward {
    y: Option<Vec<f32>>,
    y_last: Vec<f32>,
    h_last: Vec<f32>,
    cache: Option<Vec<f32>>,
}

/// Runs `gru_forward` with NaN-filled outputs (each must be fully written).
fn kernel_forward(c: &Case, data: &Data, packed: &[f32], training: bool, want_y: bool) -> Result<KernelForward, String> {
    let GruDims { batch: b, time: t, units: h, .. } = c.dims;
    let mut y = if want_y { Some(vec![f32::NAN; b * t * h]) } else { None };
    let mut y_last = vec![f32::NAN; b * h];
    let mut h_last = vec![f32::NAN; b * h];
    let mut cache = if training { Some(vec![f32::NAN; cache_len(&c.dims)]) } else { None };
    let outs = GruOutputs { y: y.as_deref_mut(), y_last: &mut y_last, h_last: &mut h_last, cache: cache.as_deref_mut() };
    gru_forward(outs, &data.x, data.h0.as_deref(), data.mask.as_deref(), data.rec_mask.as_deref(), packed, &c.dims, &c.cfg).map_err(|s| format!("gru_forward returned {:?}", s))?;
    let all_finite = |name: &str, v: &[f32]| match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(format!("forward left {}[{}] = {}", name, i, v[i])),
        None => Ok(()),
    };
    if let Some(y) = &y {
        all_finite("y", y)?;
    }
    all_finite("y_last", &y_last)?;
    all_finite("h_last", &h_last)?;
    if let Some(cache) = &cache {
        all_finite("cache", cache)?;
    }
    Ok(KernelForward { y, y_last, h_last, cache })
}

fn ref_weights<'a>(kernel: &'a [f64], recurrent: &'a [f64], bias: Option<&'a [f64]>) -> rgru::RefWeights<'a> {
    rgru::RefWeights { kernel, recurrent, bias }
}

/// Everything the f32 kernels must reproduce: forward, then backward with accumulation.
fn check_case(c: &Case) -> Result<(), String> {
    let GruDims { batch: b, time: t, input: d, units: h } = c.dims;
    let g = 3 * h;
    let data = make_data(c);
    let packed = pack(c, &data)?;

    // f64 reference.
    let (x64, k64, u64_) = (to_f64(&data.x), to_f64(&data.kernel), to_f64(&data.recurrent));
    let h064 = data.h0.as_ref().map(|v| to_f64(v));
    let b64 = data.bias.as_ref().map(|v| to_f64(v));
    let rm64 = data.rec_mask.as_ref().map(|v| to_f64(v));
    let w = ref_weights(&k64, &u64_, b64.as_deref());
    let want = rgru::gru_forward(&x64, h064.as_deref(), data.mask.as_deref(), rm64.as_deref(), &w, &c.dims, &c.cfg);

    // Forward, training (cache) and inference (no cache, no y): identical outputs.
    let train = kernel_forward(c, &data, &packed, true, true)?;
    let infer = kernel_forward(c, &data, &packed, false, false)?;
    let infer_y = kernel_forward(c, &data, &packed, false, true)?;
    close("y", train.y.as_ref().unwrap(), &want.y, 1e-5)?;
    close("y_last", &train.y_last, &want.y_last, 1e-5)?;
    close("h_last", &train.h_last, &want.h_last, 1e-5)?;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(&train.y_last) != bits(&infer.y_last) || bits(&train.h_last) != bits(&infer.h_last) {
        return Err("inference (no cache, no y) and training outputs differ".into());
    }
    if bits(train.y.as_ref().unwrap()) != bits(infer_y.y.as_ref().unwrap()) || bits(&infer_y.h_last) != bits(&train.h_last) {
        return Err("inference (no cache, with y) and training outputs differ".into());
    }
    // Training without y fills the same cache (backward must not depend on whether y was asked for).
    let train_no_y = kernel_forward(c, &data, &packed, true, false)?;
    if bits(train_no_y.cache.as_ref().unwrap()) != bits(train.cache.as_ref().unwrap()) || bits(&train_no_y.h_last) != bits(&train.h_last) {
        return Err("training with and without y fill different caches".into());
    }

    // Backward: gradients pre-filled with random values; the kernel must add into them.
    let mut rng = TestRng::new(c.seed ^ 0xD1CE);
    let dbias_len = if c.cfg.reset_after { 2 * g } else { g };
    let pre_dx = rng.vec(b * t * d, -1.0, 1.0);
    let pre_dh0 = rng.vec(b * h, -1.0, 1.0);
    let pre_dk = rng.vec(d * g, -1.0, 1.0);
    let pre_du = rng.vec(h * g, -1.0, 1.0);
    let pre_db = rng.vec(dbias_len, -1.0, 1.0);
    let (mut dx, mut dh0, mut dk, mut du, mut db) = (pre_dx.clone(), pre_dh0.clone(), pre_dk.clone(), pre_du.clone(), pre_db.clone());
    let grads = GruGrads {
        dx: if c.want_dx { Some(&mut dx) } else { None },
        dh0: if c.want_dh0 { Some(&mut dh0) } else { None },
        dkernel: &mut dk,
        drecurrent: &mut du,
        dbias: if c.want_dbias { Some(&mut db) } else { None },
    };
    let seeds = GruSeeds { dy: data.dy.as_deref(), dy_last: data.dy_last.as_deref(), dh_last: data.dh_last.as_deref() };
    let cache = train.cache.as_ref().unwrap();
    gru_backward(grads, seeds, cache, &data.x, data.mask.as_deref(), data.rec_mask.as_deref(), &data.kernel, &data.recurrent, &c.dims, &c.cfg).map_err(|s| format!("gru_backward returned {:?}", s))?;

    let dy64 = data.dy.as_ref().map(|v| to_f64(v));
    let dyl64 = data.dy_last.as_ref().map(|v| to_f64(v));
    let dhl64 = data.dh_last.as_ref().map(|v| to_f64(v));
    let rg = rgru::gru_backward(dy64.as_deref(), dyl64.as_deref(), dhl64.as_deref(), &x64, h064.as_deref(), data.mask.as_deref(), rm64.as_deref(), &w, &c.dims, &c.cfg);
    // got − prefill, in f64 (the prefill's own rounding is far below the tolerance).
    let delta = |got: &[f32], pre: &[f32]| -> Vec<f32> { got.iter().zip(pre).map(|(a, b)| (*a as f64 - *b as f64) as f32).collect() };
    let unchanged = |name: &str, got: &[f32], pre: &[f32]| -> Result<(), String> {
        if bits(got) != bits(pre) {
            return Err(format!("{} was not requested but changed", name));
        }
        Ok(())
    };
    if c.want_dx {
        close("dx", &delta(&dx, &pre_dx), &rg.dx, 1e-4)?;
    } else {
        unchanged("dx", &dx, &pre_dx)?;
    }
    if c.want_dh0 {
        close("dh0", &delta(&dh0, &pre_dh0), &rg.dh0, 1e-4)?;
    } else {
        unchanged("dh0", &dh0, &pre_dh0)?;
    }
    close("dkernel", &delta(&dk, &pre_dk), &rg.dkernel, 1e-4)?;
    close("drecurrent", &delta(&du, &pre_du), &rg.drecurrent, 1e-4)?;
    if c.want_dbias {
        close("dbias", &delta(&db, &pre_db), &rg.dbias, 1e-4)?;
    } else {
        unchanged("dbias", &db, &pre_db)?;
    }
    Ok(())
}

fn cfg(reset_after: bool, go_backwards: bool, activation: Activation, recurrent_activation: Activation) -> GruConfig {
    GruConfig { reset_after, go_backwards, activation, recurrent_activation, clip: None }
}

fn dims(batch: usize, time: usize, input: usize, units: usize) -> GruDims {
    GruDims { batch, time, input, units }
}

/// A random case: sizes batch 1..=5, time 1..=7, input 1..=9, units 1..=17.
fn random_case(rng: &mut TestRng) -> Case {
    let dims = dims(rng.int(1, 5), rng.int(1, 7), rng.int(1, 9), rng.int(1, 17));
    let cfg = cfg(rng.chance(0.5), rng.chance(0.5), ACTS[rng.below(6)], REC_ACTS[rng.below(3)]);
    let bias = rng.chance(0.7);
    Case {
        dims,
        cfg,
        h0: rng.chance(0.5),
        bias,
        mask: MASKS[rng.below(MASKS.len())],
        dy: rng.chance(0.75),
        dy_last: rng.chance(0.75),
        dh_last: rng.chance(0.75),
        want_dx: rng.chance(0.8),
        want_dh0: rng.chance(0.8),
        want_dbias: if bias { rng.chance(0.9) } else { rng.chance(0.3) },
        seed: rng.next_u64(),
        rec_drop: false,
    }
}

fn run_cases(what: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let r = std::panic::catch_unwind(|| check_case(c));
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{} -- {:?}", e, c)),
            Err(_) => failures.push(format!("PANIC -- {:?}", c)),
        }
    }
    report(what, &failures, cases.len());
}

/// Every structural combination: form × go_backwards × h0 × bias × mask kind, random sizes.
#[test]
fn forms_directions_h0_bias_masks() {
    let mut rng = TestRng::new(10);
    let mut cases = Vec::new();
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &h0 in &[false, true] {
                for &bias in &[false, true] {
                    for &mask in &MASKS {
                        let mut c = random_case(&mut rng);
                        c.cfg.reset_after = reset_after;
                        c.cfg.go_backwards = go_backwards;
                        c.h0 = h0;
                        c.bias = bias;
                        c.want_dbias = bias;
                        c.mask = mask;
                        (c.dy, c.dy_last, c.dh_last) = (true, true, true);
                        (c.want_dx, c.want_dh0) = (true, true);
                        cases.push(c);
                    }
                }
            }
        }
    }
    if fast() {
        cases = cases.into_iter().step_by(3).collect();
    }
    run_cases("structural grid", &cases);
}

/// Every activation × recurrent activation pair, both forms, a gapped mask and go_backwards.
#[test]
fn every_activation_pair() {
    let mut rng = TestRng::new(11);
    let mut cases = Vec::new();
    for &act in &ACTS {
        for &rec in &REC_ACTS {
            for &reset_after in &[true, false] {
                let mut c = random_case(&mut rng);
                c.cfg = cfg(reset_after, rng.chance(0.5), act, rec);
                c.mask = if rng.chance(0.5) { MaskKind::Gapped } else { MaskKind::LeftPad };
                cases.push(c);
            }
        }
    }
    run_cases("activation pairs", &cases);
}

/// Random ragged sizes and configurations (each seed None sometimes).
#[test]
fn random_ragged_cases() {
    let mut rng = TestRng::new(12);
    let n = if fast() { 100 } else { 2000 };
    let cases: Vec<Case> = (0..n).map(|_| random_case(&mut rng)).collect();
    run_cases("random ragged cases", &cases);
}

/// Each seed alone (dy only, dy_last only, dh_last only) and none at all (all gradients zero).
#[test]
fn each_seed_alone() {
    let mut rng = TestRng::new(13);
    let mut cases = Vec::new();
    for &(dy, dy_last, dh_last) in &[(true, false, false), (false, true, false), (false, false, true), (false, false, false)] {
        for &mask in &[MaskKind::NoMask, MaskKind::FullyMaskedRow, MaskKind::RightPad] {
            for &reset_after in &[true, false] {
                let mut c = random_case(&mut rng);
                c.cfg.reset_after = reset_after;
                c.mask = mask;
                (c.dy, c.dy_last, c.dh_last) = (dy, dy_last, dh_last);
                (c.want_dx, c.want_dh0) = (true, true);
                cases.push(c);
            }
        }
    }
    run_cases("single seeds", &cases);
}

/// Regression: input width 1 and units 1 make the weight gradients' Xᵀ a (1, B·T) view of a
/// column vector (`cs == 1`, `rs == 1`). The committed gemm (34f6ae4) sent that view to
/// `gemm_packed` with lda = 1 < k and panicked (`assert!(lda >= k)`): every GRU with one input
/// feature (a univariate series) trapped in backward. Also units 2 and 4 (multiples of nothing
/// and of the lane width) around it.
#[test]
fn input_1_and_units_1() {
    let mut rng = TestRng::new(14);
    let mut cases = Vec::new();
    for &(d, h) in &[(1usize, 1usize), (1, 5), (1, 8), (3, 1), (1, 2), (2, 1), (7, 4)] {
        for &reset_after in &[true, false] {
            for &mask in &[MaskKind::NoMask, MaskKind::Gapped] {
                let mut c = random_case(&mut rng);
                c.dims = dims(rng.int(2, 4), rng.int(2, 6), d, h);
                c.cfg.reset_after = reset_after;
                c.mask = mask;
                cases.push(c);
            }
        }
    }
    run_cases("input width 1 / units 1", &cases);
}

/// Backward accumulates across calls: two calls add twice the gradient.
#[test]
fn backward_twice_adds_twice() {
    let c = Case {
        dims: dims(3, 5, 4, 7),
        cfg: cfg(false, true, Activation::Tanh, Activation::Sigmoid),
        h0: true,
        bias: true,
        mask: MaskKind::Gapped,
        dy: true,
        dy_last: true,
        dh_last: true,
        want_dx: true,
        want_dh0: true,
        want_dbias: true,
        seed: 77,
        rec_drop: false,
    };
    let data = make_data(&c);
    let packed = pack(&c, &data).unwrap();
    let f = kernel_forward(&c, &data, &packed, true, true).unwrap();
    let g = 3 * 7;
    let mut once: Vec<Vec<f32>> = vec![vec![0.0; 3 * 5 * 4], vec![0.0; 3 * 7], vec![0.0; 4 * g], vec![0.0; 7 * g], vec![0.0; g]];
    let mut twice = once.clone();
    for (bufs, n) in [(&mut once, 1), (&mut twice, 2)] {
        for _ in 0..n {
            let (a, rest) = bufs.split_at_mut(1);
            let (b_, rest) = rest.split_at_mut(1);
            let (k, rest) = rest.split_at_mut(1);
            let (u, bb) = rest.split_at_mut(1);
            let grads = GruGrads { dx: Some(&mut a[0]), dh0: Some(&mut b_[0]), dkernel: &mut k[0], drecurrent: &mut u[0], dbias: Some(&mut bb[0]) };
            let seeds = GruSeeds { dy: data.dy.as_deref(), dy_last: data.dy_last.as_deref(), dh_last: data.dh_last.as_deref() };
            gru_backward(grads, seeds, f.cache.as_ref().unwrap(), &data.x, data.mask.as_deref(), data.rec_mask.as_deref(), &data.kernel, &data.recurrent, &c.dims, &c.cfg).unwrap();
        }
    }
    for (o, t) in once.iter().zip(&twice) {
        for (a, b) in o.iter().zip(t) {
            assert!((2.0 * a - b).abs() <= 1e-6 * (1.0 + b.abs()), "twice {} != 2 × once {}", b, a);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Keras masking semantics (§3 "Masking differs"), checked without the reference.

/// With a mask whose first steps are masked and a nonzero h0: y at the leading masked steps is 0,
/// a fully masked row keeps h0 as h_last and has y = 0 and y_last = 0 throughout, masked steps in
/// the middle repeat the previous output, and y_last equals h_last for a row with a valid step.
/// Checked for both forms and both directions (go_backwards reads the mask from the end, so its
/// leading steps in processing order are the mask's LAST ones).
#[test]
fn keras_masking_semantics() {
    let (b, t, d, h) = (4, 6, 3, 5);
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            // Rows in input-time order; go_backwards processes t = T−1 first.
            let rows: [[u8; 6]; 4] = if go_backwards {
                [[1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 1, 0]]
            } else {
                [[0, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 1, 0]]
            };
            let mask: Vec<u8> = rows.iter().flatten().copied().collect();
            let c = Case {
                dims: dims(b, t, d, h),
                cfg: cfg(reset_after, go_backwards, Activation::Tanh, Activation::Sigmoid),
                h0: true,
                bias: true,
                mask: MaskKind::NoMask,
                dy: false,
                dy_last: false,
                dh_last: false,
                want_dx: false,
                want_dh0: false,
                want_dbias: false,
                seed: 5,
                rec_drop: false,
            };
            let mut data = make_data(&c);
            data.mask = Some(mask.clone());
            let packed = pack(&c, &data).unwrap();
            let f = kernel_forward(&c, &data, &packed, true, true).unwrap();
            let y = f.y.unwrap();
            let h0 = data.h0.as_ref().unwrap();
            let yrow = |row: usize, s: usize| &y[(row * t + s) * h..(row * t + s + 1) * h];
            let valid = |row: usize, s: usize| mask[row * t + if go_backwards { t - 1 - s } else { s }] != 0;
            let tag = format!("reset_after={} go_backwards={}", reset_after, go_backwards);
            for row in 0..b {
                let first = (0..t).find(|&s| valid(row, s));
                for s in 0..t {
                    match first {
                        Some(f0) if s >= f0 => {
                            if !valid(row, s) {
                                assert_eq!(yrow(row, s), yrow(row, s - 1), "{}: row {} step {} masked: y must repeat", tag, row, s);
                            }
                        }
                        _ => assert!(yrow(row, s).iter().all(|&v| v == 0.0), "{}: row {} step {} before any valid step: y must be 0", tag, row, s),
                    }
                }
                let hl = &f.h_last[row * h..(row + 1) * h];
                let yl = &f.y_last[row * h..(row + 1) * h];
                if first.is_none() {
                    assert_eq!(hl, &h0[row * h..(row + 1) * h], "{}: fully masked row: h_last must be h0", tag);
                    assert!(yl.iter().all(|&v| v == 0.0), "{}: fully masked row: y_last must be 0", tag);
                } else {
                    assert_eq!(hl, yl, "{}: row {}: y_last must equal h_last", tag, row);
                    assert_eq!(yl, yrow(row, t - 1), "{}: row {}: y_last must equal y at the last step", tag, row);
                }
            }
        }
    }
}

/// A masked step is the same as deleting it (Keras carries state through): each row's h_last
/// equals a mask-free run of that row over its valid steps only, for both forms and directions.
#[test]
fn masked_steps_equal_deleted_steps() {
    let mut rng = TestRng::new(15);
    let cases = if fast() { 8 } else { 40 };
    for i in 0..cases {
        let mut c = random_case(&mut rng);
        c.mask = if i % 2 == 0 { MaskKind::Gapped } else { MaskKind::LeftPad };
        c.h0 = true;
        c.cfg.reset_after = i % 4 < 2;
        let data = make_data(&c);
        let packed = pack(&c, &data).unwrap();
        let full = kernel_forward(&c, &data, &packed, false, false).unwrap();
        let GruDims { batch: b, time: t, input: d, units: h } = c.dims;
        let mask = data.mask.as_ref().unwrap();
        for row in 0..b {
            let steps: Vec<usize> = (0..t).filter(|&s| mask[row * t + s] != 0).collect();
            let h0 = data.h0.as_ref().unwrap()[row * h..(row + 1) * h].to_vec();
            if steps.is_empty() {
                assert_eq!(&full.h_last[row * h..(row + 1) * h], &h0[..]);
                continue;
            }
            let x: Vec<f32> = steps.iter().flat_map(|&s| data.x[(row * t + s) * d..(row * t + s + 1) * d].to_vec()).collect();
            let one = Case { dims: dims(1, steps.len(), d, h), mask: MaskKind::NoMask, ..c };
            let sub = Data {
                x,
                h0: Some(h0),
                mask: None,
                kernel: data.kernel.clone(),
                recurrent: data.recurrent.clone(),
                bias: data.bias.clone(),
                dy: None,
                dy_last: None,
                dh_last: None,
                rec_mask: None,
            };
            let f1 = kernel_forward(&one, &sub, &packed, false, false).unwrap();
            let got = &full.h_last[row * h..(row + 1) * h];
            for (a, e) in got.iter().zip(&f1.h_last) {
                assert!((a - e).abs() <= 1e-6 * (1.0 + e.abs()), "case {} row {}: masked run {} vs compacted run {} ({:?})", i, row, a, e, c);
            }
            assert_eq!(&full.y_last[row * h..(row + 1) * h], got, "y_last must equal h_last when a step is valid");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Hand-written single steps (§1 typed in directly; independent of the reference module).

/// One step, D = 2, H = 2, numbers chosen so each known slip of §5 changes the answer: the
/// candidate using the z block (candle), b_uh outside r ⊙ (·) (tract), reset-after without bias
/// (ORT), z ↔ 1−z, and reset-before applying r after U_h.
#[test]
fn one_step_by_hand() {
    let (d, h) = (2usize, 2usize);
    let g = 3 * h;
    let x = [0.5f64, -1.0];
    let hp = [0.3f64, -0.6];
    // kernel (D, 3H), recurrent (H, 3H): columns z0 z1 r0 r1 h0 h1, all entries distinct.
    let kernel: Vec<f64> = (0..d * g).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.11).collect();
    let recurrent: Vec<f64> = (0..h * g).map(|i| ((i * 5 % 13) as f64 - 6.0) * 0.09).collect();
    let bias2: Vec<f64> = (0..2 * g).map(|i| ((i * 3 % 7) as f64 - 3.0) * 0.1).collect();
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let col = |m: &[f64], v: &[f64], c: usize| (0..v.len()).map(|i| v[i] * m[i * g + c]).sum::<f64>();
    for &reset_after in &[true, false] {
        for &with_bias in &[true, false] {
            let bias: Vec<f64> = if !with_bias {
                vec![0.0; 2 * g]
            } else if reset_after {
                bias2.clone()
            } else {
                let mut b = bias2[..g].to_vec();
                b.extend(vec![0.0; g]);
                b
            };
            let (bx, bu) = bias.split_at(g);
            let mut want = [0.0f64; 2];
            for j in 0..h {
                let z = sig(col(&kernel, &x, j) + bx[j] + col(&recurrent, &hp, j) + bu[j]);
                let r = sig(col(&kernel, &x, h + j) + bx[h + j] + col(&recurrent, &hp, h + j) + bu[h + j]);
                let cand = if reset_after {
                    (col(&kernel, &x, 2 * h + j) + bx[2 * h + j] + r * (col(&recurrent, &hp, 2 * h + j) + bu[2 * h + j])).tanh()
                } else {
                    // (r ⊙ h_prev)·U_h needs r for every unit, not just j.
                    let rs: Vec<f64> = (0..h).map(|i| sig(col(&kernel, &x, h + i) + bx[h + i] + col(&recurrent, &hp, h + i))).collect();
                    let rh: Vec<f64> = (0..h).map(|i| rs[i] * hp[i]).collect();
                    (col(&kernel, &x, 2 * h + j) + bx[2 * h + j] + col(&recurrent, &rh, 2 * h + j)).tanh()
                };
                want[j] = z * hp[j] + (1.0 - z) * cand;
            }
            let c = cfg(reset_after, false, Activation::Tanh, Activation::Sigmoid);
            let dm = dims(1, 1, d, h);
            let bias_arg: Option<Vec<f64>> = if with_bias { Some(if reset_after { bias2.clone() } else { bias2[..g].to_vec() }) } else { None };
            let got_ref = rgru::gru_forward(&x, Some(&hp), None, None, &ref_weights(&kernel, &recurrent, bias_arg.as_deref()), &dm, &c);
            close64("reference h_last", &got_ref.h_last, &want, 1e-14).unwrap_or_else(|e| panic!("reset_after={} bias={}: {}", reset_after, with_bias, e));
            // And the f32 kernel.
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let mut packed = vec![f32::NAN; packed_len(d, h, reset_after)];
            gru_pack(&mut packed, &f(&kernel), &f(&recurrent), bias_arg.as_ref().map(|b| f(b)).as_deref(), d, h, reset_after);
            let (mut yl, mut hl) = (vec![0.0f32; h], vec![0.0f32; h]);
            gru_forward(GruOutputs { y: None, y_last: &mut yl, h_last: &mut hl, cache: None }, &f(&x), Some(&f(&hp)), None, None, &packed, &dm, &c).unwrap();
            close("kernel h_last", &hl, &want, 1e-6).unwrap_or_else(|e| panic!("reset_after={} bias={}: {}", reset_after, with_bias, e));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The oracle pinned by outside truth: central finite differences of the reference forward.

/// L = Σ dy⊙y + Σ dy_last⊙y_last + Σ dh_last⊙h_last through the f64 reference forward.
#[allow(clippy::too_many_arguments)]
fn ref_loss(x: &[f64], h0: &[f64], kernel: &[f64], recurrent: &[f64], bias: &[f64], mask: Option<&[u8]>, rec_mask: Option<&[f64]>, dm: &GruDims, c: &GruConfig, dy: &[f64], dyl: &[f64], dhl: &[f64]) -> f64 {
    let f = rgru::gru_forward(x, Some(h0), mask, rec_mask, &ref_weights(kernel, recurrent, Some(bias)), dm, c);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    dot(dy, &f.y) + dot(dyl, &f.y_last) + dot(dhl, &f.h_last)
}

/// Compares `reference::gru::gru_backward` with central differences (eps 1e-6) of its own forward
/// for x, h0, kernel, recurrent and bias. Without h0 or bias the reference is called with None
/// and the differences are taken around zeros (None must mean zeros).
fn fd_check(c: &Case) -> Result<(), String> {
    let GruDims { batch: b, units: h, .. } = c.dims;
    let g = 3 * h;
    let data = make_data(c);
    let x = to_f64(&data.x);
    let k = to_f64(&data.kernel);
    let u = to_f64(&data.recurrent);
    let h0 = data.h0.as_ref().map(|v| to_f64(v));
    let bias = data.bias.as_ref().map(|v| to_f64(v));
    let dy = to_f64(data.dy.as_ref().unwrap());
    let dyl = to_f64(data.dy_last.as_ref().unwrap());
    let dhl = to_f64(data.dh_last.as_ref().unwrap());
    let mask = data.mask.as_deref();
    let rm = data.rec_mask.as_ref().map(|v| to_f64(v));
    let rm = rm.as_deref();
    let rg = rgru::gru_backward(Some(&dy), Some(&dyl), Some(&dhl), &x, h0.as_deref(), mask, rm, &ref_weights(&k, &u, bias.as_deref()), &c.dims, &c.cfg);

    let mut bufs: Vec<Vec<f64>> = vec![x, h0.unwrap_or_else(|| vec![0.0; b * h]), k, u, bias.unwrap_or_else(|| vec![0.0; if c.cfg.reset_after { 2 * g } else { g }])];
    let names = ["dx", "dh0", "dkernel", "drecurrent", "dbias"];
    let want = [&rg.dx, &rg.dh0, &rg.dkernel, &rg.drecurrent, &rg.dbias];
    let eps = 1e-6;
    for which in 0..5 {
        let mut fd = vec![0.0; bufs[which].len()];
        for i in 0..fd.len() {
            let orig = bufs[which][i];
            bufs[which][i] = orig + eps;
            let lp = ref_loss(&bufs[0], &bufs[1], &bufs[2], &bufs[3], &bufs[4], mask, rm, &c.dims, &c.cfg, &dy, &dyl, &dhl);
            bufs[which][i] = orig - eps;
            let lm = ref_loss(&bufs[0], &bufs[1], &bufs[2], &bufs[3], &bufs[4], mask, rm, &c.dims, &c.cfg, &dy, &dyl, &dhl);
            bufs[which][i] = orig;
            fd[i] = (lp - lm) / (2.0 * eps);
        }
        close64(names[which], want[which], &fd, 1e-6)?;
    }
    Ok(())
}

fn fd_case(rng: &mut TestRng, reset_after: bool, go_backwards: bool, h0: bool, mask: MaskKind, act: Activation, rec: Activation) -> Case {
    let bias = rng.chance(0.7);
    let small = rng.chance(0.3);
    Case {
        dims: if small { dims(1, 4, 2, 3) } else { dims(2, 3, 3, 5) },
        cfg: cfg(reset_after, go_backwards, act, rec),
        h0,
        bias,
        mask,
        dy: true,
        dy_last: true,
        dh_last: true,
        want_dx: true,
        want_dh0: true,
        want_dbias: true,
        seed: rng.next_u64(),
        rec_drop: false,
    }
}

fn run_fd(what: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        if let Err(e) = fd_check(c) {
            failures.push(format!("{} -- {:?}", e, c));
        }
    }
    report(what, &failures, cases.len());
}

/// Reference backward = finite differences, for both forms × go_backwards × h0 × every mask kind.
#[test]
fn reference_backward_matches_finite_differences() {
    let mut rng = TestRng::new(20);
    let mut cases = Vec::new();
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &h0 in &[false, true] {
                for &mask in &MASKS {
                    cases.push(fd_case(&mut rng, reset_after, go_backwards, h0, mask, Activation::Tanh, Activation::Sigmoid));
                }
            }
        }
    }
    if fast() {
        cases = cases.into_iter().step_by(3).collect();
    }
    run_fd("reference vs finite differences (structure)", &cases);
}

/// Reference backward = finite differences for every activation pair (the piecewise-linear
/// ones included: see the module note on kinks).
#[test]
fn reference_backward_matches_finite_differences_all_activations() {
    let mut rng = TestRng::new(21);
    let mut cases = Vec::new();
    for &act in &ACTS {
        for &rec in &REC_ACTS {
            for &reset_after in &[true, false] {
                let mask = if rng.chance(0.5) { MaskKind::Gapped } else { MaskKind::RightPad };
                let go_backwards = rng.chance(0.5);
                cases.push(fd_case(&mut rng, reset_after, go_backwards, true, mask, act, rec));
            }
        }
    }
    if fast() {
        cases = cases.into_iter().step_by(3).collect();
    }
    run_fd("reference vs finite differences (activations)", &cases);
}

// ------------------------------------------------------------------------------------------------
// PyTorch fixtures (outside truth for the reset-after form, §1, §3, §4).

const TORCH_FIXTURE: &str = include_str!("../../test/fixtures/torch_gru_reset_after.json");

/// `test/fixtures/torch_gru_reset_after.json` (PyTorch 1.13 nn.GRU, float64, autograd; converted
/// to Keras layout by the generator): the f64 reference must match at 1e-10 and the f32 kernels
/// at 1e-5 (forward) / 1e-4 (backward). Packed cases use a Keras right-padding mask; torch's y is
/// 0 at padded steps where Keras repeats the last output, so y is compared at valid steps only.
#[test]
fn pytorch_fixture() {
    let root = Json::parse(TORCH_FIXTURE);
    let mut n = 0;
    for (list, packed_case) in [(root.get("cases"), false), (root.get("packed_cases"), true)] {
        for case in list.arr() {
            n += 1;
            let name = case.get("name").str().to_string();
            let (b, t, d, h) = (case.get("batch").usize(), case.get("time").usize(), case.get("input_size").usize(), case.get("units").usize());
            let dm = dims(b, t, d, h);
            let c = cfg(true, false, Activation::Tanh, Activation::Sigmoid);
            let x = case.get("x").f64s();
            let h0 = case.get("h0").opt_f64s();
            assert_eq!(h0.is_some(), case.get("has_h0").bool());
            let kw = case.get("keras");
            let (k, u, bias) = (kw.get("kernel").f64s(), kw.get("recurrent_kernel").f64s(), kw.get("bias").f64s());
            let gy = case.get("gy").f64s();
            let gh = case.get("gh").f64s();
            let y_t = case.get("y").f64s();
            let hn_t = case.get("h_n").f64s();
            let gr = case.get("grads");
            let gk = gr.get("keras");
            let mask: Option<Vec<u8>> = if packed_case {
                let lengths: Vec<usize> = case.get("lengths").arr().iter().map(|v| v.usize()).collect();
                Some((0..b * t).map(|i| (i % t < lengths[i / t]) as u8).collect())
            } else {
                None
            };
            let valid = |i: usize| mask.as_ref().map_or(true, |m| m[i / h] != 0);
            let pick = |v: &[f64]| -> Vec<f64> { v.iter().enumerate().filter(|(i, _)| valid(*i)).map(|(_, a)| *a).collect() };
            let pick32 = |v: &[f32]| -> Vec<f32> { v.iter().enumerate().filter(|(i, _)| valid(*i)).map(|(_, a)| *a).collect() };

            // The f64 reference against torch.
            let w = ref_weights(&k, &u, Some(&bias));
            let rf = rgru::gru_forward(&x, h0.as_deref(), mask.as_deref(), None, &w, &dm, &c);
            let tag = |e: String| format!("{}: {}", name, e);
            close64("reference y", &pick(&rf.y), &pick(&y_t), 1e-10).map_err(tag).unwrap();
            close64("reference h_n", &rf.h_last, &hn_t, 1e-10).map_err(tag).unwrap();
            let rg = rgru::gru_backward(Some(&gy), None, Some(&gh), &x, h0.as_deref(), mask.as_deref(), None, &w, &dm, &c);
            close64("reference dx", &rg.dx, &gr.get("x").f64s(), 1e-10).map_err(tag).unwrap();
            if let Some(gh0) = gr.get("h0").opt_f64s() {
                close64("reference dh0", &rg.dh0, &gh0, 1e-10).map_err(tag).unwrap();
            }
            close64("reference dkernel", &rg.dkernel, &gk.get("kernel").f64s(), 1e-10).map_err(tag).unwrap();
            close64("reference drecurrent", &rg.drecurrent, &gk.get("recurrent_kernel").f64s(), 1e-10).map_err(tag).unwrap();
            close64("reference dbias", &rg.dbias, &gk.get("bias").f64s(), 1e-10).map_err(tag).unwrap();

            // The f32 kernels against torch.
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let (x32, k32, u32_, b32) = (f(&x), f(&k), f(&u), f(&bias));
            let h032 = h0.as_ref().map(|v| f(v));
            let mut packed = vec![0.0f32; packed_len(d, h, true)];
            gru_pack(&mut packed, &k32, &u32_, Some(&b32), d, h, true);
            let (mut y, mut yl, mut hl, mut cache) = (vec![0.0f32; b * t * h], vec![0.0f32; b * h], vec![0.0f32; b * h], vec![0.0f32; cache_len(&dm)]);
            let outs = GruOutputs { y: Some(&mut y), y_last: &mut yl, h_last: &mut hl, cache: Some(&mut cache) };
            gru_forward(outs, &x32, h032.as_deref(), mask.as_deref(), None, &packed, &dm, &c).unwrap();
            close("kernel y", &pick32(&y), &pick(&y_t), 1e-5).map_err(tag).unwrap();
            close("kernel h_n", &hl, &hn_t, 1e-5).map_err(tag).unwrap();
            let (mut dx, mut dh0, mut dk, mut du, mut db) = (vec![0.0f32; b * t * d], vec![0.0f32; b * h], vec![0.0f32; d * 3 * h], vec![0.0f32; h * 3 * h], vec![0.0f32; 6 * h]);
            let grads = GruGrads { dx: Some(&mut dx), dh0: Some(&mut dh0), dkernel: &mut dk, drecurrent: &mut du, dbias: Some(&mut db) };
            let (gy32, gh32) = (f(&gy), f(&gh));
            gru_backward(grads, GruSeeds { dy: Some(&gy32), dy_last: None, dh_last: Some(&gh32) }, &cache, &x32, mask.as_deref(), None, &k32, &u32_, &dm, &c).unwrap();
            close("kernel dx", &dx, &gr.get("x").f64s(), 1e-4).map_err(tag).unwrap();
            if let Some(gh0) = gr.get("h0").opt_f64s() {
                close("kernel dh0", &dh0, &gh0, 1e-4).map_err(tag).unwrap();
            }
            close("kernel dkernel", &dk, &gk.get("kernel").f64s(), 1e-4).map_err(tag).unwrap();
            close("kernel drecurrent", &du, &gk.get("recurrent_kernel").f64s(), 1e-4).map_err(tag).unwrap();
            close("kernel dbias", &db, &gk.get("bias").f64s(), 1e-4).map_err(tag).unwrap();
        }
    }
    assert_eq!(n, 7, "the fixture should hold 5 cases and 2 packed cases");
}

/// Sizes past the GEMM blocking (MC = 128 rows, KC = 128 depth): B·T = 297 > MC rows in the
/// input projection and > KC depth in the weight gradients, 3H = 270 > KC in backward's dh GEMM;
/// both forms, masked, one of them going backwards.
#[test]
fn large_sizes_cross_gemm_blocking() {
    let mut cases = vec![
        Case {
            dims: dims(9, 33, 70, 90),
            cfg: cfg(true, false, Activation::Tanh, Activation::Sigmoid),
            h0: true,
            bias: true,
            mask: MaskKind::Gapped,
            dy: true,
            dy_last: true,
            dh_last: true,
            want_dx: true,
            want_dh0: true,
            want_dbias: true,
            seed: 90,
            rec_drop: false,
        },
        Case {
            dims: dims(5, 20, 67, 87),
            cfg: cfg(false, true, Activation::Tanh, Activation::HardSigmoid),
            h0: false,
            bias: true,
            mask: MaskKind::LeftPad,
            dy: true,
            dy_last: false,
            dh_last: true,
            want_dx: true,
            want_dh0: true,
            want_dbias: true,
            seed: 91,
            rec_drop: false,
        },
    ];
    if fast() {
        cases.truncate(1);
        cases[0].dims = dims(3, 30, 70, 90);
    }
    run_cases("large sizes", &cases);
}

// ------------------------------------------------------------------------------------------------
// Recurrent dropout (`rec_mask` (3, B, H)), Keras 3.8+ `GRUCell.call` with implementation 1
// (keras/src/layers/rnn/gru.py after keras-team/keras#20656):
//
//     rec_dp_mask = self.get_recurrent_dropout_mask(h_tm1)   # 3 masks (dropout_mask_count = 3)
//     h_tm1_z = h_tm1 * rec_dp_mask[0]; h_tm1_r = h_tm1 * rec_dp_mask[1]; h_tm1_h = h_tm1 * rec_dp_mask[2]
//     recurrent_z = ops.matmul(h_tm1_z, self.recurrent_kernel[:, :units])   # ... r, h likewise;
//     # reset_before: recurrent_h = ops.matmul(r * h_tm1_h, self.recurrent_kernel[:, 2 * units:])
//     h = z * h_tm1 + (1 - z) * hh                                           # un-dropped h_tm1

/// Kernel vs reference with recurrent dropout: both forms × go_backwards × h0 × sequence mask
/// kinds, B = 1..5, T = 1..4, H ragged (not a multiple of 4, so per-gate column blocks start
/// mid-panel; 8 for the aligned path).
#[test]
fn recurrent_dropout_vs_reference() {
    let mut rng = TestRng::new(30);
    let units = [1usize, 3, 5, 6, 7, 8, 9, 13];
    let mut cases = Vec::new();
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &h0 in &[false, true] {
                for &mask in &[MaskKind::NoMask, MaskKind::Gapped, MaskKind::FullyMaskedRow, MaskKind::LeftPad] {
                    for _ in 0..3 {
                        let mut c = random_case(&mut rng);
                        c.dims = dims(rng.int(1, 5), rng.int(1, 4), rng.int(1, 9), units[rng.below(units.len())]);
                        c.cfg.reset_after = reset_after;
                        c.cfg.go_backwards = go_backwards;
                        c.h0 = h0;
                        c.mask = mask;
                        c.rec_drop = true;
                        (c.dy, c.dy_last, c.dh_last) = (true, true, true);
                        (c.want_dx, c.want_dh0) = (true, true);
                        cases.push(c);
                    }
                }
            }
        }
    }
    // Random activations, seeds and sizes up to the usual 17 units.
    for _ in 0..if fast() { 30 } else { 300 } {
        let mut c = random_case(&mut rng);
        c.rec_drop = true;
        cases.push(c);
    }
    run_cases("recurrent dropout vs reference", &cases);
}

/// Per-gate column blocks and per-gate Uᵀ products across the GEMM blocking (KC = 128, MC = 128):
/// H = 90 (blocks start mid-panel), B·T = 160 > KC depth in the weight gradients.
#[test]
fn recurrent_dropout_large_sizes() {
    let mut cases = Vec::new();
    for &(reset_after, go_backwards, mask) in &[(true, false, MaskKind::Gapped), (false, true, MaskKind::LeftPad)] {
        let mut rng = TestRng::new(31 + reset_after as u64);
        let mut c = random_case(&mut rng);
        c.dims = if fast() { dims(3, 12, 20, 90) } else { dims(8, 20, 67, 90) };
        c.cfg = cfg(reset_after, go_backwards, Activation::Tanh, Activation::Sigmoid);
        (c.h0, c.bias, c.want_dbias, c.mask, c.rec_drop) = (true, true, true, mask, true);
        (c.dy, c.dy_last, c.dh_last, c.want_dx, c.want_dh0) = (true, true, true, true, true);
        cases.push(c);
    }
    run_cases("recurrent dropout, large sizes", &cases);
}

/// The reference backward with recurrent dropout = central differences of its own forward.
#[test]
fn reference_backward_matches_finite_differences_with_recurrent_dropout() {
    let mut rng = TestRng::new(32);
    let mut cases = Vec::new();
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &h0 in &[false, true] {
                for &mask in &[MaskKind::NoMask, MaskKind::Gapped, MaskKind::FullyMaskedRow] {
                    let mut c = fd_case(&mut rng, reset_after, go_backwards, h0, mask, Activation::Tanh, Activation::Sigmoid);
                    c.rec_drop = true;
                    cases.push(c);
                }
            }
        }
    }
    run_fd("reference vs finite differences (recurrent dropout)", &cases);
}

/// All five gradients [dx, dh0, dkernel, drecurrent, dbias] of one kernel backward from zeros.
fn kernel_grads(c: &Case, data: &Data, f: &KernelForward) -> Vec<Vec<f32>> {
    let GruDims { batch: b, time: t, input: d, units: h } = c.dims;
    let g = 3 * h;
    let (mut dx, mut dh0, mut dk, mut du, mut db) = (vec![0.0f32; b * t * d], vec![0.0f32; b * h], vec![0.0f32; d * g], vec![0.0f32; h * g], vec![0.0f32; if c.cfg.reset_after { 2 * g } else { g }]);
    let grads = GruGrads { dx: Some(&mut dx), dh0: Some(&mut dh0), dkernel: &mut dk, drecurrent: &mut du, dbias: Some(&mut db) };
    let seeds = GruSeeds { dy: data.dy.as_deref(), dy_last: data.dy_last.as_deref(), dh_last: data.dh_last.as_deref() };
    gru_backward(grads, seeds, f.cache.as_ref().unwrap(), &data.x, data.mask.as_deref(), data.rec_mask.as_deref(), &data.kernel, &data.recurrent, &c.dims, &c.cfg).unwrap();
    vec![dx, dh0, dk, du, db]
}

const GRAD_NAMES: [&str; 5] = ["dx", "dh0", "dkernel", "drecurrent", "dbias"];

/// The input or weight that gradient `which` of `kernel_grads` is taken against.
fn param_mut(data: &mut Data, which: usize) -> &mut [f32] {
    match which {
        0 => &mut data.x,
        1 => data.h0.as_mut().unwrap(),
        2 => &mut data.kernel,
        3 => &mut data.recurrent,
        _ => data.bias.as_mut().unwrap(),
    }
}

/// L = Σ dy⊙y + Σ dy_last⊙y_last + Σ dh_last⊙h_last through the f32 kernel forward, summed in f64.
fn kernel_loss(c: &Case, data: &Data) -> f64 {
    let packed = pack(c, data).unwrap();
    let f = kernel_forward(c, data, &packed, false, true).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>();
    dot(data.dy.as_ref().unwrap(), f.y.as_ref().unwrap()) + dot(data.dy_last.as_ref().unwrap(), &f.y_last) + dot(data.dh_last.as_ref().unwrap(), &f.h_last)
}

/// The f32 kernel backward with recurrent dropout against central differences of the f32 kernel
/// forward itself (no reference involved): eps = 1e-2 keeps f32 rounding of L (~1e-6) / 2eps
/// below 1e-3 while the O(eps²) truncation stays ~1e-4; tolerance 2e-3 of each array's scale.
/// Smooth activations only (tanh / sigmoid), so no kinks.
#[test]
fn kernel_backward_matches_finite_differences_with_recurrent_dropout() {
    let mut rng = TestRng::new(33);
    let mut failures = Vec::new();
    let mut n = 0;
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &mask in &[MaskKind::NoMask, MaskKind::Gapped] {
                n += 1;
                let mut c = fd_case(&mut rng, reset_after, go_backwards, true, mask, Activation::Tanh, Activation::Sigmoid);
                c.bias = true;
                c.rec_drop = true;
                let mut data = make_data(&c);
                let packed = pack(&c, &data).unwrap();
                let f = kernel_forward(&c, &data, &packed, true, true).unwrap();
                let got = kernel_grads(&c, &data, &f);
                let eps = 1e-2f32;
                for (which, name) in GRAD_NAMES.iter().enumerate() {
                    let mut fd = vec![0.0f64; got[which].len()];
                    for (i, v) in fd.iter_mut().enumerate() {
                        let orig = param_mut(&mut data, which)[i];
                        param_mut(&mut data, which)[i] = orig + eps;
                        let lp = kernel_loss(&c, &data);
                        param_mut(&mut data, which)[i] = orig - eps;
                        let lm = kernel_loss(&c, &data);
                        param_mut(&mut data, which)[i] = orig;
                        *v = (lp - lm) / (2.0 * eps as f64);
                    }
                    if let Err(e) = close(name, &got[which], &fd, 2e-3) {
                        failures.push(format!("{} -- {:?}", e, c));
                    }
                }
            }
        }
    }
    report("kernel backward vs finite differences (recurrent dropout)", &failures, n);
}

/// A mask of all ones is no dropout. The forward is bit for bit the same (y, y_last, h_last and
/// the whole cache): h ⊙ 1 = h exactly and each per-gate column block repeats the full GEMM's
/// per-element mul+add sequence. The backward agrees to rounding only: without a mask dh_prev
/// accumulates dHP·Uᵀ straight into dh (one chain of 3H adds starting from z ⊙ dh), with one it
/// must form each gate's dHP_k·U_kᵀ apart to scale it by m_k, so the adds associate differently.
#[test]
fn all_ones_recurrent_mask_equals_none() {
    let mut rng = TestRng::new(34);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &mask in &[MaskKind::NoMask, MaskKind::Gapped, MaskKind::FullyMaskedRow] {
                for &units in &[5usize, 8, 13] {
                    let mut c = random_case(&mut rng);
                    c.dims = dims(rng.int(1, 5), rng.int(1, 4), rng.int(1, 9), units);
                    c.cfg.reset_after = reset_after;
                    c.cfg.go_backwards = go_backwards;
                    c.mask = mask;
                    (c.h0, c.dy, c.dy_last, c.dh_last, c.want_dx, c.want_dh0) = (true, true, true, true, true, true);
                    let GruDims { batch: b, units: h, .. } = c.dims;
                    let none = make_data(&c);
                    let mut ones = make_data(&c);
                    ones.rec_mask = Some(vec![1.0; 3 * b * h]);
                    let packed = pack(&c, &none).unwrap();
                    let tag = format!("{:?}", c);
                    for training in [true, false] {
                        let a = kernel_forward(&c, &none, &packed, training, true).unwrap();
                        let o = kernel_forward(&c, &ones, &packed, training, true).unwrap();
                        assert_eq!(bits(a.y.as_ref().unwrap()), bits(o.y.as_ref().unwrap()), "y differs: {}", tag);
                        assert_eq!(bits(&a.y_last), bits(&o.y_last), "y_last differs: {}", tag);
                        assert_eq!(bits(&a.h_last), bits(&o.h_last), "h_last differs: {}", tag);
                        if training {
                            assert_eq!(bits(a.cache.as_ref().unwrap()), bits(o.cache.as_ref().unwrap()), "cache differs: {}", tag);
                            let ga = kernel_grads(&c, &none, &a);
                            let go = kernel_grads(&c, &ones, &o);
                            for (name, (p, q)) in GRAD_NAMES.iter().zip(ga.iter().zip(&go)) {
                                close(name, q, &to_f64(p), 1e-6).map_err(|e| format!("{} -- {}", e, tag)).unwrap();
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Keras semantics without the reference: dropping h_prev's unit i for gate k is the same as
/// zeroing (scaling) row i of U's gate-k block, PROVIDED the update blend keeps the un-dropped
/// h_prev (a kernel that also dropped h_prev in z ⊙ h_prev would fail this). So with the same
/// masks on every batch row, the kernel with `rec_mask` equals the kernel without it run on
/// U'[i, kH + j] = m_k[i] · U[i, kH + j]; and dL/dU[i, kH + j] = m_k[i] · dL/dU'[i, kH + j].
#[test]
fn recurrent_dropout_equals_row_scaled_recurrent_kernel() {
    let mut rng = TestRng::new(35);
    for &reset_after in &[true, false] {
        for &go_backwards in &[false, true] {
            for &mask in &[MaskKind::NoMask, MaskKind::Gapped] {
                let mut c = random_case(&mut rng);
                c.dims = dims(3, 4, 5, 7);
                c.cfg = cfg(reset_after, go_backwards, Activation::Tanh, Activation::Sigmoid);
                (c.h0, c.bias, c.want_dbias, c.mask) = (true, true, true, mask);
                (c.dy, c.dy_last, c.dh_last, c.want_dx, c.want_dh0) = (true, true, true, true, true);
                let GruDims { batch: b, units: h, .. } = c.dims;
                let g = 3 * h;
                let mut dropped = make_data(&c);
                // One (H) mask per gate, the same on every row.
                let row_masks = make_rec_mask(c.seed, 1, h);
                dropped.rec_mask = Some((0..3).flat_map(|k| (0..b).flat_map(|_| row_masks[k * h..(k + 1) * h].to_vec()).collect::<Vec<_>>()).collect());
                let mut scaled = make_data(&c);
                for i in 0..h {
                    for k in 0..3 {
                        for j in 0..h {
                            scaled.recurrent[i * g + k * h + j] *= row_masks[k * h + i];
                        }
                    }
                }
                let run = |data: &Data| {
                    let packed = pack(&c, data).unwrap();
                    let f = kernel_forward(&c, data, &packed, true, true).unwrap();
                    let grads = kernel_grads(&c, data, &f);
                    (f, grads)
                };
                let (fa, ga) = run(&dropped);
                let (fb, mut gb) = run(&scaled);
                let tag = format!("{:?}", c);
                let ok = |r: Result<(), String>| r.map_err(|e| format!("{} -- {}", e, tag)).unwrap();
                ok(close("y", fa.y.as_ref().unwrap(), &to_f64(fb.y.as_ref().unwrap()), 1e-6));
                ok(close("h_last", &fa.h_last, &to_f64(&fb.h_last), 1e-6));
                for i in 0..h {
                    for k in 0..3 {
                        for j in 0..h {
                            gb[3][i * g + k * h + j] *= row_masks[k * h + i];
                        }
                    }
                }
                for (name, (p, q)) in GRAD_NAMES.iter().zip(ga.iter().zip(&gb)) {
                    ok(close(name, p, &to_f64(q), 1e-5));
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// ONNX `clip` (GRU-CONVENTIONS.md §3 ONNX attributes): gate pre-activations clamped to
// [−clip, clip], zero gradient where clamped. The clip is small (0.3–0.6) so that a large share
// of pre-activations is clamped in every case (checked: the outputs differ from the unclipped ones).

/// Fraction of a case's outputs that change when the clip is removed (0 would make a case vacuous).
fn clip_changes_outputs(c: &Case) -> bool {
    let data = make_data(c);
    let (x, k, u) = (to_f64(&data.x), to_f64(&data.kernel), to_f64(&data.recurrent));
    let h0 = data.h0.as_ref().map(|v| to_f64(v));
    let b = data.bias.as_ref().map(|v| to_f64(v));
    let w = ref_weights(&k, &u, b.as_deref());
    let clipped = rgru::gru_forward(&x, h0.as_deref(), data.mask.as_deref(), None, &w, &c.dims, &c.cfg);
    let free = rgru::gru_forward(&x, h0.as_deref(), data.mask.as_deref(), None, &w, &c.dims, &GruConfig { clip: None, ..c.cfg });
    clipped.h_last.iter().zip(&free.h_last).any(|(p, q)| (p - q).abs() > 1e-3)
}

/// Reference backward with clip = finite differences of its forward, both forms, both directions,
/// every activation pair, masks and h0.
#[test]
fn clip_reference_backward_matches_finite_differences() {
    let mut rng = TestRng::new(40);
    let mut cases = Vec::new();
    for &act in &ACTS {
        for &rec in &REC_ACTS {
            for &reset_after in &[true, false] {
                let mask = [MaskKind::NoMask, MaskKind::RightPad, MaskKind::Gapped][rng.below(3)];
                let go_backwards = rng.chance(0.5);
                let h0 = rng.chance(0.5);
                let mut c = fd_case(&mut rng, reset_after, go_backwards, h0, mask, act, rec);
                c.cfg.clip = Some([0.3, 0.45, 0.6][rng.below(3)]);
                cases.push(c);
            }
        }
    }
    if fast() {
        cases = cases.into_iter().step_by(3).collect();
    }
    let active = cases.iter().filter(|c| clip_changes_outputs(c)).count();
    assert!(active * 10 >= cases.len() * 9, "clip changed the outputs of only {} of {} cases", active, cases.len());
    run_fd("reference vs finite differences (clip)", &cases);
}

/// The f32 kernels with clip = the f64 reference with clip (forward and accumulated backward).
#[test]
fn clip_kernel_matches_reference() {
    let mut rng = TestRng::new(41);
    let n = if fast() { 60 } else { 400 };
    let cases: Vec<Case> = (0..n)
        .map(|_| {
            let mut c = random_case(&mut rng);
            c.cfg.clip = Some([0.3, 0.5, 1.0, 2.0][rng.below(4)]);
            c
        })
        .collect();
    let active = cases.iter().filter(|c| clip_changes_outputs(c)).count();
    assert!(active * 2 >= cases.len(), "clip changed the outputs of only {} of {} cases", active, cases.len());
    run_cases("kernel vs reference (clip)", &cases);
}
