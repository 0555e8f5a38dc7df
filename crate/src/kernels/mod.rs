//! Kernels: pure math on slices, no knowledge of the ABI or of TypeScript.
//!
//! This file is the ONE dispatch point between the SIMD and the scalar build: the SIMD `.wasm` is
//! compiled with `-C target-feature=+simd128` and gets the v128 microkernel and activations; every
//! other build (the scalar `.wasm`, native `cargo test`) gets their always-compiled scalar twins.
//! Everything above this file (GRU, Dense, losses) is written once and calls through here.

pub mod activations;
pub mod dense;
pub mod embedding;
pub mod gemm;
pub mod gru;
pub mod init;
pub mod loss;
pub mod norm;
pub mod optim;

use crate::status::{KResult, Status};
pub use activations::Activation;

/// Rows of C per microkernel call.
pub const MR: usize = 4;
/// Columns of C per microkernel call (two v128).
pub const NR: usize = 8;

/// True in the SIMD build.
pub const SIMD: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use gemm::simd_kernel as microkernel;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) use gemm::scalar_kernel as microkernel;

/// Element-wise activation in place (softmax excluded: see `activations::softmax_rows`).
pub fn activate(act: Activation, data: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    activations::simd::activate(act, data);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    activations::activate_scalar(act, data);
}

/// e^x in place.
pub fn exp_inplace(data: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    activations::simd::exp_inplace(data);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    activations::exp_inplace_scalar(data);
}

/// Bias gradients: out[j] += Σ_rows m[row, j] for a row-major (rows, cols) matrix.
pub fn add_column_sums(out: &mut [f32], m: &[f32], cols: usize) {
    for row in m.chunks_exact(cols) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// A zeroed scratch buffer; running out of wasm memory is an error, not a trap.
pub fn scratch(len: usize) -> KResult<Vec<f32>> {
    let mut v = empty_scratch(len)?;
    v.resize(len, 0.0);
    Ok(v)
}

/// `rows` copies of `row` back to back, written once (no zeroing pass first).
pub fn scratch_rows(row: &[f32], rows: usize) -> KResult<Vec<f32>> {
    let mut v = empty_scratch(row.len() * rows)?;
    for _ in 0..rows {
        v.extend_from_slice(row);
    }
    Ok(v)
}

fn empty_scratch(len: usize) -> KResult<Vec<f32>> {
    let mut v: Vec<f32> = Vec::new();
    if v.try_reserve_exact(len).is_err() {
        return crate::fail!(
            Status::OutOfMemory,
            "could not allocate {} MiB of scratch: the wasm heap cannot grow further; use a smaller batch or sequence",
            len * 4 / (1 << 20)
        );
    }
    Ok(v)
}
