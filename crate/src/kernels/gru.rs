//! GRU over a whole sequence: `gru_forward` / `gru_backward` (BPTT), both cell forms.
//!
//! Math (GRU-CONVENTIONS.md §1), Keras layout and gate order [z | r | h] (§2):
//! ```text
//! reset-after:  [xz xr xh] = x·K + b_x     [uz ur uh] = h_prev·U + b_u
//!               z = σ(xz + uz)   r = σ(xr + ur)   h̃ = act(xh + r ⊙ uh)
//! reset-before: z = σ(x·K_z + b_z + h_prev·U_z)   r = σ(x·K_r + b_r + h_prev·U_r)
//!               h̃ = act(x·K_h + b_h + (r ⊙ h_prev)·U_h)
//! both:         h = z ⊙ h_prev + (1 − z) ⊙ h̃        (σ = the recurrent activation)
//! ```
//! Clip (ONNX `clip`, optional): every gate pre-activation (the input of σ and of act above) is
//! clamped to [−clip, clip] first: z = σ(clamp(xz + uz)), …, h̃ = act(clamp(xh + r ⊙ uh)). The
//! gradient through a clamped value is 0.
//!
//! Masking (Keras): where mask[b, t] = 0 the state and the output are carried through unchanged;
//! the output before the first valid step is 0 (Keras' `prev_output` starts at zeros).
//! `go_backwards` reads inputs and mask from t = T−1 down to 0 and writes outputs in that
//! processing order (as Keras does before `Bidirectional` re-reverses them).
//!
//! Recurrent dropout (Keras 3 `GRUCell.call`, keras/src/layers/rnn/gru.py as of keras-team/keras
//! PR #20656, "Fix recurrent dropout for GRU", merged 2024-12-18, in Keras 3.8+): a nonzero
//! `recurrent_dropout` forces `implementation = 1` and `dropout_mask_count = 3`, so
//! `get_recurrent_dropout_mask(h_tm1)` draws THREE (B, H) masks once per call (reused at every
//! step), one per gate, and the dropped states feed the recurrent matmuls only:
//! ```text
//! h_z = h_prev ⊙ m_z   h_r = h_prev ⊙ m_r   h_h = h_prev ⊙ m_h
//! reset-after:  uz = h_z·U_z + b_uz   ur = h_r·U_r + b_ur   uh = h_h·U_h + b_uh   h̃ = act(xh + r ⊙ uh)
//! reset-before: uz = h_z·U_z          ur = h_r·U_r          h̃ = act(xh + (r ⊙ h_h)·U_h)
//! both:         h = z ⊙ h_prev + (1 − z) ⊙ h̃      (the blend uses the UN-dropped h_prev)
//! ```
//! Porting note: Keras 3.0–3.7 instead drew one (B, H) mask and reassigned `h_tm1 = h_tm1 *
//! rec_dp_mask` before everything, the blend included; #20656 replaced that ("didn't work and
//! caused the training to not converge", keras#20276) with the Keras 2 form above, which we follow.
//! The masks arrive already scaled (0 or 1/(1 − rate)) as `rec_mask` (3, B, H) [m_z; m_r; m_h];
//! the kernel only multiplies. With a sequence mask, a masked step still carries the un-dropped
//! previous state (Keras' RNN loop selects between the cell's new state and its input state).
//!
//! Speed: the input projection of all steps is one GEMM (B·T, D)·(D, 3H); each step is one GEMM
//! (B, H)·(H, 3H) against U packed once per weight update (`gru_pack`), then fused gate loops.
//! Backward does one (B, 3H)·(3H, H) GEMM per step and the weight gradients as three large GEMMs
//! over all steps, not per-step outer products.

use super::gemm::{self, gemm, gemm_packed, gemm_packed_cols, View};
use super::{activate, activations::scale_by_derivative, add_column_sums, scratch, scratch_rows, Activation};
use crate::status::KResult;

#[derive(Clone, Copy, Debug)]
pub struct GruDims {
    pub batch: usize,
    pub time: usize,
    pub input: usize,
    pub units: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct GruConfig {
    pub reset_after: bool,
    pub go_backwards: bool,
    pub activation: Activation,
    pub recurrent_activation: Activation,
    /// ONNX `clip`: pre-activations clamped to [−clip, clip] (finite, > 0); None = no clip.
    pub clip: Option<f32>,
}

/// Clamps pre-activations to [−c, c] in place (ONNX `clip`); nothing without a clip.
#[inline]
fn clip_pre(v: &mut [f32], clip: Option<f32>) {
    if let Some(c) = clip {
        // Compares, not f32::max/min, so a NaN stays NaN (the ABI reports it) instead of
        // becoming ±clip.
        for x in v.iter_mut() {
            if *x < -c {
                *x = -c;
            } else if *x > c {
                *x = c;
            }
        }
    }
}

/// act(−clip) and act(clip) as the forward computes them (same `activate`, so the same bits: the
/// SIMD and scalar activations agree to the last bit).
fn clip_bounds(act: Activation, clip: f32) -> (f32, f32) {
    let mut v = [-clip, clip];
    activate(act, &mut v);
    (v[0], v[1])
}

/// Zeros grad[j] where the forward clamped the pre-activation of y[j] = act(clamp(a)).
///
/// The cache keeps outputs, not pre-activations, so a clamped entry is recognised by its output:
/// y ≤ act(−clip) or y ≥ act(clip) (act is non-decreasing). An unclamped `a` whose output rounds
/// to the same float as act(±clip) is treated as clamped too: that happens only within an
/// act-output ulp of the bound, where act' · (distance to the bound) is below f32 resolution, and
/// where act is flat (relu below 0, a saturated hard sigmoid) the gradient is 0 either way.
#[inline]
fn zero_clipped(grad: &mut [f32], y: &[f32], bounds: Option<(f32, f32)>) {
    if let Some((lo, hi)) = bounds {
        for (g, &v) in grad.iter_mut().zip(y) {
            if v <= lo || v >= hi {
                *g = 0.0;
            }
        }
    }
}

/// Where each piece lives inside the packed-weights buffer made by `gru_pack`.
struct PackedSections {
    kernel: (usize, usize),
    /// reset-after: all of U (H, 3H); reset-before: U_zr (H, 2H).
    recurrent: (usize, usize),
    /// reset-before only: U_h (H, H).
    recurrent_h: (usize, usize),
    bias_x: usize,
    bias_u: usize,
    len: usize,
}

impl PackedSections {
    fn new(d: usize, h: usize, reset_after: bool) -> Self {
        let g = 3 * h;
        let k_len = gemm::packed_len(d, g);
        let (u_len, uh_len) = if reset_after { (gemm::packed_len(h, g), 0) } else { (gemm::packed_len(h, 2 * h), gemm::packed_len(h, h)) };
        let mut at = 0;
        let mut take = |len: usize| {
            let s = (at, at + len);
            at += len;
            s
        };
        let kernel = take(k_len);
        let recurrent = take(u_len);
        let recurrent_h = take(uh_len);
        let bias_x = take(g).0;
        let bias_u = take(g).0;
        PackedSections { kernel, recurrent, recurrent_h, bias_x, bias_u, len: at }
    }
}

/// Floats in the packed-weights buffer.
pub fn packed_len(input: usize, units: usize, reset_after: bool) -> usize {
    PackedSections::new(input, units, reset_after).len
}

/// Floats in the training cache: states (T+1, B, H) (un-dropped), gates (T, B, 3H) [z|r|h̃] after
/// activation, aux (T, B, H) = uh (reset-after, includes b_uh) or r ⊙ h_prev ⊙ m_h (reset-before,
/// the left operand of U_h; m_h = 1 without recurrent dropout). Indexed by step. The layout does
/// not depend on recurrent dropout: backward gets the same `rec_mask` again instead.
pub fn cache_len(d: &GruDims) -> usize {
    let (b, t, h) = (d.batch, d.time, d.units);
    (t + 1) * b * h + t * b * 3 * h + t * b * h
}

fn split_cache<'a>(cache: &'a mut [f32], d: &GruDims) -> (&'a mut [f32], &'a mut [f32], &'a mut [f32]) {
    let (b, t, h) = (d.batch, d.time, d.units);
    let (states, rest) = cache.split_at_mut((t + 1) * b * h);
    let (gates, rest) = rest.split_at_mut(t * b * 3 * h);
    (states, gates, &mut rest[..t * b * h])
}

/// Packs Keras-layout weights for `gru_forward`.
///
/// `kernel` (D, 3H), `recurrent` (H, 3H), `bias` reset-after (2, 3H) = [b_x; b_u],
/// reset-before (3H), or None (zeros). `packed` has `packed_len` floats.
pub fn gru_pack(packed: &mut [f32], kernel: &[f32], recurrent: &[f32], bias: Option<&[f32]>, d: usize, h: usize, reset_after: bool) {
    let g = 3 * h;
    let s = PackedSections::new(d, h, reset_after);
    gemm::pack_b(&mut packed[s.kernel.0..s.kernel.1], View::rows(kernel, d, g, g));
    if reset_after {
        gemm::pack_b(&mut packed[s.recurrent.0..s.recurrent.1], View::rows(recurrent, h, g, g));
    } else {
        gemm::pack_b(&mut packed[s.recurrent.0..s.recurrent.1], View::rows(recurrent, h, 2 * h, g));
        gemm::pack_b(&mut packed[s.recurrent_h.0..s.recurrent_h.1], View::rows(&recurrent[2 * h..], h, h, g));
    }
    let (bx, bu) = packed[s.bias_x..s.bias_u + g].split_at_mut(g);
    bx.iter_mut().for_each(|v| *v = 0.0);
    bu.iter_mut().for_each(|v| *v = 0.0);
    if let Some(bias) = bias {
        bx.copy_from_slice(&bias[..g]);
        if reset_after {
            bu.copy_from_slice(&bias[g..2 * g]);
        }
    }
}

pub struct GruOutputs<'a> {
    /// (B, T, H) every step's output, in processing order; None when only the last is wanted.
    pub y: Option<&'a mut [f32]>,
    /// (B, H) the last output (differs from `h_last` only for rows whose steps are all masked).
    pub y_last: &'a mut [f32],
    /// (B, H) the final state.
    pub h_last: &'a mut [f32],
    /// `cache_len` floats when training, else None.
    pub cache: Option<&'a mut [f32]>,
}

#[inline(always)]
fn valid(mask: Option<&[u8]>, b: usize, t: usize, time: usize) -> bool {
    mask.map_or(true, |m| m[b * time + t] != 0)
}

/// Runs the GRU over the whole sequence. `x` (B, T, D); `h0` (B, H) or None (zeros);
/// `mask` (B, T), nonzero = valid, or None; `rec_mask` (3, B, H) [m_z; m_r; m_h] recurrent dropout
/// masks, already scaled, or None (no recurrent dropout: the unchanged single-GEMM path);
/// `packed` from `gru_pack` with the same config.
#[allow(clippy::too_many_arguments)]
pub fn gru_forward(out: GruOutputs, x: &[f32], h0: Option<&[f32]>, mask: Option<&[u8]>, rec_mask: Option<&[f32]>, packed: &[f32], dims: &GruDims, cfg: &GruConfig) -> KResult {
    let GruDims { batch: nb, time: nt, input: nd, units: nh } = *dims;
    let g = 3 * nh;
    let sec = PackedSections::new(nd, nh, cfg.reset_after);
    let bias_x = &packed[sec.bias_x..sec.bias_x + g];
    let bias_u = &packed[sec.bias_u..sec.bias_u + g];

    // (B·T, 3H) input projection of every step, bias b_x first: C += X·K.
    let mut xp = scratch_rows(bias_x, nb * nt)?;
    gemm_packed(&mut xp, g, x, nd, nb * nt, nd, g, &packed[sec.kernel.0..sec.kernel.1])?;

    // Without a cache (inference) two state buffers and one step of gates/aux suffice.
    let caching = out.cache.is_some();
    let mut own_states: Vec<f32>;
    let mut own_gates: Vec<f32>;
    let mut own_aux: Vec<f32>;
    let (states, gates_all, aux_all): (&mut [f32], &mut [f32], &mut [f32]) = match out.cache {
        Some(cache) => split_cache(cache, dims),
        None => {
            own_states = scratch(2 * nb * nh)?;
            own_gates = scratch(nb * g)?;
            own_aux = scratch(nb * nh)?;
            (&mut own_states[..], &mut own_gates[..], &mut own_aux[..])
        }
    };
    let bh = nb * nh;
    match h0 {
        Some(h0) => states[..bh].copy_from_slice(h0),
        None => states[..bh].iter_mut().for_each(|v| *v = 0.0),
    }
    out.y_last.iter_mut().for_each(|v| *v = 0.0);
    let mut y = out.y;
    let mut hp = scratch(nb * g)?;
    // Recurrent dropout: one gate's dropped state h_prev ⊙ m_k, (B, H).
    let mut hm = scratch(if rec_mask.is_some() { bh } else { 0 })?;
    let rec_masks = rec_mask.map(|m| [&m[..bh], &m[bh..2 * bh], &m[2 * bh..3 * bh]]);

    for s in 0..nt {
        let tin = if cfg.go_backwards { nt - 1 - s } else { s };
        // Step s reads state slot s and writes slot s+1 (slots alternate 0/1 without a cache).
        let (prev_slot, next_slot) = if caching { (s, s + 1) } else { (s % 2, (s + 1) % 2) };
        let (h_prev, h_next) = if prev_slot < next_slot {
            let (a, b) = states.split_at_mut(next_slot * bh);
            (&a[prev_slot * bh..], &mut b[..bh])
        } else {
            let (a, b) = states.split_at_mut(prev_slot * bh);
            (&b[..bh], &mut a[next_slot * bh..next_slot * bh + bh])
        };
        let step = if caching { s } else { 0 };
        let gates = &mut gates_all[step * nb * g..(step + 1) * nb * g];
        let aux = &mut aux_all[step * bh..(step + 1) * bh];

        if cfg.reset_after {
            for row in hp.chunks_exact_mut(g) {
                row.copy_from_slice(bias_u);
            }
            let u = &packed[sec.recurrent.0..sec.recurrent.1];
            match rec_masks {
                None => gemm_packed(&mut hp, g, h_prev, nh, nb, nh, g, u)?,
                // Gate k's block of columns reads h_prev ⊙ m_k: three (B, H)·(H, H) products.
                Some(ms) => {
                    for (k, m) in ms.iter().enumerate() {
                        dropped(&mut hm, h_prev, m);
                        gemm_packed_cols(&mut hp[k * nh..], g, &hm, nh, nb, nh, u, k * nh, (k + 1) * nh)?;
                    }
                }
            }
            for b in 0..nb {
                let hprev = &h_prev[b * nh..(b + 1) * nh];
                let hnext = &mut h_next[b * nh..(b + 1) * nh];
                let gr = &mut gates[b * g..(b + 1) * g];
                let au = &mut aux[b * nh..(b + 1) * nh];
                if !valid(mask, b, tin, nt) {
                    hnext.copy_from_slice(hprev);
                    gr.iter_mut().for_each(|v| *v = 0.0);
                    au.iter_mut().for_each(|v| *v = 0.0);
                    continue;
                }
                let xr = &xp[(b * nt + tin) * g..(b * nt + tin + 1) * g];
                let ur = &hp[b * g..(b + 1) * g];
                for j in 0..2 * nh {
                    gr[j] = xr[j] + ur[j];
                }
                clip_pre(&mut gr[..2 * nh], cfg.clip);
                activate(cfg.recurrent_activation, &mut gr[..2 * nh]);
                let uh = &ur[2 * nh..];
                if caching {
                    au.copy_from_slice(uh);
                }
                let (zr, hh) = gr.split_at_mut(2 * nh);
                let r = &zr[nh..];
                for j in 0..nh {
                    hh[j] = xr[2 * nh + j] + r[j] * uh[j];
                }
                clip_pre(hh, cfg.clip);
                activate(cfg.activation, hh);
                let z = &zr[..nh];
                for j in 0..nh {
                    hnext[j] = hh[j] + z[j] * (hprev[j] - hh[j]);
                }
            }
        } else {
            hp.iter_mut().for_each(|v| *v = 0.0);
            let uzr = &packed[sec.recurrent.0..sec.recurrent.1];
            match rec_masks {
                None => gemm_packed(&mut hp, g, h_prev, nh, nb, nh, 2 * nh, uzr)?,
                Some(ms) => {
                    for (k, m) in ms[..2].iter().enumerate() {
                        dropped(&mut hm, h_prev, m);
                        gemm_packed_cols(&mut hp[k * nh..], g, &hm, nh, nb, nh, uzr, k * nh, (k + 1) * nh)?;
                    }
                }
            }
            for b in 0..nb {
                let gr = &mut gates[b * g..(b + 1) * g];
                let au = &mut aux[b * nh..(b + 1) * nh];
                if !valid(mask, b, tin, nt) {
                    gr.iter_mut().for_each(|v| *v = 0.0);
                    au.iter_mut().for_each(|v| *v = 0.0);
                    continue;
                }
                let hprev = &h_prev[b * nh..(b + 1) * nh];
                let xr = &xp[(b * nt + tin) * g..(b * nt + tin + 1) * g];
                let ur = &hp[b * g..(b + 1) * g];
                for j in 0..2 * nh {
                    gr[j] = xr[j] + ur[j];
                }
                clip_pre(&mut gr[..2 * nh], cfg.clip);
                activate(cfg.recurrent_activation, &mut gr[..2 * nh]);
                let r = &gr[nh..2 * nh];
                match rec_masks {
                    None => {
                        for j in 0..nh {
                            au[j] = r[j] * hprev[j];
                        }
                    }
                    Some(ms) => {
                        let mh = &ms[2][b * nh..(b + 1) * nh];
                        for j in 0..nh {
                            au[j] = r[j] * hprev[j] * mh[j];
                        }
                    }
                }
            }
            // (B, H) · U_h → columns 2H.. of hp; masked rows have aux = 0 and are skipped below.
            gemm_packed(&mut hp[2 * nh..], g, aux, nh, nb, nh, nh, &packed[sec.recurrent_h.0..sec.recurrent_h.1])?;
            for b in 0..nb {
                let hprev = &h_prev[b * nh..(b + 1) * nh];
                let hnext = &mut h_next[b * nh..(b + 1) * nh];
                if !valid(mask, b, tin, nt) {
                    hnext.copy_from_slice(hprev);
                    continue;
                }
                let gr = &mut gates[b * g..(b + 1) * g];
                let xr = &xp[(b * nt + tin) * g..(b * nt + tin + 1) * g];
                let ur = &hp[b * g..(b + 1) * g];
                let (zr, hh) = gr.split_at_mut(2 * nh);
                for j in 0..nh {
                    hh[j] = xr[2 * nh + j] + ur[2 * nh + j];
                }
                clip_pre(hh, cfg.clip);
                activate(cfg.activation, hh);
                let z = &zr[..nh];
                for j in 0..nh {
                    hnext[j] = hh[j] + z[j] * (hprev[j] - hh[j]);
                }
            }
        }

        for b in 0..nb {
            let yl = &mut out.y_last[b * nh..(b + 1) * nh];
            if valid(mask, b, tin, nt) {
                yl.copy_from_slice(&h_next[b * nh..(b + 1) * nh]);
            }
            if let Some(y) = y.as_deref_mut() {
                y[(b * nt + s) * nh..(b * nt + s + 1) * nh].copy_from_slice(yl);
            }
        }
    }
    let last_slot = if caching { nt } else { nt % 2 };
    out.h_last.copy_from_slice(&states[last_slot * bh..(last_slot + 1) * bh]);
    Ok(())
}

/// `out = h ⊙ m`, element-wise over (B, H).
#[inline]
fn dropped(out: &mut [f32], h: &[f32], m: &[f32]) {
    for ((o, a), b) in out.iter_mut().zip(h).zip(m) {
        *o = a * b;
    }
}

pub struct GruGrads<'a> {
    /// (B, T, D), accumulated; None to skip.
    pub dx: Option<&'a mut [f32]>,
    /// (B, H), accumulated; None to skip.
    pub dh0: Option<&'a mut [f32]>,
    /// (D, 3H), accumulated.
    pub dkernel: &'a mut [f32],
    /// (H, 3H), accumulated.
    pub drecurrent: &'a mut [f32],
    /// (2, 3H) reset-after, (3H) reset-before, accumulated; None when the layer has no bias.
    pub dbias: Option<&'a mut [f32]>,
}

/// Seeds of backward: gradients of the loss w.r.t. what `gru_forward` returned. Each may be None.
pub struct GruSeeds<'a> {
    /// (B, T, H) w.r.t. `y`.
    pub dy: Option<&'a [f32]>,
    /// (B, H) w.r.t. `y_last`.
    pub dy_last: Option<&'a [f32]>,
    /// (B, H) w.r.t. `h_last`.
    pub dh_last: Option<&'a [f32]>,
}

/// One batch row of a backward step with tanh / sigmoid and no clip, in one pass over the units
/// (the general path makes about ten): adds the carried output gradient `dyc` into `dh` (and
/// clears it), writes dL/d(input projection) (z | r | h̃) to `dxp_row` and dL/d(recurrent
/// projection) to `dhp_row`, and leaves dL/dh_prev's direct share (dh ⊙ z) in `dh`. `uh` is the
/// cached U_h·h_prev + b_h (reset-after); None for reset-before, whose r gradient needs the
/// recurrent product and is finished by the caller. Each value sees the same operations, in the
/// same order, as on the general path, so both give the same bits.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn gate_backward_tanh_sigmoid(dh: &mut [f32], dyc: &mut [f32], dxp_row: &mut [f32], dhp_row: &mut [f32], z: &[f32], r: &[f32], hh: &[f32], hprev: &[f32], uh: Option<&[f32]>) {
    let nh = dh.len();
    assert!(dyc.len() == nh && dxp_row.len() == 3 * nh && dhp_row.len() == 3 * nh);
    assert!(z.len() == nh && r.len() == nh && hh.len() == nh && hprev.len() == nh);
    let (dz_x, rest) = dxp_row.split_at_mut(nh);
    let (dr_x, dhh_x) = rest.split_at_mut(nh);
    let (dz_u, rest) = dhp_row.split_at_mut(nh);
    let (dr_u, dhh_u) = rest.split_at_mut(nh);
    if let Some(uh) = uh {
        assert_eq!(uh.len(), nh);
        for j in 0..nh {
            let d = dh[j] + dyc[j];
            dyc[j] = 0.0;
            let (zj, rj, hj) = (z[j], r[j], hh[j]);
            let dhh = d * (1.0 - zj) * (1.0 - hj * hj);
            let dz = d * (hprev[j] - hj) * (zj * (1.0 - zj));
            let dr = dhh * uh[j] * (rj * (1.0 - rj));
            dh[j] = d * zj;
            dz_x[j] = dz;
            dr_x[j] = dr;
            dhh_x[j] = dhh;
            dz_u[j] = dz;
            dr_u[j] = dr;
            dhh_u[j] = dhh * rj;
        }
    } else {
        for j in 0..nh {
            let d = dh[j] + dyc[j];
            dyc[j] = 0.0;
            let (zj, hj) = (z[j], hh[j]);
            let dhh = d * (1.0 - zj) * (1.0 - hj * hj);
            let dz = d * (hprev[j] - hj) * (zj * (1.0 - zj));
            dh[j] = d * zj;
            dz_x[j] = dz;
            dhh_x[j] = dhh;
            dz_u[j] = dz;
            dhh_u[j] = dhh;
        }
    }
}

/// Backpropagation through time; ADDS into every gradient buffer (the caller zeroes once per step).
///
/// `cache` is the one `gru_forward` filled for this `x`, `mask`, `rec_mask`, weights and config;
/// `rec_mask` must be the forward's too (None iff it was None); `kernel` (D, 3H) and `recurrent`
/// (H, 3H) are the Keras-layout weights the forward packed.
///
/// With recurrent dropout, gate k's recurrent product is (h_prev ⊙ m_k)·U_k, so its share of
/// dh_prev is m_k ⊙ (dHP_k·U_kᵀ) and dU_k = Σ_steps (h_prev ⊙ m_k)ᵀ·dHP_k: one (B, H)·(H, H)
/// product per gate per step instead of one (B, 3H)·(3H, H), the same FLOPs, plus a (T·B, H)
/// scratch of dropped states for the weight gradient.
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(grads: GruGrads, seeds: GruSeeds, cache: &[f32], x: &[f32], mask: Option<&[u8]>, rec_mask: Option<&[f32]>, kernel: &[f32], recurrent: &[f32], dims: &GruDims, cfg: &GruConfig) -> KResult {
    let GruDims { batch: nb, time: nt, input: nd, units: nh } = *dims;
    let g = 3 * nh;
    let bh = nb * nh;
    let states = &cache[..(nt + 1) * bh];
    let gates_all = &cache[(nt + 1) * bh..(nt + 1) * bh + nt * nb * g];
    let aux_all = &cache[(nt + 1) * bh + nt * nb * g..cache_len(dims)];

    // dL/d(input projection) (B, T, 3H) by input time, and dL/d(recurrent projection) (T, B, 3H) by step.
    let mut dxp = scratch(nb * nt * g)?;
    let mut dhp_all = scratch(nt * nb * g)?;
    let mut dh = scratch(bh)?;
    let mut dy_carry = scratch(bh)?;
    let mut drh = scratch(if cfg.reset_after { 0 } else { bh })?;
    let rec_bounds = cfg.clip.map(|c| clip_bounds(cfg.recurrent_activation, c));
    let act_bounds = cfg.clip.map(|c| clip_bounds(cfg.activation, c));
    if let Some(s) = seeds.dh_last {
        dh.copy_from_slice(s);
    }
    if let Some(s) = seeds.dy_last {
        dy_carry.copy_from_slice(s);
    }
    // Uᵀ packed for dh_prev += dHP·Uᵀ (reset-before: U_zrᵀ (2H, H) and U_hᵀ (H, H)).
    let u = View::rows(recurrent, nh, g, g);
    let (ut_p, uht_p) = if cfg.reset_after {
        let mut p = scratch(gemm::packed_len(g, nh))?;
        gemm::pack_b(&mut p, u.t());
        (p, Vec::new())
    } else {
        let mut p = scratch(gemm::packed_len(2 * nh, nh))?;
        gemm::pack_b(&mut p, View::rows(recurrent, nh, 2 * nh, g).t());
        let mut q = scratch(gemm::packed_len(nh, nh))?;
        gemm::pack_b(&mut q, View::rows(&recurrent[2 * nh..], nh, nh, g).t());
        (p, q)
    };
    // Recurrent dropout: U_kᵀ (H, H) packed per gate k (z, r, and h when reset-after), and a
    // (B, H) product buffer whose rows are scaled by m_k before they are added to dh.
    let rec_masks = rec_mask.map(|m| [&m[..bh], &m[bh..2 * bh], &m[2 * bh..3 * bh]]);
    let mut ut_gates: Vec<Vec<f32>> = Vec::new();
    let mut prod = Vec::new();
    if rec_masks.is_some() {
        let gates_via_u = if cfg.reset_after { 3 } else { 2 };
        for k in 0..gates_via_u {
            let mut p = scratch(gemm::packed_len(nh, nh))?;
            gemm::pack_b(&mut p, View::rows(&recurrent[k * nh..], nh, nh, g).t());
            ut_gates.push(p);
        }
        prod = scratch(bh)?;
    }
    // dh += Σ_k m_k ⊙ (dHP_k · U_kᵀ) over the packed gates.
    let add_dropped_products = |dh: &mut [f32], prod: &mut [f32], dhp: &[f32], ms: &[&[f32]; 3]| -> KResult {
        for (k, ut) in ut_gates.iter().enumerate() {
            prod.iter_mut().for_each(|v| *v = 0.0);
            gemm_packed(prod, nh, &dhp[k * nh..], g, nb, nh, nh, ut)?;
            for ((d, p), m) in dh.iter_mut().zip(prod.iter()).zip(ms[k]) {
                *d += m * p;
            }
        }
        Ok(())
    };

    // The usual activations without clip: all of a row's gate gradients in one pass.
    let fused = cfg.activation == Activation::Tanh && cfg.recurrent_activation == Activation::Sigmoid && cfg.clip.is_none();
    for s in (0..nt).rev() {
        let tin = if cfg.go_backwards { nt - 1 - s } else { s };
        let h_prev = &states[s * bh..(s + 1) * bh];
        let gates = &gates_all[s * nb * g..(s + 1) * nb * g];
        let aux = &aux_all[s * bh..(s + 1) * bh];
        let dhp = &mut dhp_all[s * nb * g..(s + 1) * nb * g];
        for b in 0..nb {
            let dyc = &mut dy_carry[b * nh..(b + 1) * nh];
            if let Some(dy) = seeds.dy {
                let row = &dy[(b * nt + s) * nh..(b * nt + s + 1) * nh];
                for j in 0..nh {
                    dyc[j] += row[j];
                }
            }
            if !valid(mask, b, tin, nt) {
                // The output was carried from the previous step and the state passes through.
                continue;
            }
            let dhb = &mut dh[b * nh..(b + 1) * nh];
            let gr = &gates[b * g..(b + 1) * g];
            let (z, r, hh) = (&gr[..nh], &gr[nh..2 * nh], &gr[2 * nh..]);
            let hprev = &h_prev[b * nh..(b + 1) * nh];
            let dxr = &mut dxp[(b * nt + tin) * g..(b * nt + tin + 1) * g];
            let dhpr = &mut dhp[b * g..(b + 1) * g];
            if fused {
                let uh = if cfg.reset_after { Some(&aux[b * nh..(b + 1) * nh]) } else { None };
                gate_backward_tanh_sigmoid(dhb, dyc, dxr, dhpr, z, r, hh, hprev, uh);
                continue;
            }
            for j in 0..nh {
                dhb[j] += dyc[j];
                dyc[j] = 0.0;
            }
            let (dz_, rest) = dxr.split_at_mut(nh);
            let (dr_, dhh_) = rest.split_at_mut(nh);
            for j in 0..nh {
                dhh_[j] = dhb[j] * (1.0 - z[j]);
                dz_[j] = dhb[j] * (hprev[j] - hh[j]);
                dhb[j] *= z[j];
            }
            scale_by_derivative(cfg.activation, dhh_, hh);
            scale_by_derivative(cfg.recurrent_activation, dz_, z);
            zero_clipped(dhh_, hh, act_bounds);
            zero_clipped(dz_, z, rec_bounds);
            if cfg.reset_after {
                let uh = &aux[b * nh..(b + 1) * nh];
                for j in 0..nh {
                    dr_[j] = dhh_[j] * uh[j];
                }
                scale_by_derivative(cfg.recurrent_activation, dr_, r);
                zero_clipped(dr_, r, rec_bounds);
                dhpr[..nh].copy_from_slice(dz_);
                dhpr[nh..2 * nh].copy_from_slice(dr_);
                for j in 0..nh {
                    dhpr[2 * nh + j] = dhh_[j] * r[j];
                }
            } else {
                dhpr[..nh].copy_from_slice(dz_);
                dhpr[2 * nh..].copy_from_slice(dhh_);
            }
        }
        if cfg.reset_after {
            match rec_masks {
                None => gemm_packed(&mut dh, nh, dhp, g, nb, g, nh, &ut_p)?,
                Some(ms) => add_dropped_products(&mut dh, &mut prod, dhp, &ms)?,
            }
        } else {
            // d(r ⊙ h_prev) = dh̃_pre · U_hᵀ, then the reset gate's share, then the z|r rows of U.
            drh.iter_mut().for_each(|v| *v = 0.0);
            gemm_packed(&mut drh, nh, &dhp[2 * nh..], g, nb, nh, nh, &uht_p)?;
            for b in 0..nb {
                if !valid(mask, b, tin, nt) {
                    continue;
                }
                let gr = &gates[b * g..(b + 1) * g];
                let r = &gr[nh..2 * nh];
                let hprev = &h_prev[b * nh..(b + 1) * nh];
                let d = &drh[b * nh..(b + 1) * nh];
                let dr_ = &mut dxp[(b * nt + tin) * g + nh..(b * nt + tin) * g + 2 * nh];
                let dhb = &mut dh[b * nh..(b + 1) * nh];
                match rec_masks {
                    None => {
                        for j in 0..nh {
                            dr_[j] = d[j] * hprev[j];
                            dhb[j] += d[j] * r[j];
                        }
                    }
                    // aux = r ⊙ h_prev ⊙ m_h.
                    Some(ms) => {
                        let mh = &ms[2][b * nh..(b + 1) * nh];
                        for j in 0..nh {
                            dr_[j] = d[j] * hprev[j] * mh[j];
                            dhb[j] += d[j] * r[j] * mh[j];
                        }
                    }
                }
                scale_by_derivative(cfg.recurrent_activation, dr_, r);
                zero_clipped(dr_, r, rec_bounds);
                dhp[b * g + nh..b * g + 2 * nh].copy_from_slice(dr_);
            }
            match rec_masks {
                None => gemm_packed(&mut dh, nh, dhp, g, nb, 2 * nh, nh, &ut_p)?,
                Some(ms) => add_dropped_products(&mut dh, &mut prod, dhp, &ms)?,
            }
        }
    }
    if let Some(dh0) = grads.dh0 {
        for (a, b) in dh0.iter_mut().zip(&dh) {
            *a += b;
        }
    }

    let bt = nb * nt;
    gemm(grads.dkernel, g, View::rows(x, bt, nd, nd).t(), View::rows(&dxp, bt, g, g))?;
    if let Some(dx) = grads.dx {
        gemm(dx, nd, View::rows(&dxp, bt, g, g), View::rows(kernel, nd, g, g).t())?;
    }
    let tb = nt * nb;
    match rec_masks {
        None => {
            let n = if cfg.reset_after { g } else { 2 * nh };
            gemm(grads.drecurrent, g, View::rows(&states[..tb * nh], tb, nh, nh).t(), View::rows(&dhp_all, tb, n, g))?;
        }
        Some(ms) => {
            // dU_k = (states ⊙ m_k)ᵀ · dHP_k, the mask broadcast over steps.
            let mut hs = scratch(tb * nh)?;
            for (k, m) in ms[..ut_gates.len()].iter().enumerate() {
                for (dst, src) in hs.chunks_exact_mut(bh).zip(states.chunks_exact(bh)) {
                    dropped(dst, src, m);
                }
                gemm(&mut grads.drecurrent[k * nh..], g, View::rows(&hs, tb, nh, nh).t(), View::rows(&dhp_all[k * nh..], tb, nh, g))?;
            }
        }
    }
    if !cfg.reset_after {
        gemm(&mut grads.drecurrent[2 * nh..], g, View::rows(aux_all, tb, nh, nh).t(), View::rows(&dhp_all[2 * nh..], tb, nh, g))?;
    }
    if let Some(db) = grads.dbias {
        add_column_sums(&mut db[..g], &dxp, g);
        if cfg.reset_after {
            add_column_sums(&mut db[g..2 * g], &dhp_all, g);
        }
    }
    Ok(())
}
