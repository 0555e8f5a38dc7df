//! Embedding lookup: `embedding_forward` (gather) / `embedding_backward` (scatter-add).
//!
//! `y[n, :] = table[ids[n], :]` for N ids over a table (V, E) in Keras layout (`embeddings`
//! (inputDim, outputDim)). Any leading axes of the ids are flattened into N.
//!
//! Both kernels check every id against `[0, V)` BEFORE writing anything, so a bad id leaves `y`
//! (or `dtable`) exactly as it was and the error names the first offender.
//! Plain slice copies and adds: rustc auto-vectorises them under simd128 and the scalar build
//! gets the same loops, so there is no separate SIMD path (and nothing to dispatch in `mod.rs`).

use crate::status::{KResult, Status};

#[derive(Clone, Copy, Debug)]
pub struct EmbeddingDims {
    /// N: number of ids (batch × time × …).
    pub count: usize,
    /// V: rows of the table (Keras `input_dim`).
    pub vocab: usize,
    /// E: columns of the table (Keras `output_dim`).
    pub dim: usize,
}

/// `Err(IndexOutOfRange)` naming the first id outside `[0, vocab)` and its flat position.
pub fn check_ids(ids: &[i32], vocab: usize) -> KResult {
    // One branch-light pass first (the common case: every id valid); the search only on failure.
    let bad = ids.iter().fold(false, |acc, &id| acc | (id < 0) | (id as i64 >= vocab as i64));
    if !bad {
        return Ok(());
    }
    let (pos, id) = ids.iter().enumerate().find(|&(_, &id)| id < 0 || id as i64 >= vocab as i64).map(|(p, &id)| (p, id)).unwrap_or((0, -1));
    crate::fail!(
        Status::IndexOutOfRange,
        "id {} at flat position {} is outside [0, {}): ids must be in [0, inputDim); raise inputDim or fix the data",
        id,
        pos,
        vocab
    )
}

/// Gather: `y` (N, E) [n, :] = `table` (V, E) [`ids` (N) [n], :]. Ids checked first; `y` is only
/// written when all are valid. `y` must not alias `table`.
pub fn embedding_forward(y: &mut [f32], ids: &[i32], table: &[f32], dims: &EmbeddingDims) -> KResult {
    let EmbeddingDims { count: n, vocab: v, dim: e } = *dims;
    let ids = &ids[..n];
    check_ids(ids, v)?;
    for (row, &id) in y[..n * e].chunks_exact_mut(e).zip(ids) {
        let start = id as usize * e;
        row.copy_from_slice(&table[start..start + e]);
    }
    Ok(())
}

/// Scatter-add, the backward of `embedding_forward`: `dtable` (V, E) [`ids`[n], :] += `dy` (N, E)
/// [n, :] for every n, so a repeated id ACCUMULATES every one of its rows (and gradients already in
/// `dtable` stay: the trainer zeroes once per step). Ids checked first; nothing is written on error.
/// The ids have no gradient. `dtable` must not alias `dy`.
pub fn embedding_backward(dtable: &mut [f32], dy: &[f32], ids: &[i32], dims: &EmbeddingDims) -> KResult {
    let EmbeddingDims { count: n, vocab: v, dim: e } = *dims;
    let ids = &ids[..n];
    check_ids(ids, v)?;
    for (drow, &id) in dy[..n * e].chunks_exact(e).zip(ids) {
        let start = id as usize * e;
        for (t, g) in dtable[start..start + e].iter_mut().zip(drow) {
            *t += g;
        }
    }
    Ok(())
}
