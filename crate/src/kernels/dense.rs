//! Dense (fully connected) layer: `dense_forward` / `dense_backward`.
//!
//! `y = act(x·W + b)` with Keras layout W (I, O). Any leading axes are flattened into N rows.

use super::activations::{scale_by_derivative, softmax_rows};
use super::gemm::{gemm, View};
use super::{activate, add_column_sums, scratch, Activation};
use crate::status::KResult;

#[derive(Clone, Copy, Debug)]
pub struct DenseDims {
    pub rows: usize,
    pub input: usize,
    pub units: usize,
}

/// `y` (N, O) = act(`x` (N, I) · `w` (I, O) + `b` (O)). `b` None means no bias.
pub fn dense_forward(y: &mut [f32], x: &[f32], w: &[f32], b: Option<&[f32]>, dims: &DenseDims, act: Activation) -> KResult {
    dense_linear(y, x, w, b, dims)?;
    dense_activation(y, dims, act);
    Ok(())
}

/// The affine part of `dense_forward`: `y` = `x` · `w` + `b`.
pub fn dense_linear(y: &mut [f32], x: &[f32], w: &[f32], b: Option<&[f32]>, dims: &DenseDims) -> KResult {
    let DenseDims { rows: n, input: i, units: o } = *dims;
    for row in y.chunks_exact_mut(o).take(n) {
        match b {
            Some(b) => row.copy_from_slice(b),
            None => row.iter_mut().for_each(|v| *v = 0.0),
        }
    }
    gemm(y, o, View::rows(x, n, i, i), View::rows(w, i, o, o))
}

/// The activation part of `dense_forward`, in place on `dense_linear`'s output.
pub fn dense_activation(y: &mut [f32], dims: &DenseDims, act: Activation) {
    let DenseDims { rows: n, units: o, .. } = *dims;
    if act == Activation::Softmax {
        softmax_rows(&mut y[..n * o], o);
    } else {
        activate(act, &mut y[..n * o]);
    }
}

/// Backward of `dense_forward`; ADDS into `dx` (N, I), `dw` (I, O), `db` (O).
///
/// `dy` (N, O) is dL/dy; `y` is the forward's output (the activation derivative comes from it).
/// dpre = dy ⊙ act'(y) (softmax: y ⊙ (dy − Σⱼ dyⱼ yⱼ)); dx += dpre·Wᵀ; dW += xᵀ·dpre; db += Σₙ dpre.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(dx: Option<&mut [f32]>, dw: &mut [f32], db: Option<&mut [f32]>, dy: &[f32], y: &[f32], x: &[f32], w: &[f32], dims: &DenseDims, act: Activation) -> KResult {
    let DenseDims { rows: n, input: i, units: o } = *dims;
    let mut dpre = scratch(n * o)?;
    dpre.copy_from_slice(&dy[..n * o]);
    if act == Activation::Softmax {
        for (d, yr) in dpre.chunks_exact_mut(o).zip(y.chunks_exact(o)) {
            let dot: f32 = d.iter().zip(yr).map(|(a, b)| a * b).sum();
            for (dv, yv) in d.iter_mut().zip(yr) {
                *dv = yv * (*dv - dot);
            }
        }
    } else {
        scale_by_derivative(act, &mut dpre, &y[..n * o]);
    }
    if let Some(dx) = dx {
        if i > n {
            // dxᵀ (I, N) = W · dpreᵀ: the operand that gets packed is then dpre (N·O floats) rather
            // than all of W (I·O, e.g. 10 MB for a 10,000-way softmax over 256 inputs, which cost
            // more than the product). Each dx element sees the same sequence of products either way.
            let mut t = scratch(i * n)?;
            gemm(&mut t, n, View::rows(w, i, o, o), View::rows(&dpre, n, o, o).t())?;
            for (r, row) in dx.chunks_exact_mut(i).take(n).enumerate() {
                for (c, d) in row.iter_mut().enumerate() {
                    *d += t[c * n + r];
                }
            }
        } else {
            gemm(dx, i, View::rows(&dpre, n, o, o), View::rows(w, i, o, o).t())?;
        }
    }
    gemm(dw, o, View::rows(x, n, i, i).t(), View::rows(&dpre, n, o, o))?;
    if let Some(db) = db {
        add_column_sums(db, &dpre, o);
    }
    Ok(())
}
