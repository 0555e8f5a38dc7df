//! Packed single-precision GEMM: `C += A · B`.
//!
//! B is packed once into column panels of `NR` floats per k (zero-padded past `n`), so the
//! microkernel streams it contiguously; A is read in place (row-major, `lda`), four k-values per
//! broadcast load, as XNNPACK's `wasmsimd` "splat" GEMMs do. Packing B separately lets the GRU pack
//! its recurrent kernel once per weight update and reuse it at every time step.
//!
//! Blocking: `KC` rows of B (one panel slice, KC·NR·4 B = 8 KiB, stays in L1) by `MC` rows of A
//! (MC·KC·4 B = 64 KiB, stays in L2). The microkernel keeps an MR×NR block of C in registers:
//! 4×8 = 8 accumulators + 2 B vectors + 1 broadcast + 1 product fit V8's 16 xmm registers
//! without spills; ragged edges go through one masked path (`edge_tile`).

use super::{microkernel, scratch, MR, NR};
use crate::status::KResult;

const KC: usize = 256;
const MC: usize = 64;

/// A strided read-only matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major (rows, cols) matrix whose rows are `ld` apart.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize, ld: usize) -> Self {
        View { data, rows, cols, rs: ld, cs: 1 }
    }
    /// The transpose, without moving data.
    pub fn t(self) -> Self {
        View { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
    /// Index one past the last element, for bounds checks.
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// Floats needed to pack a (k, n) matrix.
pub fn packed_len(k: usize, n: usize) -> usize {
    (n + NR - 1) / NR * NR * k
}

/// Packs B (k, n) into `out`: panel p holds columns [p·NR, p·NR+NR) as k rows of NR floats.
pub fn pack_b(out: &mut [f32], b: View) {
    let (k, n) = (b.rows, b.cols);
    assert!(out.len() >= packed_len(k, n) && b.data.len() >= b.extent());
    for (p, panel) in out.chunks_exact_mut(k * NR).take((n + NR - 1) / NR).enumerate() {
        let j0 = p * NR;
        let width = NR.min(n - j0);
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if j < width { b.at(kk, j0 + j) } else { 0.0 };
            }
        }
    }
}

/// `C (m, n) += A (m, k) · B`, B packed by `pack_b`. A row-major with rows `lda` apart, C with `ldc`.
///
/// Preconditions (checked): `a`, `c`, `bp` long enough. C must not alias A or B (Rust borrows
/// guarantee it).
pub fn gemm_packed(c: &mut [f32], ldc: usize, a: &[f32], lda: usize, m: usize, k: usize, n: usize, bp: &[f32]) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "gemm: C too short");
    assert!(a.len() >= (m - 1) * lda + k, "gemm: A too short");
    assert!(bp.len() >= packed_len(k, n), "gemm: packed B too short");
    assert!(ldc >= n && lda >= k);
    let panels = (n + NR - 1) / NR;
    let mut kk = 0;
    while kk < k {
        let kc = KC.min(k - kk);
        let mut ii = 0;
        while ii < m {
            let mc = MC.min(m - ii);
            for p in 0..panels {
                let j0 = p * NR;
                let nr = NR.min(n - j0);
                let b_ptr = bp[p * k * NR + kk * NR..].as_ptr();
                let mut i = ii;
                while i < ii + mc {
                    let mr = MR.min(ii + mc - i);
                    let a_ptr = a[i * lda + kk..].as_ptr();
                    // SAFETY: rows i..i+mr of A hold kc values from kk (checked above); the panel
                    // slice holds kc·NR values; rows i..i+mr of C hold NR values from j0 when
                    // nr == NR, else the edge tile is used.
                    unsafe {
                        if nr == NR {
                            microkernel(mr, kc, a_ptr, lda, b_ptr, c[i * ldc + j0..].as_mut_ptr(), ldc);
                        } else {
                            edge_tile(mr, nr, kc, a_ptr, lda, b_ptr, &mut c[i * ldc + j0..], ldc);
                        }
                    }
                    i += mr;
                }
            }
            ii += mc;
        }
        kk += kc;
    }
}

/// The one masked path: a block narrower than NR runs the full kernel on a local tile.
unsafe fn edge_tile(mr: usize, nr: usize, kc: usize, a: *const f32, lda: usize, b: *const f32, c: &mut [f32], ldc: usize) {
    let mut tile = [0.0f32; MR * NR];
    for r in 0..mr {
        tile[r * NR..r * NR + nr].copy_from_slice(&c[r * ldc..r * ldc + nr]);
    }
    microkernel(mr, kc, a, lda, b, tile.as_mut_ptr(), NR);
    for r in 0..mr {
        c[r * ldc..r * ldc + nr].copy_from_slice(&tile[r * NR..r * NR + nr]);
    }
}

/// `C (m, n) += A · B` for any strides: packs B (and A when its rows are not contiguous).
pub fn gemm(c: &mut [f32], ldc: usize, a: View, b: View) -> KResult {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner sizes differ");
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    assert!(a.data.len() >= a.extent() && b.data.len() >= b.extent());
    let mut bp = scratch(packed_len(k, n))?;
    pack_b(&mut bp, b);
    if a.cs == 1 {
        gemm_packed(c, ldc, a.data, a.rs, m, k, n, &bp);
    } else {
        // A transposed in memory (a weight gradient's Xᵀ): copy it row-major, walking the source
        // in its own contiguous order.
        let mut ap = scratch(m * k)?;
        for kk in 0..k {
            for i in 0..m {
                ap[i * k + kk] = a.at(i, kk);
            }
        }
        gemm_packed(c, ldc, &ap, k, m, k, n, &bp);
    }
    Ok(())
}

/// Scalar microkernel: the twin of `simd_kernel`, same blocking, used by the scalar build.
///
/// # Safety
/// `a` has `mr` rows of `kc` floats `lda` apart; `b` has `kc * NR` floats; `c` has `mr` rows of
/// NR floats `ldc` apart.
pub unsafe fn scalar_kernel(mr: usize, kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize) {
    let mut acc = [[0.0f32; NR]; MR];
    for r in 0..mr {
        for j in 0..NR {
            acc[r][j] = *c.add(r * ldc + j);
        }
    }
    for kk in 0..kc {
        let brow = b.add(kk * NR);
        for r in 0..mr {
            let av = *a.add(r * lda + kk);
            for j in 0..NR {
                acc[r][j] += av * *brow.add(j);
            }
        }
    }
    for r in 0..mr {
        for j in 0..NR {
            *c.add(r * ldc + j) = acc[r][j];
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd_impl {
    use super::NR;
    use crate::simd::*;

    /// v128 per row of the block.
    const NV: usize = NR / 4;

    /// ROWS × NR block of C in registers; `v128.load32_splat` broadcasts A (a load-port op on
    /// x86, cheaper than a shuffle of a 4-wide A load). Measured on Node 20 / Zen 5: 4×8 beats
    /// 6×8, 4×12, 3×16, 2×16, 5×8 and 8×8 (the larger ones spill in V8's register allocator).
    #[inline(always)]
    unsafe fn block<const ROWS: usize>(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize) {
        let mut acc = [[f32x4_splat(0.0); NV]; ROWS];
        for r in 0..ROWS {
            for v in 0..NV {
                acc[r][v] = load(c.add(r * ldc + 4 * v));
            }
        }
        let mut bp = b;
        let mut ap = a;
        for _ in 0..kc {
            let mut bv = [f32x4_splat(0.0); NV];
            for v in 0..NV {
                bv[v] = load(bp.add(4 * v));
            }
            for r in 0..ROWS {
                let av = v128_load32_splat(ap.add(r * lda) as *const u32);
                for v in 0..NV {
                    acc[r][v] = mul_add(acc[r][v], av, bv[v]);
                }
            }
            bp = bp.add(NR);
            ap = ap.add(1);
        }
        for r in 0..ROWS {
            for v in 0..NV {
                store(c.add(r * ldc + 4 * v), acc[r][v]);
            }
        }
    }

    /// # Safety
    /// As `scalar_kernel`.
    pub unsafe fn simd_kernel(mr: usize, kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize) {
        match mr {
            4 => block::<4>(kc, a, lda, b, c, ldc),
            3 => block::<3>(kc, a, lda, b, c, ldc),
            2 => block::<2>(kc, a, lda, b, c, ldc),
            _ => block::<1>(kc, a, lda, b, c, ldc),
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd_impl::simd_kernel;
