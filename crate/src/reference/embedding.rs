//! Naive embedding lookup and its gradient, in f64, index by index.

/// y (N, E) in f64; panics on an out-of-range id (the oracle is only given valid ids).
pub fn embedding_forward(ids: &[i32], table: &[f32], dim: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(ids.len() * dim);
    for &id in ids {
        for j in 0..dim {
            y.push(table[id as usize * dim + j] as f64);
        }
    }
    y
}

/// dtable (V, E) in f64: the sum, over every n with ids[n] == v, of dy[n, :].
pub fn embedding_backward(ids: &[i32], dy: &[f32], vocab: usize, dim: usize) -> Vec<f64> {
    let mut d = vec![0.0; vocab * dim];
    for v in 0..vocab {
        for (n, &id) in ids.iter().enumerate() {
            if id as usize == v {
                for j in 0..dim {
                    d[v * dim + j] += dy[n * dim + j] as f64;
                }
            }
        }
    }
    d
}
