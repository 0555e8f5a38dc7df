//! Packed single-precision GEMM: `C += A · B`.
//!
//! B is packed once into column panels of `NR` floats per k (zero-padded past `n`), so the
//! microkernel streams it contiguously; packing B separately lets the GRU pack its recurrent kernel
//! once per weight update and reuse it at every time step. Row-major B is also read in place.
//! A is copied, one MC×KC block at a time, into MR-row panels (k-major, MR floats per k) on the
//! stack, from whatever strides it has: the microkernel then broadcasts A with constant offsets
//! (no address arithmetic per load), and a transposed A (a weight gradient's Xᵀ) costs the same.
//!
//! Blocking: `KC` rows of B (one panel slice, KC·NR·4 B = 4 KiB, stays in L1) by `MC` rows of A
//! (MC·KC·4 B = 64 KiB, stays in L2). KC = 128, MC = 128 measured 3–4% faster on the whole
//! training steps B' and D than 256 × 64 (`npm run bench:ab`): a (32, 256) GRU state block and a
//! B slice then fit L1 together. The microkernel keeps an MR×NR block of C in registers:
//! 4×8 = 8 accumulators + 2 B vectors + 1 broadcast + 1 product fit V8's 16 xmm registers
//! without spills; ragged edges go through one masked path (`edge_tile`).

use super::{microkernel, scratch, MR, NR};
use std::cell::RefCell;
use crate::status::KResult;

const KC: usize = 128;
const MC: usize = 128;

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
        if b.rs == 1 && b.cs != 1 {
            // A transposed row-major matrix (a Dense backward's Wᵀ): each panel column is a
            // contiguous source row, read in one sequential pass instead of NR strided reads per k.
            for (j, src) in (j0..j0 + width).map(|col| &b.data[col * b.cs..col * b.cs + k]).enumerate() {
                for (dst, &v) in panel.chunks_exact_mut(NR).zip(src) {
                    dst[j] = v;
                }
            }
            for dst in panel.chunks_exact_mut(NR) {
                dst[width..].iter_mut().for_each(|d| *d = 0.0);
            }
            continue;
        }
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            if b.cs == 1 {
                let at = kk * b.rs + j0;
                dst[..width].copy_from_slice(&b.data[at..at + width]);
            } else {
                for (j, d) in dst[..width].iter_mut().enumerate() {
                    *d = b.at(kk, j0 + j);
                }
            }
            dst[width..].iter_mut().for_each(|d| *d = 0.0);
        }
    }
}

/// The right operand: packed panels (k-stride NR) or row-major in place (k-stride ldb), with the
/// last, partial panel packed separately so the microkernel never reads past `n`.
#[derive(Clone, Copy)]
struct BOperand {
    ptr: *const f32,
    packed: bool,
    ldb: usize,
    k: usize,
    full_panels: usize,
    edge: *const f32,
}

impl BOperand {
    /// (address of B(kk, p·NR), stride between consecutive k).
    #[inline(always)]
    unsafe fn at(&self, p: usize, kk: usize) -> (*const f32, usize) {
        if self.packed {
            (self.ptr.add(p * self.k * NR + kk * NR), NR)
        } else if p < self.full_panels {
            (self.ptr.add(kk * self.ldb + p * NR), self.ldb)
        } else {
            (self.edge.add(kk * NR), NR)
        }
    }
}

/// `C (m, n) += A (m, k) · B`, B packed by `pack_b`. A row-major with rows `lda` apart, C with `ldc`.
///
/// Preconditions (checked): `a`, `c`, `bp` long enough. C must not alias A or B (Rust borrows
/// guarantee it).
pub fn gemm_packed(c: &mut [f32], ldc: usize, a: &[f32], lda: usize, m: usize, k: usize, n: usize, bp: &[f32]) -> KResult {
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    assert!(a.len() >= (m - 1) * lda + k && (m == 1 || lda >= k), "gemm: A too short");
    assert!(bp.len() >= packed_len(k, n), "gemm: packed B too short");
    let b_op = BOperand { ptr: bp.as_ptr(), packed: true, ldb: NR, k, full_panels: 0, edge: bp.as_ptr() };
    // SAFETY: the operands were checked against m, k, n just above.
    unsafe { drive(c, ldc, View { data: a, rows: m, cols: k, rs: lda, cs: 1 }, b_op, n) }
}

/// `C (m, j1 − j0) += A (m, k) · B[:, j0..j1]`, B (k, n ≥ j1) packed by `pack_b`: one column
/// block of a packed matrix, e.g. one gate of the GRU's recurrent kernel when each gate reads a
/// differently dropped state. C holds only the block. Each element of C sees the same sequence of
/// mul+adds as in the full product, so the block equals those columns of `gemm_packed` bit for bit.
///
/// A block that starts mid-panel (j0 not a multiple of NR) runs from the panel start into a local
/// C and copies the wanted columns back: at most NR − 1 wasted columns, one (m, w) copy each way.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_cols(c: &mut [f32], ldc: usize, a: &[f32], lda: usize, m: usize, k: usize, bp: &[f32], j0: usize, j1: usize) -> KResult {
    assert!(j0 <= j1, "gemm: empty column block");
    let (p0, off, w) = (j0 / NR, j0 % NR, j1 - j0);
    let bp = &bp[p0 * k * NR..];
    if off == 0 || m == 0 || w == 0 || k == 0 {
        return gemm_packed(c, ldc, a, lda, m, k, w, bp);
    }
    assert!(c.len() >= (m - 1) * ldc + w && ldc >= w, "gemm: C too short");
    let wide = off + w;
    let mut t = scratch(m * wide)?;
    for i in 0..m {
        t[i * wide + off..(i + 1) * wide].copy_from_slice(&c[i * ldc..i * ldc + w]);
    }
    gemm_packed(&mut t, wide, a, lda, m, k, wide, bp)?;
    for i in 0..m {
        c[i * ldc..i * ldc + w].copy_from_slice(&t[i * wide + off..(i + 1) * wide]);
    }
    Ok(())
}

/// Copies rows [i0, i0+mc) × columns [k0, k0+kc) of A into MR-row panels: panel q holds, for each
/// kk, the MR values A(i0 + q·MR + r, k0 + kk) (rows past mc are zero). Walks A along its
/// contiguous axis.
fn pack_a(out: &mut [f32], a: &View, i0: usize, mc: usize, k0: usize, kc: usize) {
    let blocks = (mc + MR - 1) / MR;
    if mc % MR != 0 {
        out[(blocks - 1) * kc * MR..blocks * kc * MR].iter_mut().for_each(|v| *v = 0.0);
    }
    if a.cs == 1 {
        for i in 0..mc {
            let src = &a.data[(i0 + i) * a.rs + k0..(i0 + i) * a.rs + k0 + kc];
            let panel = &mut out[(i / MR) * kc * MR + i % MR..];
            for (kk, &v) in src.iter().enumerate() {
                panel[kk * MR] = v;
            }
        }
    } else {
        // A transposed view (a weight gradient's Xᵀ): consecutive rows of one k are adjacent in memory.
        for q in 0..blocks {
            let rows = MR.min(mc - q * MR);
            let panel = &mut out[q * kc * MR..(q + 1) * kc * MR];
            for (kk, dst) in panel.chunks_exact_mut(MR).enumerate() {
                let base = (i0 + q * MR) * a.rs + (k0 + kk) * a.cs;
                for (r, d) in dst[..rows].iter_mut().enumerate() {
                    *d = a.data[base + r * a.rs];
                }
            }
        }
    }
}

/// Blocked loops around the microkernel.
///
/// # Safety
/// `b` addresses k×n values (n = the C width) as `BOperand::at` computes; `a` is checked.
unsafe fn drive(c: &mut [f32], ldc: usize, a: View, b: BOperand, n: usize) -> KResult {
    let m = a.rows;
    assert!(a.data.len() >= a.extent(), "gemm: A too short");
    assert!(c.len() >= (m - 1) * ldc + n && ldc >= n, "gemm: C too short");
    // One A block in panels, in a per-thread buffer: a GRU step runs several small products, and
    // a heap block per call cost an allocation and a zeroing pass each (pack_a writes every float
    // the microkernel reads, zero rows included).
    A_PANELS.with(|cell| {
        let mut ap = cell.borrow_mut();
        drive_blocks(c, ldc, &a, b, n, &mut ap[..]);
    });
    Ok(())
}

thread_local! {
    /// `drive`'s A block: MC rows (rounded up to MR) by KC, 64 KiB, static storage in wasm.
    static A_PANELS: RefCell<[f32; (MC + MR - 1) / MR * MR * KC]> = const { RefCell::new([0.0; (MC + MR - 1) / MR * MR * KC]) };
}

/// # Safety
/// As `drive`; `ap` holds MC (rounded up to MR) × KC floats.
unsafe fn drive_blocks(c: &mut [f32], ldc: usize, a: &View, b: BOperand, n: usize, ap: &mut [f32]) {
    let (m, k) = (a.rows, a.cols);
    let panels = (n + NR - 1) / NR;
    let mut kk = 0;
    while kk < k {
        let kc = KC.min(k - kk);
        let mut ii = 0;
        while ii < m {
            let mc = MC.min(m - ii);
            pack_a(ap, a, ii, mc, kk, kc);
            for p in 0..panels {
                let j0 = p * NR;
                let nr = NR.min(n - j0);
                let (b_ptr, b_stride) = b.at(p, kk);
                let mut q = 0;
                while q * MR < mc {
                    let i = ii + q * MR;
                    let mr = MR.min(mc - q * MR);
                    let a_ptr = ap[q * kc * MR..].as_ptr();
                    if nr == NR {
                        microkernel(mr, kc, a_ptr, b_ptr, b_stride, c[i * ldc + j0..].as_mut_ptr(), ldc);
                    } else {
                        edge_tile(mr, nr, kc, a_ptr, b_ptr, b_stride, &mut c[i * ldc + j0..], ldc);
                    }
                    q += 1;
                }
            }
            ii += mc;
        }
        kk += kc;
    }
}

/// The one masked path: a block narrower than NR runs the full kernel on a local tile.
unsafe fn edge_tile(mr: usize, nr: usize, kc: usize, a: *const f32, b: *const f32, bk: usize, c: &mut [f32], ldc: usize) {
    let mut tile = [0.0f32; MR * NR];
    for r in 0..mr {
        tile[r * NR..r * NR + nr].copy_from_slice(&c[r * ldc..r * ldc + nr]);
    }
    microkernel(mr, kc, a, b, bk, tile.as_mut_ptr(), NR);
    for r in 0..mr {
        c[r * ldc..r * ldc + nr].copy_from_slice(&tile[r * NR..r * NR + nr]);
    }
}

/// `C (m, n) += A · B` for any strides. Row-major B is read in place (only its last partial panel
/// is copied); other B layouts are packed. A, whatever its strides, goes through `pack_a`.
pub fn gemm(c: &mut [f32], ldc: usize, a: View, b: View) -> KResult {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner sizes differ");
    if m == 0 || n == 0 || k == 0 {
        return Ok(());
    }
    assert!(b.data.len() >= b.extent(), "gemm: B too short");
    let mut b_store = Vec::new();
    // Row-major B is read in place when few A blocks reuse it; with more (m > 2·MC rows, e.g. the
    // dU = Hᵀ·dHP of a GRU with over 256 units) its rows, `ldb` apart, cost more to fetch again
    // per block than one contiguous copy. No product of the benchmark's D step is that tall.
    let b_op = if b.cs == 1 && m <= 2 * MC {
        let full = n / NR;
        if full * NR < n {
            b_store = scratch(k * NR)?;
            pack_b(&mut b_store, View { data: &b.data[full * NR..], rows: k, cols: n - full * NR, rs: b.rs, cs: 1 });
        }
        BOperand { ptr: b.data.as_ptr(), packed: false, ldb: b.rs, k, full_panels: full, edge: b_store.as_ptr() }
    } else {
        b_store = scratch(packed_len(k, n))?;
        pack_b(&mut b_store, b);
        BOperand { ptr: b_store.as_ptr(), packed: true, ldb: NR, k, full_panels: 0, edge: b_store.as_ptr() }
    };
    // SAFETY: B covers k×n (extent checked above; the edge and packed copies are sized to match).
    unsafe { drive(c, ldc, a, b_op, n) }
}

/// Scalar microkernel: the twin of `simd_kernel`, same blocking, used by the scalar build.
///
/// # Safety
/// A(r, kk) = `a[kk·MR + r]` for r < mr, kk < kc (a `pack_a` panel); B(kk, j) = `b[kk·bk + j]`
/// for j < NR; `c` has `mr` rows of NR floats `ldc` apart.
pub unsafe fn scalar_kernel(mr: usize, kc: usize, a: *const f32, b: *const f32, bk: usize, c: *mut f32, ldc: usize) {
    let mut acc = [[0.0f32; NR]; MR];
    for r in 0..mr {
        for j in 0..NR {
            acc[r][j] = *c.add(r * ldc + j);
        }
    }
    for kk in 0..kc {
        let brow = b.add(kk * bk);
        for r in 0..mr {
            let av = *a.add(kk * MR + r);
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
    use super::{MR, NR};
    use crate::simd::*;

    /// v128 per row of the block.
    const NV: usize = NR / 4;

    /// ROWS × NR block of C in registers; `v128.load32_splat` broadcasts A (a load-port op on
    /// x86, cheaper than a shuffle of a 4-wide A load). Measured on Node 20 / Zen 5: 4×8 beats
    /// 6×8, 4×12, 3×16, 2×16, 5×8 and 8×8 (the larger ones spill in V8's register allocator).
    #[inline(always)]
    unsafe fn block<const ROWS: usize>(kc: usize, a: *const f32, b: *const f32, bk: usize, c: *mut f32, ldc: usize) {
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
                let av = v128_load32_splat(ap.add(r) as *const u32);
                for v in 0..NV {
                    acc[r][v] = mul_add(acc[r][v], av, bv[v]);
                }
            }
            bp = bp.add(bk);
            ap = ap.add(MR);
        }
        for r in 0..ROWS {
            for v in 0..NV {
                store(c.add(r * ldc + 4 * v), acc[r][v]);
            }
        }
    }

    /// # Safety
    /// As `scalar_kernel`.
    pub unsafe fn simd_kernel(mr: usize, kc: usize, a: *const f32, b: *const f32, bk: usize, c: *mut f32, ldc: usize) {
        match mr {
            4 => block::<4>(kc, a, b, bk, c, ldc),
            3 => block::<3>(kc, a, b, bk, c, ldc),
            2 => block::<2>(kc, a, b, bk, c, ldc),
            _ => block::<1>(kc, a, b, bk, c, ldc),
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd_impl::simd_kernel;
