//! Activations: forward on slices in place, derivative from the forward's OUTPUT.
//!
//! Every derivative we need is a function of the activation's output y (sigmoid: y(1-y),
//! tanh: 1-y², relu: [y>0], hard sigmoids: slope where 0<y<1), so backward keeps only outputs.
//!
//! `exp` is Cephes' expf scheme (Cody–Waite reduction by ln 2, degree-6 polynomial, 2^n by exponent
//! bits) with the argument clamped to [-87, 88] so 2^n stays a normal float: results are never Inf
//! or NaN for finite input, and sigmoid/tanh built on it stay within 2e-7 of float64 everywhere
//! (checked on a dense grid in `crate/tests/activations.rs`). The SIMD and scalar versions run the
//! same operations in the same order, so they agree to the last bit up to `nearest` ties.

use crate::status::{KResult, Status};

/// Activation ids. Must match `ts/src/wasm/abi.ts` (`Activation`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Linear = 0,
    Tanh = 1,
    Sigmoid = 2,
    /// Keras 2 / tfjs / ONNX: clip(0.2·x + 0.5, 0, 1).
    HardSigmoid = 3,
    /// Keras 3: relu6(x + 3) / 6 (keras PR #19477).
    HardSigmoidKeras3 = 4,
    Relu = 5,
    /// Over the last axis; Dense only.
    Softmax = 6,
}

impl Activation {
    pub fn from_i32(v: i32, what: &str, allow_softmax: bool) -> KResult<Self> {
        let a = match v {
            0 => Activation::Linear,
            1 => Activation::Tanh,
            2 => Activation::Sigmoid,
            3 => Activation::HardSigmoid,
            4 => Activation::HardSigmoidKeras3,
            5 => Activation::Relu,
            6 if allow_softmax => Activation::Softmax,
            _ => {
                return crate::fail!(
                    Status::InvalidArgument,
                    "{}: unknown activation id {} (expected 0..={})",
                    what,
                    v,
                    if allow_softmax { 6 } else { 5 }
                )
            }
        };
        Ok(a)
    }

    /// True when outputs can grow without bound (so a forward may overflow).
    pub fn unbounded(self) -> bool {
        matches!(self, Activation::Linear | Activation::Relu)
    }
}

pub const EXP_MIN: f32 = -87.0;
pub const EXP_MAX: f32 = 88.0;
const LOG2E: f32 = 1.442_695_f32;
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
const P0: f32 = 1.987_569_15e-4;
const P1: f32 = 1.398_199_95e-3;
const P2: f32 = 8.333_451_9e-3;
const P3: f32 = 4.166_579_6e-2;
const P4: f32 = 1.666_666_5e-1;
const P5: f32 = 5.000_000_1e-1;

/// e^x for one value; the scalar twin of `simd::exp`.
#[inline(always)]
pub fn exp_scalar(x: f32) -> f32 {
    let x = x.max(EXP_MIN).min(EXP_MAX);
    let n = round_ties_even(x * LOG2E);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = P0;
    p = p * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    let y = p * (r * r) + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `f32::round_ties_even` is newer than our MSRV; this matches wasm's `f32x4.nearest`.
#[inline(always)]
fn round_ties_even(x: f32) -> f32 {
    let r = x.round();
    if (r - x).abs() == 0.5 && (r as i32) % 2 != 0 {
        r - x.signum()
    } else {
        r
    }
}

#[inline(always)]
pub fn sigmoid_scalar(x: f32) -> f32 {
    let e = exp_scalar(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 {
        s
    } else {
        e * s
    }
}

#[inline(always)]
pub fn tanh_scalar(x: f32) -> f32 {
    let e = exp_scalar(-2.0 * x.abs());
    let t = (1.0 - e) / (1.0 + e);
    if x >= 0.0 {
        t
    } else {
        -t
    }
}

#[inline(always)]
pub fn hard_sigmoid_scalar(x: f32) -> f32 {
    (0.2 * x + 0.5).max(0.0).min(1.0)
}

#[inline(always)]
pub fn hard_sigmoid_keras3_scalar(x: f32) -> f32 {
    (x + 3.0).max(0.0).min(6.0) / 6.0
}

/// Element-wise activation in place (not softmax: see `softmax_rows`), scalar twin.
pub fn activate_scalar(act: Activation, data: &mut [f32]) {
    match act {
        Activation::Linear | Activation::Softmax => {}
        Activation::Tanh => data.iter_mut().for_each(|v| *v = tanh_scalar(*v)),
        Activation::Sigmoid => data.iter_mut().for_each(|v| *v = sigmoid_scalar(*v)),
        Activation::HardSigmoid => data.iter_mut().for_each(|v| *v = hard_sigmoid_scalar(*v)),
        Activation::HardSigmoidKeras3 => data.iter_mut().for_each(|v| *v = hard_sigmoid_keras3_scalar(*v)),
        Activation::Relu => data.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}

/// d act / d pre-activation, from the output `y`.
#[inline(always)]
pub fn derivative(act: Activation, y: f32) -> f32 {
    match act {
        Activation::Linear | Activation::Softmax => 1.0,
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
        Activation::HardSigmoid => {
            if y > 0.0 && y < 1.0 {
                0.2
            } else {
                0.0
            }
        }
        Activation::HardSigmoidKeras3 => {
            if y > 0.0 && y < 1.0 {
                1.0 / 6.0
            } else {
                0.0
            }
        }
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// grad[i] *= act'(y[i]): turns a gradient w.r.t. outputs into one w.r.t. pre-activations.
/// Plain loops: LLVM vectorises them in the SIMD build.
pub fn scale_by_derivative(act: Activation, grad: &mut [f32], y: &[f32]) {
    debug_assert_eq!(grad.len(), y.len());
    match act {
        Activation::Linear | Activation::Softmax => {}
        Activation::Tanh => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= 1.0 - y * y),
        Activation::Sigmoid => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= y * (1.0 - y)),
        _ => grad.iter_mut().zip(y).for_each(|(g, &y)| *g *= derivative(act, y)),
    }
}

/// Row-wise softmax over `cols`, numerically stable (max subtracted).
pub fn softmax_rows(data: &mut [f32], cols: usize) {
    for row in data.chunks_exact_mut(cols) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for v in row.iter_mut() {
            *v -= m;
        }
        super::exp_inplace(row);
        let s: f32 = row.iter().sum();
        let inv = 1.0 / s;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd {
    //! The 4-lane versions; same constants and order of operations as the scalar twins.
    use super::*;
    use crate::simd::*;

    #[inline(always)]
    pub fn exp(x: v128) -> v128 {
        let x = f32x4_min(f32x4_max(x, splat(EXP_MIN)), splat(EXP_MAX));
        let n = f32x4_nearest(f32x4_mul(x, splat(LOG2E)));
        let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, splat(LN2_HI))), f32x4_mul(n, splat(LN2_LO)));
        let mut p = splat(P0);
        p = f32x4_add(f32x4_mul(p, r), splat(P1));
        p = f32x4_add(f32x4_mul(p, r), splat(P2));
        p = f32x4_add(f32x4_mul(p, r), splat(P3));
        p = f32x4_add(f32x4_mul(p, r), splat(P4));
        p = f32x4_add(f32x4_mul(p, r), splat(P5));
        let y = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), splat(1.0));
        let scale = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
        f32x4_mul(y, scale)
    }

    #[inline(always)]
    pub fn sigmoid(x: v128) -> v128 {
        let e = exp(f32x4_neg(f32x4_abs(x)));
        let s = f32x4_div(splat(1.0), f32x4_add(splat(1.0), e));
        let neg = f32x4_lt(x, splat(0.0));
        v128_bitselect(f32x4_mul(e, s), s, neg)
    }

    #[inline(always)]
    pub fn tanh(x: v128) -> v128 {
        let e = exp(f32x4_mul(splat(-2.0), f32x4_abs(x)));
        let t = f32x4_div(f32x4_sub(splat(1.0), e), f32x4_add(splat(1.0), e));
        // Copy x's sign onto t (t >= 0).
        let sign = v128_and(x, u32x4_splat(0x8000_0000));
        v128_or(t, sign)
    }

    #[inline(always)]
    pub fn hard_sigmoid(x: v128) -> v128 {
        let y = f32x4_add(f32x4_mul(splat(0.2), x), splat(0.5));
        f32x4_min(f32x4_max(y, splat(0.0)), splat(1.0))
    }

    #[inline(always)]
    pub fn hard_sigmoid_keras3(x: v128) -> v128 {
        let y = f32x4_min(f32x4_max(f32x4_add(x, splat(3.0)), splat(0.0)), splat(6.0));
        f32x4_div(y, splat(6.0))
    }

    pub fn activate(act: Activation, data: &mut [f32]) {
        match act {
            Activation::Linear | Activation::Softmax => {}
            Activation::Tanh => map_inplace(data, tanh, tanh_scalar),
            Activation::Sigmoid => map_inplace(data, sigmoid, sigmoid_scalar),
            Activation::HardSigmoid => map_inplace(data, hard_sigmoid, hard_sigmoid_scalar),
            Activation::HardSigmoidKeras3 => map_inplace(data, hard_sigmoid_keras3, hard_sigmoid_keras3_scalar),
            Activation::Relu => map_inplace(data, |v| f32x4_max(v, splat(0.0)), |v| v.max(0.0)),
        }
    }

    pub fn exp_inplace(data: &mut [f32]) {
        map_inplace(data, exp, exp_scalar)
    }
}

pub fn exp_inplace_scalar(data: &mut [f32]) {
    data.iter_mut().for_each(|v| *v = exp_scalar(*v))
}
