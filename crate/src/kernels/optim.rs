//! Optimizer updates over flat f32 buffers, following Keras 3 (`keras/src/optimizers/*.py`).
//!
//! Layout (STYLE rule 4): `params`, `grads` and every moment buffer are flat and laid out
//! identically, one float per parameter, so each optimizer is ONE plain loop over the flat range
//! (no intrinsics: LLVM vectorises these loops in the simd128 build, and the scalar build gets the
//! same code). The element-wise math is independent per parameter, so calling an update on
//! sub-ranges (for example to leave some tensors out of weight decay) gives the same numbers as one
//! call, except for Nadam's shared `u_product`, which must advance once per step (see `nadam_update`).
//!
//! Keras applies, per `apply_gradients` (`base_optimizer.py`, `_backend_apply_gradients`):
//! ```text
//! grads = _clip_gradients(grads)     clipnorm (per tensor) | global_clipnorm | clipvalue: at most one
//! _apply_weight_decay(variables)     variable -= variable · weight_decay · lr   (if weight_decay set)
//! update_step(grad, variable, lr)    the optimizer's own formula, with step t = iterations + 1
//! ```
//! Here: the clip transforms are `clip_by_norm`, `clip_by_global_norm` and `clip_by_value`, run by
//! the caller on `grads` first; weight decay is the `weight_decay` field of every config (0 = Keras'
//! `None`), fused into the update loop so it happens only after the gradients passed the checks;
//! `apply_weight_decay` is the same step on its own.
//!
//! Every update checks, before writing anything: all lengths equal `params.len()`
//! (`ShapeMismatch`), required optional buffers are present and `step ≥ 1` (`InvalidArgument`),
//! and every gradient is finite (`NonFinite`). On error, params and moments are untouched.
//!
//! Precision: hyper-parameters are f64 like Keras' Python floats; per-step scalars (bias
//! corrections, `1 − β`) are computed in f64 and rounded once to f32, as Keras casts Python floats
//! into the f32 graph. Keras computes `β^t` in f32; here it is f64 (a difference below one f32 ulp
//! of the coefficient).

use crate::status::{check_finite, KResult, Status};

fn check_len(name: &str, buf: &[f32], n: usize) -> KResult {
    if buf.len() != n {
        return crate::fail!(
            Status::ShapeMismatch,
            "{}: expected {} floats (one per parameter, laid out like params), got {}",
            name,
            n,
            buf.len()
        );
    }
    Ok(())
}

/// The optional buffer `buf` when `needed`, checked to hold `n` floats; `None` when not needed.
fn required<'a>(name: &str, buf: Option<&'a mut [f32]>, n: usize, needed: bool, why: &str) -> KResult<Option<&'a mut [f32]>> {
    if !needed {
        return Ok(None);
    }
    match buf {
        Some(b) => {
            check_len(name, b, n)?;
            Ok(Some(b))
        }
        None => crate::fail!(Status::InvalidArgument, "{} is required when {}: pass a zeroed buffer of {} floats", name, why, n),
    }
}

fn check_step(step: u64) -> KResult {
    if step == 0 {
        return crate::fail!(Status::InvalidArgument, "step: expected the 1-based iteration (Keras' iterations + 1), got 0");
    }
    Ok(())
}

/// Keras' generic weight decay, `variable −= variable · weight_decay · lr`, in f32 in Keras' order.
#[inline(always)]
fn decay(p: f32, wd: f32, lr: f32) -> f32 {
    if wd != 0.0 {
        p - p * wd * lr
    } else {
        p
    }
}

// ---------------------------------------------------------------------------------------------
// Gradient transforms (run by the caller on `grads` before the update, as Keras' `_clip_gradients`)
// ---------------------------------------------------------------------------------------------

/// Keras `clipvalue`: `g = clip(g, −clipvalue, clipvalue)` element-wise, in place.
///
/// `grads` (N). `clipvalue ≤ 0` (or NaN) is a no-op, as Keras' `if self.clipvalue and self.clipvalue > 0`.
/// A NaN gradient stays NaN (so the update's finiteness check still sees it); ±inf is clipped, as
/// `ops.clip` does.
pub fn clip_by_value(grads: &mut [f32], clipvalue: f32) {
    if clipvalue.is_nan() || clipvalue <= 0.0 {
        return;
    }
    for g in grads.iter_mut() {
        // Not f32::clamp/max/min: they would turn a NaN into a bound and hide it from the check.
        if *g > clipvalue {
            *g = clipvalue;
        } else if *g < -clipvalue {
            *g = -clipvalue;
        }
    }
}

/// Keras `clipnorm`: each tensor's gradient is scaled to L2 norm at most `clipnorm`:
/// `g = g · clipnorm / max(‖g‖₂, clipnorm)` (`base_optimizer._clip_by_norm`; a zero tensor is left
/// as is, its norm counting as 0).
///
/// `grads` (N) flat; `tensors` [(offset, len)] the tensor boundaries inside it (ranges may not
/// overlap; gaps are left alone). `clipnorm ≤ 0` (or NaN) is a no-op, as in Keras. The norm is
/// accumulated in f64. A non-finite gradient makes its tensor NaN (Keras does the same), which the
/// update then reports as `NonFinite`.
/// Errors: a range outside `grads` → `ShapeMismatch` (checked for all ranges before any write).
pub fn clip_by_norm(grads: &mut [f32], tensors: &[(usize, usize)], clipnorm: f32) -> KResult {
    for (i, &(off, len)) in tensors.iter().enumerate() {
        let end = off.checked_add(len);
        if end.map_or(true, |e| e > grads.len()) {
            return crate::fail!(
                Status::ShapeMismatch,
                "tensors[{}] = (offset {}, len {}) reaches past the end of grads ({} floats): boundaries must come from the same layout as the gradient buffer",
                i,
                off,
                len,
                grads.len()
            );
        }
    }
    if clipnorm.is_nan() || clipnorm <= 0.0 {
        return Ok(());
    }
    let c = clipnorm as f64;
    for &(off, len) in tensors {
        let g = &mut grads[off..off + len];
        let norm = sum_squares(g).sqrt();
        // max(norm, c) that keeps a NaN norm NaN (f64::max would drop it).
        let denom = if norm <= c { c } else { norm };
        let (cf, df) = (clipnorm, denom as f32);
        for v in g.iter_mut() {
            *v = *v * cf / df;
        }
    }
    Ok(())
}

fn sum_squares(g: &[f32]) -> f64 {
    let mut sums = SquareSums::default();
    sums.add(g);
    sums.total()
}

/// Σ g² in f64 over one buffer or several in a row, as eight running sums: element i of the whole
/// run goes to sum i mod 8, and the eight are added in a fixed order at the end. One sum is a chain
/// of dependent adds (about 5 ms over a 4M-weight model); eight overlap and vectorise. Because the
/// lane follows the position in the run, a list of tensors gives the same bits as their
/// concatenation (the multi-tensor step and the flat-buffer kernels agree exactly).
#[derive(Default)]
struct SquareSums {
    lanes: [f64; 8],
    seen: usize,
}

impl SquareSums {
    fn add(&mut self, g: &[f32]) {
        let head = ((8 - self.seen % 8) % 8).min(g.len());
        for &v in &g[..head] {
            self.lanes[self.seen % 8] += (v as f64) * (v as f64);
            self.seen += 1;
        }
        let mut chunks = g[head..].chunks_exact(8);
        for c in &mut chunks {
            for (l, &v) in self.lanes.iter_mut().zip(c) {
                *l += (v as f64) * (v as f64);
            }
        }
        self.seen += (g.len() - head) / 8 * 8;
        for &v in chunks.remainder() {
            self.lanes[self.seen % 8] += (v as f64) * (v as f64);
            self.seen += 1;
        }
    }

    fn total(&self) -> f64 {
        let l = &self.lanes;
        ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
    }
}

/// Keras `global_norm`: `sqrt(Σ g²)` over every gradient (the flat buffer holds all of them), in f64.
/// `grads` (N). NaN or inf if any gradient is.
pub fn global_norm(grads: &[f32]) -> f64 {
    sum_squares(grads).sqrt()
}

/// Keras `global_clipnorm` (`base_optimizer.clip_by_global_norm`): with n = `global_norm(grads)`,
/// `scale = clipnorm · min(1/n, 1/clipnorm)` (+ (n − n), which makes it NaN for a non-finite n),
/// `g = g · scale`. Below the threshold the scale rounds to exactly 1 in f32: grads are unchanged.
///
/// `grads` (N), in place. Returns n (for logging). `clipnorm ≤ 0` (or NaN) is a no-op, as in Keras.
pub fn clip_by_global_norm(grads: &mut [f32], clipnorm: f32) -> f64 {
    let n = global_norm(grads);
    let scale = global_clip_scale(n, clipnorm);
    if scale != 1.0 {
        for g in grads.iter_mut() {
            *g *= scale;
        }
    }
    n
}

/// The factor `clip_by_global_norm` multiplies every gradient by, for global norm `n`:
/// `clipnorm · min(1/n, 1/clipnorm)` rounded to f32, NaN for a non-finite n, exactly 1 below the
/// threshold or when `clipnorm ≤ 0` (or NaN: no clipping, as in Keras).
pub fn global_clip_scale(n: f64, clipnorm: f32) -> f32 {
    if clipnorm.is_nan() || clipnorm <= 0.0 {
        return 1.0;
    }
    let c = clipnorm as f64;
    // Keras adds (n − n) to make the scale NaN for a non-finite n; said directly here.
    if n.is_finite() {
        (c * (1.0 / n).min(1.0 / c)) as f32
    } else {
        f32::NAN
    }
}

/// Keras' generic weight decay on its own (`base_optimizer._apply_weight_decay`):
/// `variable −= variable · weight_decay · learning_rate`.
///
/// `params` (N), in place. Every update below does the same thing, fused, from its config's
/// `weight_decay`; this is for callers that run a different update. Keras applies it after clipping
/// and before `update_step`; run the gradient checks first so a bad batch changes nothing.
pub fn apply_weight_decay(params: &mut [f32], weight_decay: f64, learning_rate: f64) {
    let (wd, lr) = (weight_decay as f32, learning_rate as f32);
    if wd == 0.0 {
        return;
    }
    for p in params.iter_mut() {
        *p = decay(*p, wd, lr);
    }
}

// ---------------------------------------------------------------------------------------------
// SGD
// ---------------------------------------------------------------------------------------------

/// Keras `SGD` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Defaults to 0.01.
    pub learning_rate: f64,
    /// Defaults to 0 (plain SGD, no momentum buffer).
    pub momentum: f64,
    /// Defaults to false.
    pub nesterov: bool,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { learning_rate: 0.01, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// One Keras 3 `SGD` step (`keras/src/optimizers/sgd.py`):
/// ```text
/// momentum = 0:  p −= g · lr
/// otherwise:     m = m · momentum − g · lr
///                nesterov: p += m · momentum − g · lr     else: p += m
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// `params` (N) updated; `momentums` (N) the velocity `m`, zero-initialised, required iff
/// `momentum ≠ 0` (ignored otherwise); `grads` (N). No aliasing.
pub fn sgd_update(params: &mut [f32], momentums: Option<&mut [f32]>, grads: &[f32], cfg: &SgdConfig) -> KResult {
    let n = params.len();
    check_len("grads", grads, n)?;
    let mom = required("momentums", momentums, n, cfg.momentum != 0.0, "momentum != 0")?;
    check_finite("gradients", grads)?;
    let (lr, wd, mu) = (cfg.learning_rate as f32, cfg.weight_decay as f32, cfg.momentum as f32);
    match mom {
        None => {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p = decay(*p, wd, lr) - g * lr;
            }
        }
        Some(m) => {
            for i in 0..n {
                let g = grads[i];
                let mi = m[i] * mu - g * lr;
                m[i] = mi;
                let step = if cfg.nesterov { mi * mu - g * lr } else { mi };
                params[i] = decay(params[i], wd, lr) + step;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// RMSprop
// ---------------------------------------------------------------------------------------------

/// Keras `RMSprop` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmspropConfig {
    /// Defaults to 0.001.
    pub learning_rate: f64,
    /// Discount of the squared-gradient average. Defaults to 0.9.
    pub rho: f64,
    /// Defaults to 0 (no momentum buffer).
    pub momentum: f64,
    /// Defaults to 1e-7 (added inside the square root, as Keras 3 does).
    pub epsilon: f64,
    /// Normalise by the variance estimate instead of the second moment. Defaults to false.
    pub centered: bool,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig { learning_rate: 0.001, rho: 0.9, momentum: 0.0, epsilon: 1e-7, centered: false, weight_decay: 0.0 }
    }
}

/// One Keras 3 `RMSprop` step (`keras/src/optimizers/rmsprop.py`):
/// ```text
/// v = ρ·v + (1 − ρ)·g²
/// centered:  a = ρ·a + (1 − ρ)·g;  d = v − a² + ε        else: d = v + ε
/// inc = lr · g / √d
/// momentum > 0:  mom = momentum · mom + inc;  p −= mom     else: p −= inc
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// `params` (N); `velocity` (N) `v`, zero-initialised; `momentums` (N) required iff momentum > 0;
/// `average_grads` (N) `a`, required iff centered; `grads` (N). No aliasing.
pub fn rmsprop_update(
    params: &mut [f32],
    velocity: &mut [f32],
    momentums: Option<&mut [f32]>,
    average_grads: Option<&mut [f32]>,
    grads: &[f32],
    cfg: &RmspropConfig,
) -> KResult {
    let n = params.len();
    check_len("velocity", velocity, n)?;
    check_len("grads", grads, n)?;
    let mut mom = required("momentums", momentums, n, cfg.momentum > 0.0, "momentum > 0")?;
    let mut avg = required("average_grads", average_grads, n, cfg.centered, "centered")?;
    check_finite("gradients", grads)?;
    let (lr, wd) = (cfg.learning_rate as f32, cfg.weight_decay as f32);
    let (rho, one_m_rho, eps, mu) = (cfg.rho as f32, (1.0 - cfg.rho) as f32, cfg.epsilon as f32, cfg.momentum as f32);
    for i in 0..n {
        let g = grads[i];
        let v = rho * velocity[i] + one_m_rho * (g * g);
        velocity[i] = v;
        let d = match avg.as_deref_mut() {
            Some(a) => {
                let ai = rho * a[i] + one_m_rho * g;
                a[i] = ai;
                v - ai * ai + eps
            }
            None => v + eps,
        };
        let inc = lr * g / d.sqrt();
        let p = decay(params[i], wd, lr);
        params[i] = match mom.as_deref_mut() {
            Some(m) => {
                let mi = mu * m[i] + inc;
                m[i] = mi;
                p - mi
            }
            None => p - inc,
        };
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Adam, AdamW
// ---------------------------------------------------------------------------------------------

/// Keras `Adam` / `AdamW` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Defaults to 0.001.
    pub learning_rate: f64,
    /// Defaults to 0.9.
    pub beta_1: f64,
    /// Defaults to 0.999.
    pub beta_2: f64,
    /// Defaults to 1e-7 (added outside the square root).
    pub epsilon: f64,
    /// Use the running maximum of `v` (needs a `vhat` buffer). Defaults to false.
    pub amsgrad: bool,
    /// Decoupled weight decay. Adam: defaults to 0 (Keras `None`); AdamW: defaults to 0.004.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false, weight_decay: 0.0 }
    }
}

impl AdamConfig {
    /// Keras `AdamW` defaults: Adam's, with `weight_decay = 0.004`.
    pub fn adamw() -> Self {
        AdamConfig { weight_decay: 0.004, ..AdamConfig::default() }
    }
}

/// One Keras 3 `Adam` step (`keras/src/optimizers/adam.py`), t = `step`:
/// ```text
/// α = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
/// m += (g − m)·(1 − β₁)
/// v += (g² − v)·(1 − β₂)
/// amsgrad: v̂ = max(v̂, v), used in place of v
/// p −= m·α / (√v + ε)
/// ```
/// (after the fused weight decay `p −= p · wd · lr`, which makes this AdamW when `weight_decay > 0`).
///
/// `params` (N); `m`, `v` (N) zero-initialised moments; `vhat` (N) zero-initialised, required iff
/// amsgrad; `grads` (N); `step` the 1-based iteration (Keras `iterations + 1`). No aliasing.
pub fn adam_update(params: &mut [f32], m: &mut [f32], v: &mut [f32], vhat: Option<&mut [f32]>, grads: &[f32], cfg: &AdamConfig, step: u64) -> KResult {
    let n = params.len();
    check_len("m", m, n)?;
    check_len("v", v, n)?;
    check_len("grads", grads, n)?;
    let mut vhat = required("vhat", vhat, n, cfg.amsgrad, "amsgrad")?;
    check_step(step)?;
    check_finite("gradients", grads)?;
    let t = step as f64;
    let alpha = (cfg.learning_rate * (1.0 - cfg.beta_2.powf(t)).sqrt() / (1.0 - cfg.beta_1.powf(t))) as f32;
    let (lr, wd) = (cfg.learning_rate as f32, cfg.weight_decay as f32);
    let (c1, c2, eps) = ((1.0 - cfg.beta_1) as f32, (1.0 - cfg.beta_2) as f32, cfg.epsilon as f32);
    for i in 0..n {
        let g = grads[i];
        let mi = m[i] + (g - m[i]) * c1;
        let mut vi = v[i] + (g * g - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        if let Some(h) = vhat.as_deref_mut() {
            vi = h[i].max(vi);
            h[i] = vi;
        }
        params[i] = decay(params[i], wd, lr) - mi * alpha / (vi.sqrt() + eps);
    }
    Ok(())
}

/// One Keras 3 `AdamW` step (`keras/src/optimizers/adamw.py`): Keras' AdamW is `Adam` whose
/// `weight_decay` is required (default 0.004, see `AdamConfig::adamw`), applied before the Adam
/// update as `p −= p · weight_decay · lr`. Same buffers and checks as `adam_update`; additionally
/// `weight_decay` must be > 0 (Keras raises for `None`), else `InvalidArgument`.
pub fn adamw_update(params: &mut [f32], m: &mut [f32], v: &mut [f32], vhat: Option<&mut [f32]>, grads: &[f32], cfg: &AdamConfig, step: u64) -> KResult {
    if cfg.weight_decay.is_nan() || cfg.weight_decay <= 0.0 {
        return crate::fail!(Status::InvalidArgument, "AdamW needs weight_decay > 0 (Keras default 0.004), got {}; use Adam for none", cfg.weight_decay);
    }
    adam_update(params, m, v, vhat, grads, cfg, step)
}

// ---------------------------------------------------------------------------------------------
// Adagrad
// ---------------------------------------------------------------------------------------------

/// Keras `Adagrad` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Defaults to 0.001.
    pub learning_rate: f64,
    /// Starting value of every accumulator (fill with `adagrad_init`). Defaults to 0.1.
    pub initial_accumulator_value: f64,
    /// Defaults to 1e-7 (added inside the square root).
    pub epsilon: f64,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

/// Fills the `accumulators` (N) with `initial_accumulator_value`, as Keras' `build` does.
pub fn adagrad_init(accumulators: &mut [f32], cfg: &AdagradConfig) {
    let a0 = cfg.initial_accumulator_value as f32;
    accumulators.iter_mut().for_each(|a| *a = a0);
}

/// One Keras 3 `Adagrad` step (`keras/src/optimizers/adagrad.py`):
/// ```text
/// acc += g²
/// p −= lr · g / √(acc + ε)
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// `params` (N); `accumulators` (N), initialised by `adagrad_init` (NOT zeros); `grads` (N).
pub fn adagrad_update(params: &mut [f32], accumulators: &mut [f32], grads: &[f32], cfg: &AdagradConfig) -> KResult {
    let n = params.len();
    check_len("accumulators", accumulators, n)?;
    check_len("grads", grads, n)?;
    check_finite("gradients", grads)?;
    let (lr, wd, eps) = (cfg.learning_rate as f32, cfg.weight_decay as f32, cfg.epsilon as f32);
    for i in 0..n {
        let g = grads[i];
        let a = accumulators[i] + g * g;
        accumulators[i] = a;
        params[i] = decay(params[i], wd, lr) - lr * g / (a + eps).sqrt();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Adadelta
// ---------------------------------------------------------------------------------------------

/// Keras `Adadelta` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdadeltaConfig {
    /// Defaults to 0.001 (Keras 3's default; the original paper uses 1.0).
    pub learning_rate: f64,
    /// Decay of both running averages. Defaults to 0.95.
    pub rho: f64,
    /// Defaults to 1e-7.
    pub epsilon: f64,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for AdadeltaConfig {
    fn default() -> Self {
        AdadeltaConfig { learning_rate: 0.001, rho: 0.95, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

/// One Keras 3 `Adadelta` step (`keras/src/optimizers/adadelta.py`), rms(x) = √(x + ε):
/// ```text
/// E[g²] = ρ·E[g²] + (1 − ρ)·g²
/// Δ = −rms(E[Δ²]) · g / rms(E[g²])
/// E[Δ²] = ρ·E[Δ²] + (1 − ρ)·Δ²
/// p += lr · Δ
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// `params` (N); `accumulated_grads` E[g²] (N) and `accumulated_deltas` E[Δ²] (N), zero-initialised;
/// `grads` (N). No aliasing.
pub fn adadelta_update(params: &mut [f32], accumulated_grads: &mut [f32], accumulated_deltas: &mut [f32], grads: &[f32], cfg: &AdadeltaConfig) -> KResult {
    let n = params.len();
    check_len("accumulated_grads", accumulated_grads, n)?;
    check_len("accumulated_deltas", accumulated_deltas, n)?;
    check_len("grads", grads, n)?;
    check_finite("gradients", grads)?;
    let (lr, wd) = (cfg.learning_rate as f32, cfg.weight_decay as f32);
    let (rho, one_m_rho, eps) = (cfg.rho as f32, (1.0 - cfg.rho) as f32, cfg.epsilon as f32);
    for i in 0..n {
        let g = grads[i];
        let eg = rho * accumulated_grads[i] + one_m_rho * (g * g);
        accumulated_grads[i] = eg;
        let ed = accumulated_deltas[i];
        let delta = -((ed + eps).sqrt() * g / (eg + eps).sqrt());
        accumulated_deltas[i] = rho * ed + one_m_rho * (delta * delta);
        params[i] = decay(params[i], wd, lr) + lr * delta;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Adamax
// ---------------------------------------------------------------------------------------------

/// Keras `Adamax` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamaxConfig {
    /// Defaults to 0.001.
    pub learning_rate: f64,
    /// Defaults to 0.9.
    pub beta_1: f64,
    /// Decay of the infinity norm. Defaults to 0.999.
    pub beta_2: f64,
    /// Defaults to 1e-7.
    pub epsilon: f64,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for AdamaxConfig {
    fn default() -> Self {
        AdamaxConfig { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

/// One Keras 3 `Adamax` step (`keras/src/optimizers/adamax.py`), t = `step`:
/// ```text
/// m += (g − m)·(1 − β₁)
/// u = max(β₂·u, |g|)
/// p −= lr·m / ((1 − β₁ᵗ)·(u + ε))
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// `params` (N); `m` (N) and `u` (N) zero-initialised; `grads` (N); `step` 1-based. No aliasing.
pub fn adamax_update(params: &mut [f32], m: &mut [f32], u: &mut [f32], grads: &[f32], cfg: &AdamaxConfig, step: u64) -> KResult {
    let n = params.len();
    check_len("m", m, n)?;
    check_len("u", u, n)?;
    check_len("grads", grads, n)?;
    check_step(step)?;
    check_finite("gradients", grads)?;
    let (lr, wd) = (cfg.learning_rate as f32, cfg.weight_decay as f32);
    let (c1, b2, eps) = ((1.0 - cfg.beta_1) as f32, cfg.beta_2 as f32, cfg.epsilon as f32);
    let bias = (1.0 - cfg.beta_1.powf(step as f64)) as f32;
    for i in 0..n {
        let g = grads[i];
        let mi = m[i] + (g - m[i]) * c1;
        m[i] = mi;
        let ui = (b2 * u[i]).max(g.abs());
        u[i] = ui;
        params[i] = decay(params[i], wd, lr) - lr * mi / (bias * (ui + eps));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Nadam
// ---------------------------------------------------------------------------------------------

/// Keras `Nadam` hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NadamConfig {
    /// Defaults to 0.001.
    pub learning_rate: f64,
    /// Defaults to 0.9.
    pub beta_1: f64,
    /// Defaults to 0.999.
    pub beta_2: f64,
    /// Defaults to 1e-7.
    pub epsilon: f64,
    /// Keras' generic decoupled weight decay; 0 (Keras `None`) by default.
    pub weight_decay: f64,
}

impl Default for NadamConfig {
    fn default() -> Self {
        NadamConfig { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, weight_decay: 0.0 }
    }
}

/// Keras 3's Nadam momentum schedule `u_t = β₁ · (1 − 0.5 · 0.96ᵗ)`.
pub fn nadam_momentum(beta_1: f64, t: f64) -> f64 {
    beta_1 * (1.0 - 0.5 * 0.96f64.powf(t))
}

/// One Keras 3 `Nadam` step (`keras/src/optimizers/nadam.py`), t = `step`:
/// ```text
/// u_t = β₁·(1 − 0.5·0.96ᵗ)     u_{t+1} = β₁·(1 − 0.5·0.96^(t+1))
/// u_product ← u_product · u_t          (Keras' `_u_product`, 1.0 before step 1)
/// m += (g − m)·(1 − β₁)
/// v += (g² − v)·(1 − β₂)
/// m̂ = u_{t+1}·m / (1 − u_product·u_{t+1}) + (1 − u_t)·g / (1 − u_product)
/// v̂ = v / (1 − β₂ᵗ)
/// p −= m̂·lr / (√v̂ + ε)
/// ```
/// (after the fused weight decay `p −= p · wd · lr`).
///
/// Porting note: Keras 3 uses 0.96ᵗ; Keras 1/2 (and tf.keras' `optimizer_v2`) used
/// 0.96^(0.004·t) (`schedule_decay`). We follow Keras 3.
///
/// `u_product` is optimizer state shared by all parameters: the caller keeps it (f64; Keras keeps
/// an f32 variable), starts it at 1.0, and passes it back unchanged between steps; this function
/// multiplies it by u_t, ONLY on success. Because of it, call this once per step over the whole
/// flat range; to update sub-ranges separately, pass each call a copy of the same incoming value
/// and keep one result.
///
/// `params` (N); `m`, `v` (N) zero-initialised; `grads` (N); `step` 1-based. No aliasing.
pub fn nadam_update(params: &mut [f32], m: &mut [f32], v: &mut [f32], u_product: &mut f64, grads: &[f32], cfg: &NadamConfig, step: u64) -> KResult {
    let n = params.len();
    check_len("m", m, n)?;
    check_len("v", v, n)?;
    check_len("grads", grads, n)?;
    check_step(step)?;
    check_finite("gradients", grads)?;
    let t = step as f64;
    let u_t = nadam_momentum(cfg.beta_1, t);
    let u_t1 = nadam_momentum(cfg.beta_1, t + 1.0);
    let prod = *u_product * u_t;
    *u_product = prod;
    let cm = (u_t1 / (1.0 - prod * u_t1)) as f32;
    let cg = ((1.0 - u_t) / (1.0 - prod)) as f32;
    let cv = (1.0 / (1.0 - cfg.beta_2.powf(t))) as f32;
    let (lr, wd, eps) = (cfg.learning_rate as f32, cfg.weight_decay as f32, cfg.epsilon as f32);
    let (c1, c2) = ((1.0 - cfg.beta_1) as f32, (1.0 - cfg.beta_2) as f32);
    for i in 0..n {
        let g = grads[i];
        let mi = m[i] + (g - m[i]) * c1;
        let vi = v[i] + (g * g - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        let m_hat = cm * mi + cg * g;
        let v_hat = vi * cv;
        params[i] = decay(params[i], wd, lr) - m_hat * lr / (v_hat.sqrt() + eps);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One Keras `apply_gradients` over many tensors
// ---------------------------------------------------------------------------------------------

/// The update `apply_gradients` runs, with its hyper-parameters. The `weight_decay` inside is the
/// optimizer's; tensors whose `weight_decay` flag is off are updated with 0 instead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
    Adam(AdamConfig),
    /// Adam with a required `weight_decay > 0` (Keras `AdamW`).
    AdamW(AdamConfig),
    Adagrad(AdagradConfig),
    Adadelta(AdadeltaConfig),
    Adamax(AdamaxConfig),
    Nadam(NadamConfig),
}

impl Update {
    /// The state regions this update keeps, in layout order, named after Keras' slot variables.
    /// Optional buffers are present only when the config needs them (as Keras' `build` does).
    pub fn state_regions(&self) -> &'static [&'static str] {
        match self {
            Update::Sgd(c) if c.momentum != 0.0 => &["momentums"],
            Update::Sgd(_) => &[],
            Update::Rmsprop(c) => match (c.momentum > 0.0, c.centered) {
                (false, false) => &["velocities"],
                (true, false) => &["velocities", "momentums"],
                (false, true) => &["velocities", "average_gradients"],
                (true, true) => &["velocities", "momentums", "average_gradients"],
            },
            Update::Adam(c) | Update::AdamW(c) if c.amsgrad => &["momentums", "velocities", "velocity_hats"],
            Update::Adam(_) | Update::AdamW(_) => &["momentums", "velocities"],
            Update::Adagrad(_) => &["accumulators"],
            Update::Adadelta(_) => &["accumulated_grads", "accumulated_delta_vars"],
            Update::Adamax(_) => &["m", "u"],
            Update::Nadam(_) => &["momentums", "velocities"],
        }
    }

    /// The optimizer's weight decay (0 = none).
    pub fn weight_decay(&self) -> f64 {
        match self {
            Update::Sgd(c) => c.weight_decay,
            Update::Rmsprop(c) => c.weight_decay,
            Update::Adam(c) | Update::AdamW(c) => c.weight_decay,
            Update::Adagrad(c) => c.weight_decay,
            Update::Adadelta(c) => c.weight_decay,
            Update::Adamax(c) => c.weight_decay,
            Update::Nadam(c) => c.weight_decay,
        }
    }
}

/// Keras' gradient clipping option; Keras allows at most one of the three.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    None,
    /// `clipnorm`: each tensor to L2 norm ≤ c (`clip_by_norm`).
    Norm(f32),
    /// `global_clipnorm`: all tensors together to global L2 norm ≤ c (`clip_by_global_norm`).
    GlobalNorm(f32),
    /// `clipvalue`: every element into [−c, c] (`clip_by_value`).
    Value(f32),
}

/// One parameter tensor of `apply_gradients`.
pub struct ParamTensor<'a> {
    /// (len) updated in place.
    pub params: &'a mut [f32],
    /// (len) its gradient; clipped IN PLACE (a training loop zeroes it before the next backward).
    pub grads: &'a mut [f32],
    /// Whether the optimizer's weight decay applies (Keras: not in `exclude_from_weight_decay`).
    pub weight_decay: bool,
}

/// Squared L2 norm of `g` added to `acc`, in f64, in element order: called tensor after tensor it
/// sums in the same order as `global_norm` over the concatenated buffer, so the two agree bitwise.
/// The `len`-float window at `off` of each of the first three regions of `state`, laid out
/// region by region with `total` floats per region (regions past the end are `None`).
fn regions_at(state: &mut [f32], total: usize, off: usize, len: usize) -> [Option<&mut [f32]>; 3] {
    let mut out: [Option<&mut [f32]>; 3] = [None, None, None];
    if total > 0 {
        for (k, region) in state.chunks_mut(total).take(3).enumerate() {
            out[k] = Some(&mut region[off..off + len]);
        }
    }
    out
}

/// A region the layout guarantees (checked in `apply_gradients` before any write).
fn region(r: Option<&mut [f32]>) -> KResult<&mut [f32]> {
    match r {
        Some(r) => Ok(r),
        None => crate::fail!(Status::InvalidArgument, "internal: a state region is missing although the state length was checked"),
    }
}

/// One Keras 3 `apply_gradients` step over many tensors (`base_optimizer.py`,
/// `_backend_apply_gradients`), all or nothing:
/// ```text
/// check:  lengths, state layout, step ≥ 1, every gradient finite        (nothing written yet)
/// n = √(Σ over all tensors of Σ g²)                                        (returned, for logging)
/// clip:   Clip::Norm per tensor | Clip::GlobalNorm with n | Clip::Value    (grads, in place)
/// update: per tensor, the `Update`'s kernel above with its slice of every state region, and
///         weight decay `p −= p · wd · lr` only where the tensor's `weight_decay` flag is set
/// ```
///
/// `tensors`: each with params and grads of the same length (lengths may differ between tensors;
/// 0 is allowed). `state` (R · N): R = `update.state_regions().len()` regions of N = Σ len floats,
/// region k holding tensor t's slots at `k·N + offset_t` with offset_t = Σ_{s<t} len_s; zeroed
/// before the first step, except Adagrad's accumulators (`initial_accumulator_value`).
/// `u_product`: Nadam's running product (start at 1.0), advanced once per step; unused otherwise.
/// `step`: 1-based (Keras' `iterations + 1`). Returns the global gradient norm n before clipping.
///
/// Errors (nothing is written, `u_product` included): a tensor's grads and params lengths differ
/// or `state` is not R · N floats → `ShapeMismatch`; step 0 or AdamW without weight decay →
/// `InvalidArgument`; a NaN or ±inf gradient → `NonFinite`, whose detail names the tensor index and
/// flat element index ("gradient of tensor 2 … at flat index 17") so callers can name the weight.
pub fn apply_gradients(tensors: &mut [ParamTensor], state: &mut [f32], u_product: &mut f64, update: &Update, clip: Clip, step: u64) -> KResult<f64> {
    let names = update.state_regions();
    let mut total = 0usize;
    for (t, x) in tensors.iter().enumerate() {
        if x.grads.len() != x.params.len() {
            return crate::fail!(Status::ShapeMismatch, "tensors[{}]: grads has {} floats but params has {}: they must have the same length", t, x.grads.len(), x.params.len());
        }
        total = match total.checked_add(x.params.len()) {
            Some(v) => v,
            None => return crate::fail!(Status::InvalidArgument, "tensors: the total parameter count overflows"),
        };
    }
    let want = names.len().checked_mul(total);
    if want != Some(state.len()) {
        return crate::fail!(
            Status::ShapeMismatch,
            "state: expected {} regions {:?} of {} floats (one per parameter of all tensors) = {} floats, got {}",
            names.len(),
            names,
            total,
            names.len().saturating_mul(total),
            state.len()
        );
    }
    check_step(step)?;
    if let Update::AdamW(c) = update {
        if c.weight_decay.is_nan() || c.weight_decay <= 0.0 {
            return crate::fail!(Status::InvalidArgument, "AdamW needs weight_decay > 0 (Keras default 0.004), got {}; use Adam for none", c.weight_decay);
        }
    }
    // One pass: the global norm, and finiteness. Squares of f32 values cannot overflow f64, so the
    // running sums turn non-finite exactly at the first tensor holding a NaN or an infinity.
    let mut sums = SquareSums::default();
    for (t, x) in tensors.iter().enumerate() {
        sums.add(x.grads);
        if !sums.total().is_finite() {
            let (i, v) = x.grads.iter().enumerate().find(|(_, v)| !v.is_finite()).map(|(i, v)| (i, *v)).unwrap_or((0, f32::NAN));
            return crate::fail!(
                Status::NonFinite,
                "gradient of tensor {} has a non-finite value ({}) at flat index {}: nothing was updated; check the data, lower the learning rate, or clip gradients",
                t,
                v,
                i
            );
        }
    }
    let norm = sums.total().sqrt();

    match clip {
        Clip::None => {}
        Clip::Norm(c) => {
            for x in tensors.iter_mut() {
                let n = x.grads.len();
                clip_by_norm(x.grads, &[(0, n)], c)?;
            }
        }
        Clip::GlobalNorm(c) => {
            let scale = global_clip_scale(norm, c);
            if scale != 1.0 {
                for x in tensors.iter_mut() {
                    x.grads.iter_mut().for_each(|g| *g *= scale);
                }
            }
        }
        Clip::Value(c) => {
            for x in tensors.iter_mut() {
                clip_by_value(x.grads, c);
            }
        }
    }

    // The checks above cover every check of the kernels below (lengths, present regions, step,
    // finite gradients: clipping keeps finite values finite), so none fails after a first write.
    let incoming = *u_product;
    let mut advanced = incoming;
    let mut off = 0usize;
    for x in tensors.iter_mut() {
        let len = x.params.len();
        let wd = if x.weight_decay { update.weight_decay() } else { 0.0 };
        let [r0, r1, r2] = regions_at(state, total, off, len);
        let (p, g) = (&mut *x.params, &*x.grads);
        match *update {
            Update::Sgd(c) => sgd_update(p, r0, g, &SgdConfig { weight_decay: wd, ..c })?,
            Update::Rmsprop(c) => {
                let mut rest = [r1, r2].into_iter().flatten();
                let mom = if c.momentum > 0.0 { rest.next() } else { None };
                let avg = if c.centered { rest.next() } else { None };
                rmsprop_update(p, region(r0)?, mom, avg, g, &RmspropConfig { weight_decay: wd, ..c })?
            }
            // AdamW is Adam with the decay; `adam_update` because a tensor left out of weight
            // decay runs with 0, which `adamw_update` refuses (the AdamW check is done above).
            Update::Adam(c) | Update::AdamW(c) => adam_update(p, region(r0)?, region(r1)?, r2, g, &AdamConfig { weight_decay: wd, ..c }, step)?,
            Update::Adagrad(c) => adagrad_update(p, region(r0)?, g, &AdagradConfig { weight_decay: wd, ..c })?,
            Update::Adadelta(c) => adadelta_update(p, region(r0)?, region(r1)?, g, &AdadeltaConfig { weight_decay: wd, ..c })?,
            Update::Adamax(c) => adamax_update(p, region(r0)?, region(r1)?, g, &AdamaxConfig { weight_decay: wd, ..c }, step)?,
            Update::Nadam(c) => {
                // Each tensor starts from the same incoming product (see `nadam_update`).
                let mut u = incoming;
                nadam_update(p, region(r0)?, region(r1)?, &mut u, g, &NadamConfig { weight_decay: wd, ..c }, step)?;
                advanced = u;
            }
        }
        off += len;
    }
    *u_product = advanced;
    Ok(norm)
}
