//! Naive, obviously-correct float64 versions of the kernels: the oracle of `crate/tests/`.
//! Per step, per element, no packing, no blocking; written from GRU-CONVENTIONS.md §1 directly.

pub mod embedding;
pub mod gru;

/// C (m, n) = A (m, k) · B (k, n), all row-major f64.
pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
    c
}

/// The activations in f64, by the same ids as `kernels::Activation`.
pub fn act(id: crate::kernels::Activation, x: f64) -> f64 {
    use crate::kernels::Activation::*;
    match id {
        Linear | Softmax => x,
        Tanh => x.tanh(),
        Sigmoid => 1.0 / (1.0 + (-x).exp()),
        HardSigmoid => (0.2 * x + 0.5).max(0.0).min(1.0),
        HardSigmoidKeras3 => (x + 3.0).max(0.0).min(6.0) / 6.0,
        Relu => x.max(0.0),
    }
}

/// d act / dx at x.
pub fn act_grad(id: crate::kernels::Activation, x: f64) -> f64 {
    use crate::kernels::Activation::*;
    match id {
        Linear | Softmax => 1.0,
        Tanh => 1.0 - x.tanh().powi(2),
        Sigmoid => {
            let s = 1.0 / (1.0 + (-x).exp());
            s * (1.0 - s)
        }
        HardSigmoid => {
            if x > -2.5 && x < 2.5 {
                0.2
            } else {
                0.0
            }
        }
        HardSigmoidKeras3 => {
            if x > -3.0 && x < 3.0 {
                1.0 / 6.0
            } else {
                0.0
            }
        }
        Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}
