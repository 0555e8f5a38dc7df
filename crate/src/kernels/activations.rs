//! Activations: forward on slices in place, derivative from the forward's OUTPUT.
//!
//! Every derivative we need is a function of the activation's output y (sigmoid: y(1-y),
//! tanh: 1-y², relu: [y>0], hard sigmoids: slope where 0<y<1), so backward keeps only outputs.
//!
//! `exp` is Cephes' expf scheme (Cody–Waite reduction by ln 2, degree-6 polynomial, 2^n by exponent
//! bits) with the argument clamped to [-87, 88] so 2^n stays a normal float: results are never Inf
//! or NaN for finite input, and sigmoid/tanh built on it stay within 2e-7 of float64 everywhere
//! (checked on a dense grid in `crate/tests/activations.rs`). The SIMD and scalar versions run the
//! same operations in the same order, so they agree to the last bit.

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

/// 1.5 · 2^23: adding it rounds to an integer (ties to even) and leaves that integer in the low
/// mantissa bits, so one add gives both round(x·log2 e) and its bits for 2^n (no `nearest`, no
/// float→int conversion, which V8 lowers to several instructions each).
const ROUNDER: f32 = 12_582_912.0;
/// 127 − bits(ROUNDER): turns bits(x·log2 e + ROUNDER) into the biased exponent of 2^n.
const EXP_BIAS_FIX: i32 = 127 - 0x4B40_0000;

/// Clamp that keeps NaN, like the SIMD twin's pmin/pmax (`f32::max`/`min` would drop it).
#[inline(always)]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// e^x for one value; the scalar twin of `simd::exp` (same operations, same order).
#[inline(always)]
pub fn exp_scalar(x: f32) -> f32 {
    let x = clamp(x, EXP_MIN, EXP_MAX);
    let t = x * LOG2E + ROUNDER;
    let n = t - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = P0;
    p = p * r + P1;
    p = p * r + P2;
    p = p * r + P3;
    p = p * r + P4;
    p = p * r + P5;
    let y = p * (r * r) + r + 1.0;
    y * f32::from_bits((t.to_bits() as i32).wrapping_add(EXP_BIAS_FIX).wrapping_shl(23) as u32)
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
    t.copysign(x)
}

/// max(x, 0) keeping NaN.
#[inline(always)]
pub fn relu_scalar(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

#[inline(always)]
pub fn hard_sigmoid_scalar(x: f32) -> f32 {
    clamp(0.2 * x + 0.5, 0.0, 1.0)
}

#[inline(always)]
pub fn hard_sigmoid_keras3_scalar(x: f32) -> f32 {
    clamp(x + 3.0, 0.0, 6.0) / 6.0
}

/// Element-wise activation in place (not softmax: see `softmax_rows`), scalar twin.
pub fn activate_scalar(act: Activation, data: &mut [f32]) {
    match act {
        Activation::Linear | Activation::Softmax => {}
        Activation::Tanh => data.iter_mut().for_each(|v| *v = tanh_scalar(*v)),
        Activation::Sigmoid => data.iter_mut().for_each(|v| *v = sigmoid_scalar(*v)),
        Activation::HardSigmoid => data.iter_mut().for_each(|v| *v = hard_sigmoid_scalar(*v)),
        Activation::HardSigmoidKeras3 => data.iter_mut().for_each(|v| *v = hard_sigmoid_keras3_scalar(*v)),
        Activation::Relu => data.iter_mut().for_each(|v| *v = relu_scalar(*v)),
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

    /// The constants as vectors, built once per slice: V8 re-materialises a `v128.const` at every
    /// use inside a loop (several instructions each), so they travel in registers instead.
    #[derive(Clone, Copy)]
    pub struct Consts {
        min: v128,
        max: v128,
        log2e: v128,
        rounder: v128,
        ln2_hi: v128,
        ln2_lo: v128,
        p: [v128; 6],
        one: v128,
        bias_fix: v128,
    }

    impl Consts {
        #[inline(always)]
        pub fn new() -> Self {
            let c = Consts {
                min: splat(EXP_MIN),
                max: splat(EXP_MAX),
                log2e: splat(LOG2E),
                rounder: splat(ROUNDER),
                ln2_hi: splat(LN2_HI),
                ln2_lo: splat(LN2_LO),
                p: [splat(P0), splat(P1), splat(P2), splat(P3), splat(P4), splat(P5)],
                one: splat(1.0),
                bias_fix: i32x4_splat(EXP_BIAS_FIX),
            };
            // An opaque copy: LLVM cannot fold the constants back into each use.
            // SAFETY: reads a live local.
            unsafe { core::ptr::read_volatile(&c) }
        }
    }

    #[inline(always)]
    pub fn exp(x: v128, c: &Consts) -> v128 {
        // pmin/pmax are single minps/maxps; wasm's min/max add NaN and ±0 fix-ups (several
        // instructions each in V8), which finite inputs (checked at the ABI) never need.
        let x = f32x4_pmin(f32x4_pmax(x, c.min), c.max);
        let t = f32x4_add(f32x4_mul(x, c.log2e), c.rounder);
        let n = f32x4_sub(t, c.rounder);
        let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, c.ln2_hi)), f32x4_mul(n, c.ln2_lo));
        let mut p = c.p[0];
        p = f32x4_add(f32x4_mul(p, r), c.p[1]);
        p = f32x4_add(f32x4_mul(p, r), c.p[2]);
        p = f32x4_add(f32x4_mul(p, r), c.p[3]);
        p = f32x4_add(f32x4_mul(p, r), c.p[4]);
        p = f32x4_add(f32x4_mul(p, r), c.p[5]);
        let y = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), c.one);
        let scale = i32x4_shl(i32x4_add(t, c.bias_fix), 23);
        f32x4_mul(y, scale)
    }

    #[inline(always)]
    pub fn sigmoid(x: v128, c: &Consts) -> v128 {
        let e = exp(f32x4_neg(f32x4_abs(x)), c);
        let s = f32x4_div(c.one, f32x4_add(c.one, e));
        // x < 0 exactly when x's bits, read as a signed integer, are negative (−0 included; e·s = s there).
        let neg = i32x4_lt(x, i32x4_splat(0));
        v128_bitselect(f32x4_mul(e, s), s, neg)
    }

    #[inline(always)]
    pub fn tanh(x: v128, c: &Consts) -> v128 {
        let ax = f32x4_abs(x);
        let e = exp(f32x4_neg(f32x4_add(ax, ax)), c);
        let t = f32x4_div(f32x4_sub(c.one, e), f32x4_add(c.one, e));
        // Copy x's sign onto t (t >= 0): x XOR |x| is x's sign bit.
        v128_or(t, v128_xor(x, ax))
    }

    #[inline(always)]
    pub fn hard_sigmoid(x: v128) -> v128 {
        let y = f32x4_add(f32x4_mul(splat(0.2), x), splat(0.5));
        f32x4_pmin(f32x4_pmax(y, splat(0.0)), splat(1.0))
    }

    #[inline(always)]
    pub fn hard_sigmoid_keras3(x: v128) -> v128 {
        let y = f32x4_pmin(f32x4_pmax(f32x4_add(x, splat(3.0)), splat(0.0)), splat(6.0));
        f32x4_div(y, splat(6.0))
    }

    pub fn activate(act: Activation, data: &mut [f32]) {
        match act {
            Activation::Linear | Activation::Softmax => {}
            Activation::Tanh => {
                let c = Consts::new();
                map_inplace(data, |v| tanh(v, &c), tanh_scalar)
            }
            Activation::Sigmoid => {
                let c = Consts::new();
                map_inplace(data, |v| sigmoid(v, &c), sigmoid_scalar)
            }
            Activation::HardSigmoid => map_inplace(data, hard_sigmoid, hard_sigmoid_scalar),
            Activation::HardSigmoidKeras3 => map_inplace(data, hard_sigmoid_keras3, hard_sigmoid_keras3_scalar),
            Activation::Relu => map_inplace(data, |v| f32x4_pmax(v, splat(0.0)), relu_scalar),
        }
    }

    pub fn exp_inplace(data: &mut [f32]) {
        let c = Consts::new();
        map_inplace(data, |v| exp(v, &c), exp_scalar)
    }
}

pub fn exp_inplace_scalar(data: &mut [f32]) {
    data.iter_mut().for_each(|v| *v = exp_scalar(*v))
}
