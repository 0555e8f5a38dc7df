//! Checks the packed GEMM under GRU-CONVENTIONS.md §5 ("random inputs, odd sizes so a transposed
//! block cannot pass by symmetry") and STYLE.md rules 5 and 6 (ragged sizes 1..=17, NaN-poisoned
//! memory around every output).
//!
//! Expected numbers: `fastgru::reference::matmul`, a naive triple loop in f64, run on the same
//! random f32 inputs widened to f64, plus the f64 value of C before the call (C += A·B). The
//! tolerance is 1e-5 of Σₚ|aᵢₚ·bₚⱼ| + |c₀|, the scale f32 rounding is relative to.
//!
//! `kernels::gemm` is the same code in the SIMD and scalar builds except for the microkernel; a
//! native `cargo test` runs the scalar twin (SIMD-vs-scalar is checked in wasm, elsewhere).

mod common;

use common::{fast, report, TestRng};
use fastgru::kernels::gemm::{gemm, gemm_packed, gemm_packed_cols, pack_b, packed_len, View};
use fastgru::reference::matmul;

/// Floats of NaN before and after every operand, and rows of NaN above and below C.
const PAD: usize = 19;
const C_PAD_ROWS: usize = 2;

/// A row-major (rows, cols) matrix with rows `ld` apart, stored from offset PAD inside a buffer
/// that is NaN everywhere else (row padding included). Its logical values are random in [-1, 1).
struct Stored {
    buf: Vec<f32>,
    rows: usize,
    cols: usize,
    ld: usize,
}

impl Stored {
    fn new(rng: &mut TestRng, rows: usize, cols: usize, ld: usize) -> Self {
        let mut buf = vec![f32::NAN; PAD + rows * ld + PAD];
        for i in 0..rows {
            for j in 0..cols {
                buf[PAD + i * ld + j] = rng.range(-1.0, 1.0) as f32;
            }
        }
        Stored { buf, rows, cols, ld }
    }
    fn view(&self) -> View<'_> {
        View::rows(&self.buf[PAD..], self.rows, self.cols, self.ld)
    }
    /// The logical matrix as f64, transposed if `t`.
    fn logical(&self, t: bool) -> Vec<f64> {
        let (r, c) = if t { (self.cols, self.rows) } else { (self.rows, self.cols) };
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                let (si, sj) = if t { (j, i) } else { (i, j) };
                out[i * c + j] = self.buf[PAD + si * self.ld + sj] as f64;
            }
        }
        out
    }
}

/// C (m, n) with rows `ldc` apart, inside a NaN buffer with C_PAD_ROWS NaN rows above and below.
struct OutC {
    buf: Vec<f32>,
    m: usize,
    n: usize,
    ldc: usize,
}

impl OutC {
    fn new(rng: &mut TestRng, m: usize, n: usize, ldc: usize) -> Self {
        let mut buf = vec![f32::NAN; (C_PAD_ROWS + m + C_PAD_ROWS) * ldc];
        for i in 0..m {
            for j in 0..n {
                buf[(C_PAD_ROWS + i) * ldc + j] = rng.range(-1.0, 1.0) as f32;
            }
        }
        OutC { buf, m, n, ldc }
    }
    fn region(&mut self) -> &mut [f32] {
        let start = C_PAD_ROWS * self.ldc;
        &mut self.buf[start..]
    }
    fn at(&self, i: usize, j: usize) -> f32 {
        self.buf[(C_PAD_ROWS + i) * self.ldc + j]
    }
    fn values(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(self.m * self.n);
        for i in 0..self.m {
            for j in 0..self.n {
                v.push(self.at(i, j) as f64);
            }
        }
        v
    }
    /// Every float outside the m×n region is still NaN; every float inside is finite and within
    /// tolerance of `want`.
    fn check(&self, want: &[f64], scale: &[f64]) -> Result<(), String> {
        for (idx, &v) in self.buf.iter().enumerate() {
            let row = idx / self.ldc;
            let col = idx % self.ldc;
            let inside = row >= C_PAD_ROWS && row < C_PAD_ROWS + self.m && col < self.n;
            if !inside && !v.is_nan() {
                return Err(format!("wrote {} outside C at buffer row {} col {} (C starts at row {})", v, row, col, C_PAD_ROWS));
            }
        }
        for i in 0..self.m {
            for j in 0..self.n {
                let got = self.at(i, j);
                let w = want[i * self.n + j];
                let tol = 1e-5 * scale[i * self.n + j] + 1e-30;
                if !got.is_finite() || (got as f64 - w).abs() > tol {
                    return Err(format!("C[{}][{}] = {} but should be {} (tol {:.2e})", i, j, got, w, tol));
                }
            }
        }
        Ok(())
    }
}

/// The sizes of one case. `ta`/`tb`: A or B stored transposed and passed as `View::t()`.
#[derive(Clone, Copy, Debug)]
struct Case {
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    /// Extra floats per row beyond the logical width of A, B and C (0 = tight).
    lda_pad: usize,
    ldb_pad: usize,
    ldc_pad: usize,
}

/// Runs `gemm` (and, for row-major A, `pack_b` + `gemm_packed`) on one case; checks C and the
/// NaN around it, and that neither call wrote outside its output.
fn run_case(rng: &mut TestRng, c: Case) -> Result<(), String> {
    let Case { m, k, n, ta, tb, .. } = c;
    let a = if ta { Stored::new(rng, k, m, m + c.lda_pad) } else { Stored::new(rng, m, k, k + c.lda_pad) };
    let b = if tb { Stored::new(rng, n, k, k + c.ldb_pad) } else { Stored::new(rng, k, n, n + c.ldb_pad) };
    let ldc = n + c.ldc_pad;
    let a64 = a.logical(ta);
    let b64 = b.logical(tb);
    let a_abs: Vec<f64> = a64.iter().map(|v| v.abs()).collect();
    let b_abs: Vec<f64> = b64.iter().map(|v| v.abs()).collect();
    let prod = matmul(&a64, &b64, m, k, n);
    let prod_abs = matmul(&a_abs, &b_abs, m, k, n);
    let av = if ta { a.view().t() } else { a.view() };
    let bv = if tb { b.view().t() } else { b.view() };

    // gemm: any strides.
    let mut out = OutC::new(rng, m, n, ldc);
    let c0 = out.values();
    let want: Vec<f64> = c0.iter().zip(&prod).map(|(x, y)| x + y).collect();
    let scale: Vec<f64> = c0.iter().zip(&prod_abs).map(|(x, y)| x.abs() + y).collect();
    gemm(out.region(), ldc, av, bv).map_err(|s| format!("gemm returned {:?}", s))?;
    out.check(&want, &scale).map_err(|e| format!("gemm {:?}: {}", c, e))?;

    // pack_b + gemm_packed: A row-major with rows lda apart (so only when A is not transposed).
    if !ta {
        let plen = packed_len(k, n);
        let mut packed = vec![f32::NAN; plen + PAD];
        pack_b(&mut packed, bv);
        if packed[plen..].iter().any(|v| !v.is_nan()) {
            return Err(format!("pack_b {:?}: wrote past packed_len", c));
        }
        if packed[..plen].iter().any(|v| !v.is_finite()) {
            return Err(format!("pack_b {:?}: left a non-finite value (padding must be zeros)", c));
        }
        let mut out = OutC::new(rng, m, n, ldc);
        let c0 = out.values();
        let want: Vec<f64> = c0.iter().zip(&prod).map(|(x, y)| x + y).collect();
        let scale: Vec<f64> = c0.iter().zip(&prod_abs).map(|(x, y)| x.abs() + y).collect();
        gemm_packed(out.region(), ldc, &a.buf[PAD..], a.ld, m, k, n, &packed[..plen]).unwrap();
        out.check(&want, &scale).map_err(|e| format!("gemm_packed {:?}: {}", c, e))?;
    }
    Ok(())
}

fn sizes() -> Vec<usize> {
    if fast() {
        vec![1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17]
    } else {
        (1..=17).collect()
    }
}

/// Every m, n, k in 1..=17, all four transpose combinations, strides padded by 1..=3 floats.
#[test]
fn ragged_sizes_all_transposes_padded_strides() {
    let mut rng = TestRng::new(1);
    let mut failures = Vec::new();
    let mut cases = 0;
    for &m in &sizes() {
        for &k in &sizes() {
            for &n in &sizes() {
                for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                    let c = Case { m, k, n, ta, tb, lda_pad: rng.int(1, 3), ldb_pad: rng.int(1, 3), ldc_pad: rng.int(1, 3) };
                    cases += 1;
                    if let Err(e) = run_case(&mut rng, c) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    report("gemm ragged sizes", &failures, cases);
}

/// Tight strides (ld = logical width), the layout every caller in the crate uses.
/// Skips a transposed A with one row: `transposed_a_one_row_tight_stride` pins that case.
#[test]
fn ragged_sizes_tight_strides() {
    let mut rng = TestRng::new(2);
    let mut failures = Vec::new();
    let mut cases = 0;
    let step = if fast() { 3 } else { 1 };
    for m in (1..=17).step_by(step) {
        for k in (1..=17).step_by(step) {
            for n in (1..=17).step_by(step) {
                for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                    if ta && m == 1 {
                        continue;
                    }
                    let c = Case { m, k, n, ta, tb, lda_pad: 0, ldb_pad: 0, ldc_pad: 0 };
                    cases += 1;
                    if let Err(e) = run_case(&mut rng, c) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    report("gemm tight strides", &failures, cases);
}

/// Regression: A stored (k, 1), rows 1 apart (a column vector), passed as `View::t()`, is a
/// (1, k) view with `cs == 1` and `rs == 1`. Up to 34f6ae4 `gemm` took it for row-major and called
/// `gemm_packed` with lda = rs = 1 < k, whose `assert!(ldc >= n && lda >= k)` panicked (a trap in
/// wasm); b57550a reads such an A in place and passes. This is the weight gradient xᵀ·dY whenever
/// the input width is 1: GRU input_dim = 1 (`dkernel`), GRU units = 1 (`drecurrent`), Dense
/// input = 1 (`dw`); gru.rs and dense_loss.rs pin those too.
#[test]
fn transposed_a_one_row_tight_stride() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for k in 1..=17 {
        for n in [1usize, 3, 8, 13] {
            cases += 1;
            let c = Case { m: 1, k, n, ta: true, tb: false, lda_pad: 0, ldb_pad: 0, ldc_pad: 0 };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(&mut TestRng::new(k as u64), c)));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(_) => failures.push(format!("gemm {:?}: panicked", c)),
            }
        }
    }
    report("gemm with a (1, k) transposed A (column vector stored tight)", &failures, cases);
}

/// Large sizes: k > KC (128) and m > MC (128) exercise the cache blocking; n not a multiple of 8;
/// m > 2·MC with a row-major B takes the path that packs B instead of reading it in place.
#[test]
fn large_sizes() {
    let mut rng = TestRng::new(4);
    let mut failures = Vec::new();
    let mut list = vec![
        Case { m: 64, k: 384, n: 128, ta: false, tb: false, lda_pad: 3, ldb_pad: 5, ldc_pad: 7 },
        Case { m: 67, k: 300, n: 45, ta: true, tb: false, lda_pad: 1, ldb_pad: 2, ldc_pad: 3 },
        Case { m: 67, k: 300, n: 45, ta: false, tb: true, lda_pad: 1, ldb_pad: 2, ldc_pad: 3 },
        Case { m: 67, k: 300, n: 45, ta: true, tb: true, lda_pad: 1, ldb_pad: 2, ldc_pad: 3 },
        Case { m: 130, k: 513, n: 19, ta: false, tb: false, lda_pad: 0, ldb_pad: 0, ldc_pad: 0 },
        // C wider than KC, B row-major and transposed.
        Case { m: 70, k: 300, n: 300, ta: false, tb: false, lda_pad: 2, ldb_pad: 1, ldc_pad: 3 },
        Case { m: 9, k: 40, n: 263, ta: false, tb: true, lda_pad: 0, ldb_pad: 0, ldc_pad: 0 },
        // m > 2·MC, row-major B (packed whole), A both ways, padded strides.
        Case { m: 300, k: 200, n: 45, ta: false, tb: false, lda_pad: 1, ldb_pad: 3, ldc_pad: 2 },
        Case { m: 261, k: 140, n: 24, ta: true, tb: false, lda_pad: 2, ldb_pad: 0, ldc_pad: 0 },
    ];
    if !fast() {
        list.push(Case { m: 2048, k: 384, n: 64, ta: false, tb: false, lda_pad: 1, ldb_pad: 1, ldc_pad: 1 });
    }
    for &c in &list {
        if let Err(e) = run_case(&mut rng, c) {
            failures.push(e);
        }
    }
    report("gemm large sizes", &failures, list.len());
}

/// Zero-sized products are no-ops that touch nothing.
#[test]
fn empty_sizes_touch_nothing() {
    let mut c = vec![f32::NAN; 16];
    let a = vec![1.0f32; 16];
    gemm(&mut c, 4, View::rows(&a, 0, 3, 3), View::rows(&a, 3, 4, 4)).unwrap();
    gemm(&mut c, 4, View::rows(&a, 2, 0, 1), View::rows(&a, 0, 4, 4)).unwrap();
    gemm(&mut c, 4, View::rows(&a, 2, 3, 3), View::rows(&a, 3, 0, 1)).unwrap();
    gemm_packed(&mut c, 4, &a, 3, 2, 0, 4, &[]).unwrap();
    assert!(c.iter().all(|v| v.is_nan()));
}

/// `gemm_packed_cols` (one column block of a packed B, as the GRU's per-gate products under
/// recurrent dropout use it) equals those columns of the full `gemm_packed` bit for bit, for
/// blocks that start on and off a panel boundary, writes nothing outside its block (C's other
/// columns and the NaN margins around C survive), and adds into C.
#[test]
fn packed_column_blocks_equal_full_product_columns() {
    let mut rng = TestRng::new(0xC015);
    let mut failures = Vec::new();
    let mut n = 0;
    for &(m, k, nn) in &[(1usize, 1usize, 3usize), (3, 5, 15), (5, 7, 21), (4, 8, 24), (7, 13, 39), (9, 17, 51), (2, 300, 27), (70, 9, 30)] {
        let b: Vec<f32> = (0..k * nn).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let mut bp = vec![f32::NAN; packed_len(k, nn)];
        pack_b(&mut bp, View::rows(&b, k, nn, nn));
        let a: Vec<f32> = (0..m * k).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let c0: Vec<f32> = (0..m * nn).map(|_| rng.range(-1.0, 1.0) as f32).collect();
        let mut full = c0.clone();
        gemm_packed(&mut full, nn, &a, k, m, k, nn, &bp).unwrap();
        let third = nn / 3;
        let mut blocks = vec![(0, third), (third, 2 * third), (2 * third, nn), (0, nn)];
        blocks.push((nn / 2, nn / 2 + 1));
        for (j0, j1) in blocks {
            n += 1;
            // C inside NaN rows above and below; the block is written at column offset j0.
            let pad = C_PAD_ROWS * nn;
            let mut c = vec![f32::NAN; pad + m * nn + pad];
            c[pad..pad + m * nn].copy_from_slice(&c0);
            gemm_packed_cols(&mut c[pad + j0..], nn, &a, k, m, k, &bp, j0, j1).unwrap();
            let tag = format!("m={} k={} n={} block [{}, {})", m, k, nn, j0, j1);
            if c[..pad].iter().chain(&c[pad + m * nn..]).any(|v| !v.is_nan()) {
                failures.push(format!("{}: wrote into the NaN margin", tag));
            }
            for i in 0..m {
                for j in 0..nn {
                    let (got, want) = (c[pad + i * nn + j], if j >= j0 && j < j1 { full[i * nn + j] } else { c0[i * nn + j] });
                    if got.to_bits() != want.to_bits() {
                        failures.push(format!("{}: C[{}, {}] = {} but want {}", tag, i, j, got, want));
                    }
                }
            }
        }
    }
    report("packed column blocks", &failures, n);
}

