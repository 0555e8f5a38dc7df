//! v128 helpers shared by the SIMD kernels.
//!
//! simd128 has no FMA and relaxed-SIMD is off in Node 20, so products are `mul` then `add`.
//! Loads and stores go through `read_unaligned` / `write_unaligned`: wasm's `v128.load` accepts any
//! address, and V8 emits the same unaligned move for both, but Rust's `*ptr` would assume 16-byte
//! alignment, which the callers do not promise.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]

pub use core::arch::wasm32::*;

#[inline(always)]
pub unsafe fn load(p: *const f32) -> v128 {
    core::ptr::read_unaligned(p as *const v128)
}

#[inline(always)]
pub unsafe fn store(p: *mut f32, v: v128) {
    core::ptr::write_unaligned(p as *mut v128, v)
}

#[inline(always)]
pub fn splat(x: f32) -> v128 {
    f32x4_splat(x)
}

/// acc + a * b (two instructions: see the module note on FMA).
#[inline(always)]
pub fn mul_add(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_add(acc, f32x4_mul(a, b))
}

/// Applies `body` to 4-lane chunks of `data` in place, then `tail` to the last `len % 4` values.
#[inline(always)]
pub fn map_inplace(data: &mut [f32], body: impl Fn(v128) -> v128, tail: impl Fn(f32) -> f32) {
    let n4 = data.len() / 4 * 4;
    let p = data.as_mut_ptr();
    let mut i = 0;
    while i < n4 {
        // SAFETY: i + 4 <= n4 <= data.len().
        unsafe { store(p.add(i), body(load(p.add(i)))) };
        i += 4;
    }
    for v in &mut data[n4..] {
        *v = tail(*v);
    }
}
