//! Seeded weight initialisers. They run in wasm with f64 math and a counter-based generator, so a
//! seed gives the same weights in Node, in every browser, and in the SIMD and scalar builds.

/// SplitMix64: tiny, fast, and statistically good enough for weight init.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Standard normal (Box–Muller; the second value is dropped to keep the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Distribution ids. Must match `ts/src/wasm/abi.ts` (`Distribution`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// U[a, b)
    Uniform,
    /// N(a, b²)
    Normal,
    /// N(a, b²) redrawn outside a ± 2b (Keras `TruncatedNormal`).
    TruncatedNormal,
}

pub fn fill_random(out: &mut [f32], dist: Distribution, a: f64, b: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    // a + (b − a)·u < b in f64 can still round up to b in f32: keep the interval half-open.
    let below_b = {
        let b32 = b as f32;
        if b32 > 0.0 {
            f32::from_bits(b32.to_bits() - 1)
        } else if b32 < 0.0 {
            f32::from_bits(b32.to_bits() + 1)
        } else {
            -f32::from_bits(1)
        }
    };
    for v in out.iter_mut() {
        let x = match dist {
            Distribution::Uniform => a + (b - a) * rng.uniform(),
            Distribution::Normal => a + b * rng.normal(),
            Distribution::TruncatedNormal => loop {
                let z = rng.normal();
                if z.abs() <= 2.0 {
                    break a + b * z;
                }
            },
        } as f32;
        *v = if dist == Distribution::Uniform && x >= b as f32 { below_b } else { x };
    }
}

/// Keras `Orthogonal`: a (rows, cols) matrix with orthonormal rows or columns (whichever is
/// fewer), times `gain`. As Keras: QR of a normal (max, min) matrix, columns of Q signed so that
/// diag(R) > 0, transposed when rows < cols. Householder QR in f64.
pub fn fill_orthogonal(out: &mut [f32], rows: usize, cols: usize, gain: f64, seed: u64) {
    let (m, n) = (rows.max(cols), rows.min(cols));
    let mut rng = Rng::new(seed);
    let mut a: Vec<f64> = (0..m * n).map(|_| rng.normal()).collect(); // (m, n) row-major
    let mut vs: Vec<Vec<f64>> = Vec::with_capacity(n);
    let mut signs = vec![1.0f64; n];
    for k in 0..n {
        let norm = (k..m).map(|i| a[i * n + k] * a[i * n + k]).sum::<f64>().sqrt();
        let x0 = a[k * n + k];
        let alpha = if x0 > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (k..m).map(|i| a[i * n + k]).collect();
        v[0] -= alpha;
        let vnorm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if vnorm > 0.0 {
            v.iter_mut().for_each(|x| *x /= vnorm);
        }
        // A[k.., k..] -= 2 v (vᵀ A[k.., k..])
        for j in k..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * a[i * n + j]).sum();
            for i in k..m {
                a[i * n + j] -= 2.0 * v[i - k] * dot;
            }
        }
        // R[k][k] = alpha when v != 0; when the column was already zero below, R[k][k] = x0.
        let rkk = if vnorm > 0.0 { alpha } else { x0 };
        signs[k] = if rkk < 0.0 { -1.0 } else { 1.0 };
        vs.push(v);
    }
    // Q = H_0 ⋯ H_{n−1} · I[:, :n]
    let mut q = vec![0.0f64; m * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    for k in (0..n).rev() {
        let v = &vs[k];
        for j in 0..n {
            let dot: f64 = (k..m).map(|i| v[i - k] * q[i * n + j]).sum();
            for i in k..m {
                q[i * n + j] -= 2.0 * v[i - k] * dot;
            }
        }
    }
    for i in 0..m {
        for j in 0..n {
            let val = gain * q[i * n + j] * signs[j];
            if rows >= cols {
                out[i * cols + j] = val as f32;
            } else {
                out[j * cols + i] = val as f32;
            }
        }
    }
}
