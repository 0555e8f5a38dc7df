//! fastgru: fused WebAssembly SIMD kernels for GRU training and inference.
//!
//! Layout: `kernels/` is pure math on slices (GEMM, GRU, Dense, normalization, losses, activations, init) with
//! one SIMD/scalar dispatch point in `kernels/mod.rs`; `reference/` holds naive versions of every
//! kernel as a test oracle; `abi.rs` is the thin, checked `extern "C"` layer the TypeScript
//! package binds; `status.rs` carries error codes and messages across it.
//!
//! Memory: JS owns wasm memory and allocates buffers through `alloc`/`free`; tensors are f32
//! row-major, Keras layouts (GRU-CONVENTIONS.md §2). Backward kernels ADD into gradient buffers.
//! No external crates, no wasm-bindgen: the ABI is plain numbers (see README "Design").

pub mod status;
pub mod simd;
pub mod kernels;
pub mod reference;
// Only in the .wasm: its `alloc`/`free` exports would shadow libc's in a native test binary.
#[cfg(target_arch = "wasm32")]
pub mod abi;
