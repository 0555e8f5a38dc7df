//! Reference GRU in f64: forward per step and per unit, backward by the chain rule on the same
//! loops. Weights in Keras layout (§2): kernel (D, 3H), recurrent (H, 3H), bias (2, 3H) or (3H).
//!
//! Recurrent dropout as Keras 3.8+ `GRUCell.call` (implementation 1, see `kernels::gru`):
//! `rec_mask` (3, B, H) holds m_z, m_r, m_h; gate k's recurrent product reads h_prev ⊙ m_k
//! (reset-before: (r ⊙ h_prev ⊙ m_h)·U_h), and the blend z ⊙ h_prev + (1 − z) ⊙ h̃ uses the
//! un-dropped h_prev. None = no dropout (all ones).
//!
//! Clip (ONNX): the records keep the raw pre-activations a; the forward applies the activation to
//! clamp(a, −clip, clip), backward multiplies by 0 where |a| > clip.

use super::{act, act_grad};
use crate::kernels::gru::{GruConfig, GruDims};

pub struct RefWeights<'a> {
    pub kernel: &'a [f64],
    pub recurrent: &'a [f64],
    /// (2, 3H) reset-after, (3H) reset-before; None = zeros.
    pub bias: Option<&'a [f64]>,
}

pub struct RefForward {
    /// (B, T, H)
    pub y: Vec<f64>,
    /// (B, H)
    pub y_last: Vec<f64>,
    /// (B, H)
    pub h_last: Vec<f64>,
}

/// Per-step record of one row for backward: pre-activations and the previous state.
struct StepRecord {
    /// Un-dropped.
    hprev: Vec<f64>,
    az: Vec<f64>,
    ar: Vec<f64>,
    ah: Vec<f64>,
    /// reset-after: uh (incl. b_uh); reset-before: unused.
    uh: Vec<f64>,
    valid: bool,
}

/// The activation at the clamped pre-activation (ONNX `clip`).
fn act_c(c: &GruConfig, id: crate::kernels::Activation, a: f64) -> f64 {
    act(id, c.clip.map_or(a, |k| a.max(-(k as f64)).min(k as f64)))
}

/// d act(clamp(a)) / da: 0 outside [−clip, clip].
fn act_grad_c(c: &GruConfig, id: crate::kernels::Activation, a: f64) -> f64 {
    match c.clip {
        Some(k) if a.abs() > k as f64 => 0.0,
        _ => act_grad(id, a),
    }
}

fn bias_parts(w: &RefWeights, h: usize, reset_after: bool) -> (Vec<f64>, Vec<f64>) {
    let g = 3 * h;
    match w.bias {
        None => (vec![0.0; g], vec![0.0; g]),
        Some(b) if reset_after => (b[..g].to_vec(), b[g..2 * g].to_vec()),
        Some(b) => (b[..g].to_vec(), vec![0.0; g]),
    }
}

/// Row b's three recurrent dropout masks [m_z, m_r, m_h], each (H); ones without dropout.
fn row_masks(rec_mask: Option<&[f64]>, b: usize, nb: usize, nh: usize) -> [Vec<f64>; 3] {
    let one = |k: usize| rec_mask.map_or(vec![1.0; nh], |m| m[(k * nb + b) * nh..(k * nb + b + 1) * nh].to_vec());
    [one(0), one(1), one(2)]
}

fn run(x: &[f64], h0: Option<&[f64]>, mask: Option<&[u8]>, rec_mask: Option<&[f64]>, w: &RefWeights, d: &GruDims, c: &GruConfig) -> (RefForward, Vec<Vec<StepRecord>>) {
    let (nb, nt, nd, nh) = (d.batch, d.time, d.input, d.units);
    let g = 3 * nh;
    let (bx, bu) = bias_parts(w, nh, c.reset_after);
    let mut y = vec![0.0; nb * nt * nh];
    let mut y_last = vec![0.0; nb * nh];
    let mut h_last = vec![0.0; nb * nh];
    let mut records = Vec::new();
    for b in 0..nb {
        let mut h: Vec<f64> = h0.map_or(vec![0.0; nh], |h0| h0[b * nh..(b + 1) * nh].to_vec());
        let mut out = vec![0.0; nh];
        let mut recs = Vec::new();
        let [mz, mr, mh] = row_masks(rec_mask, b, nb, nh);
        for s in 0..nt {
            let t = if c.go_backwards { nt - 1 - s } else { s };
            let valid = mask.map_or(true, |m| m[b * nt + t] != 0);
            let xt = &x[(b * nt + t) * nd..(b * nt + t + 1) * nd];
            let proj = |v: &[f64], m: &[f64], rows: usize, col: usize| (0..rows).map(|i| v[i] * m[i * g + col]).sum::<f64>();
            let mut rec = StepRecord { hprev: h.clone(), az: vec![0.0; nh], ar: vec![0.0; nh], ah: vec![0.0; nh], uh: vec![0.0; nh], valid };
            if valid {
                // The dropped states, one per gate; the blend below uses h itself.
                let drop = |m: &[f64]| -> Vec<f64> { (0..nh).map(|j| h[j] * m[j]).collect() };
                let (hz, hr, hh_in) = (drop(&mz), drop(&mr), drop(&mh));
                let mut z = vec![0.0; nh];
                let mut r = vec![0.0; nh];
                for j in 0..nh {
                    rec.az[j] = proj(xt, w.kernel, nd, j) + bx[j] + proj(&hz, w.recurrent, nh, j) + bu[j];
                    rec.ar[j] = proj(xt, w.kernel, nd, nh + j) + bx[nh + j] + proj(&hr, w.recurrent, nh, nh + j) + bu[nh + j];
                    z[j] = act_c(c, c.recurrent_activation, rec.az[j]);
                    r[j] = act_c(c, c.recurrent_activation, rec.ar[j]);
                }
                let rh: Vec<f64> = (0..nh).map(|j| r[j] * hh_in[j]).collect();
                let mut hn = vec![0.0; nh];
                for j in 0..nh {
                    let xh = proj(xt, w.kernel, nd, 2 * nh + j) + bx[2 * nh + j];
                    if c.reset_after {
                        rec.uh[j] = proj(&hh_in, w.recurrent, nh, 2 * nh + j) + bu[2 * nh + j];
                        rec.ah[j] = xh + r[j] * rec.uh[j];
                    } else {
                        rec.ah[j] = xh + proj(&rh, w.recurrent, nh, 2 * nh + j);
                    }
                    let hh = act_c(c, c.activation, rec.ah[j]);
                    hn[j] = z[j] * h[j] + (1.0 - z[j]) * hh;
                }
                h = hn;
                out = h.clone();
            }
            y[(b * nt + s) * nh..(b * nt + s + 1) * nh].copy_from_slice(&out);
            recs.push(rec);
        }
        y_last[b * nh..(b + 1) * nh].copy_from_slice(&out);
        h_last[b * nh..(b + 1) * nh].copy_from_slice(&h);
        records.push(recs);
    }
    (RefForward { y, y_last, h_last }, records)
}

/// `rec_mask` (3, B, H) [m_z; m_r; m_h] recurrent dropout masks (already scaled), or None.
pub fn gru_forward(x: &[f64], h0: Option<&[f64]>, mask: Option<&[u8]>, rec_mask: Option<&[f64]>, w: &RefWeights, d: &GruDims, c: &GruConfig) -> RefForward {
    run(x, h0, mask, rec_mask, w, d, c).0
}

pub struct RefGrads {
    pub dx: Vec<f64>,
    pub dh0: Vec<f64>,
    pub dkernel: Vec<f64>,
    pub drecurrent: Vec<f64>,
    pub dbias: Vec<f64>,
}

/// Gradients of L = Σ dy⊙y + Σ dy_last⊙y_last + Σ dh_last⊙h_last (each seed may be None).
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(
    dy: Option<&[f64]>,
    dy_last: Option<&[f64]>,
    dh_last: Option<&[f64]>,
    x: &[f64],
    h0: Option<&[f64]>,
    mask: Option<&[u8]>,
    rec_mask: Option<&[f64]>,
    w: &RefWeights,
    d: &GruDims,
    c: &GruConfig,
) -> RefGrads {
    let (nb, nt, nd, nh) = (d.batch, d.time, d.input, d.units);
    let g = 3 * nh;
    let (_, records) = run(x, h0, mask, rec_mask, w, d, c);
    let mut gr = RefGrads {
        dx: vec![0.0; nb * nt * nd],
        dh0: vec![0.0; nb * nh],
        dkernel: vec![0.0; nd * g],
        drecurrent: vec![0.0; nh * g],
        dbias: vec![0.0; if c.reset_after { 2 * g } else { g }],
    };
    for b in 0..nb {
        let mut dh: Vec<f64> = dh_last.map_or(vec![0.0; nh], |v| v[b * nh..(b + 1) * nh].to_vec());
        let mut dout: Vec<f64> = dy_last.map_or(vec![0.0; nh], |v| v[b * nh..(b + 1) * nh].to_vec());
        let ms = row_masks(rec_mask, b, nb, nh);
        for s in (0..nt).rev() {
            let t = if c.go_backwards { nt - 1 - s } else { s };
            if let Some(dy) = dy {
                for j in 0..nh {
                    dout[j] += dy[(b * nt + s) * nh + j];
                }
            }
            let rec = &records[b][s];
            if !rec.valid {
                continue;
            }
            for j in 0..nh {
                dh[j] += dout[j];
                dout[j] = 0.0;
            }
            let xt = &x[(b * nt + t) * nd..(b * nt + t + 1) * nd];
            let hp = &rec.hprev;
            // Gate k's recurrent product read hp ⊙ m_k: its weight gradient sees that input and
            // its share of dh_prev is scaled by m_k.
            let hd: Vec<Vec<f64>> = ms.iter().map(|m| (0..nh).map(|i| hp[i] * m[i]).collect()).collect();
            let mh = &ms[2];
            let z: Vec<f64> = rec.az.iter().map(|&a| act_c(c, c.recurrent_activation, a)).collect();
            let r: Vec<f64> = rec.ar.iter().map(|&a| act_c(c, c.recurrent_activation, a)).collect();
            let hh: Vec<f64> = rec.ah.iter().map(|&a| act_c(c, c.activation, a)).collect();
            let mut dhp = vec![0.0; nh];
            let mut daz = vec![0.0; nh];
            let mut dar = vec![0.0; nh];
            let mut dah = vec![0.0; nh];
            for j in 0..nh {
                dhp[j] += dh[j] * z[j];
                daz[j] = dh[j] * (hp[j] - hh[j]) * act_grad_c(c, c.recurrent_activation, rec.az[j]);
                dah[j] = dh[j] * (1.0 - z[j]) * act_grad_c(c, c.activation, rec.ah[j]);
            }
            // Reset gate and the candidate's recurrent path.
            if c.reset_after {
                for j in 0..nh {
                    dar[j] = dah[j] * rec.uh[j] * act_grad_c(c, c.recurrent_activation, rec.ar[j]);
                    let duh = dah[j] * r[j];
                    for i in 0..nh {
                        gr.drecurrent[i * g + 2 * nh + j] += hd[2][i] * duh;
                        dhp[i] += mh[i] * w.recurrent[i * g + 2 * nh + j] * duh;
                    }
                    gr.dbias[g + 2 * nh + j] += duh;
                }
            } else {
                let mut drh = vec![0.0; nh];
                for j in 0..nh {
                    for i in 0..nh {
                        gr.drecurrent[i * g + 2 * nh + j] += r[i] * hd[2][i] * dah[j];
                        drh[i] += w.recurrent[i * g + 2 * nh + j] * dah[j];
                    }
                }
                for i in 0..nh {
                    dhp[i] += drh[i] * r[i] * mh[i];
                    dar[i] = drh[i] * hd[2][i] * act_grad_c(c, c.recurrent_activation, rec.ar[i]);
                }
            }
            // z and r pre-activations: input, recurrent and both biases.
            for (k, da) in [(0usize, &daz), (1, &dar)] {
                let off = k * nh;
                for j in 0..nh {
                    for i in 0..nh {
                        gr.drecurrent[i * g + off + j] += hd[k][i] * da[j];
                        dhp[i] += ms[k][i] * w.recurrent[i * g + off + j] * da[j];
                    }
                    if c.reset_after {
                        gr.dbias[g + off + j] += da[j];
                    }
                }
            }
            for (off, da) in [(0usize, &daz), (nh, &dar), (2 * nh, &dah)] {
                for j in 0..nh {
                    for i in 0..nd {
                        gr.dkernel[i * g + off + j] += xt[i] * da[j];
                        gr.dx[(b * nt + t) * nd + i] += w.kernel[i * g + off + j] * da[j];
                    }
                    gr.dbias[off + j] += da[j];
                }
            }
            dh = dhp;
        }
        gr.dh0[b * nh..(b + 1) * nh].copy_from_slice(&dh);
    }
    gr
}
