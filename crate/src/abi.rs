//! The flat `extern "C"` ABI the TypeScript package binds (`ts/src/wasm/abi.ts`, one binding per
//! export, same names). Every export checks what it is given, calls one kernel and returns a
//! `Status` as i32 (0 = ok); on error `last_error_ptr/len` hold a message naming the argument,
//! what was expected and what was got. Nothing here panics on bad input, exits or warns-and-returns.
//!
//! Memory: JS owns it. `alloc` hands out 16-byte-aligned blocks and records them; every pointer
//! argument must lie inside a live block with room for its shape, else `BadPointer`/`ShapeMismatch`.
//! Output buffers must not overlap inputs. A pointer argument of 0 means "absent" where the
//! comment says "or 0". Sizes are element counts, pointers are byte offsets into linear memory.
//! Kernels may allocate scratch, so wasm memory may grow during any call: JS rebuilds its views.

use crate::kernels::dense::{self, DenseDims};
use crate::kernels::embedding::{self, EmbeddingDims};
use crate::kernels::gru::{self, GruConfig, GruDims, GruGrads, GruOutputs, GruSeeds};
use crate::kernels::init::{fill_orthogonal, fill_random, Distribution};
use crate::kernels::loss::{self, LossKind, Target};
use crate::kernels::optim::{self, AdadeltaConfig, AdagradConfig, AdamConfig, AdamaxConfig, Clip, NadamConfig, ParamTensor, RmspropConfig, SgdConfig, Update};
use crate::kernels::norm::{self, BnStats, NormDims};
use crate::kernels::{Activation, MR, NR, SIMD};
use crate::status::{self, check_finite, KResult, Status};
use std::alloc::{alloc as sys_alloc, dealloc, Layout};
use std::collections::BTreeMap;

/// Bumped whenever an export's signature or meaning changes. Must match `ts/src/wasm/abi.ts`.
/// 2: `gru_forward` / `gru_backward` take `rec_mask` (recurrent dropout) after `mask`;
/// `loss_forward_backward` takes per-row weights, per-row losses and its hyper-parameters.
/// 3: `gru_forward` / `gru_backward` take `clip` (ONNX cell clip) after `recurrent_activation`.
pub const ABI_VERSION: u32 = 3;

/// GRU flag bits. Must match `ts/src/wasm/abi.ts` (`GruFlags`).
pub const GRU_RESET_AFTER: u32 = 1;
pub const GRU_GO_BACKWARDS: u32 = 2;

/// Optimizer ids of `optimizer_apply`. Must match `ts/src/wasm/abi.ts` (`OptimizerKind`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd = 0,
    Rmsprop = 1,
    Adam = 2,
    AdamW = 3,
    Adagrad = 4,
    Adadelta = 5,
    Adamax = 6,
    Nadam = 7,
}

/// Indices into the f64 hyper-parameter array of `optimizer_apply`; booleans are 0 or 1, unset
/// clip options 0. Each optimizer reads the entries its Keras class has and ignores the others.
/// Must match `ts/src/wasm/abi.ts` (`Hyper`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hyper {
    LearningRate = 0,
    WeightDecay = 1,
    Clipnorm = 2,
    GlobalClipnorm = 3,
    Clipvalue = 4,
    Momentum = 5,
    Nesterov = 6,
    Rho = 7,
    Epsilon = 8,
    Centered = 9,
    Beta1 = 10,
    Beta2 = 11,
    Amsgrad = 12,
}

/// Entries of the hyper-parameter array. Must match `ts/src/wasm/abi.ts` (`HYPER_COUNT`).
pub const HYPER_COUNT: usize = 13;

/// Bit of a tensor record's flags: apply the optimizer's weight decay to this tensor.
/// Must match `ts/src/wasm/abi.ts` (`ParamFlags`).
pub const PARAM_WEIGHT_DECAY: u32 = 1;

/// u32 words per tensor record of `optimizer_apply`: params ptr, grads ptr, length, flags.
/// Must match `ts/src/wasm/abi.ts` (`RECORD_WORDS`).
pub const RECORD_WORDS: usize = 4;

const ALIGN: usize = 16;

static mut BLOCKS: Option<BTreeMap<usize, usize>> = None;

fn blocks() -> &'static mut BTreeMap<usize, usize> {
    // SAFETY: wasm32 without threads; only this module touches BLOCKS.
    unsafe { (*std::ptr::addr_of_mut!(BLOCKS)).get_or_insert_with(BTreeMap::new) }
}

fn to_status(r: KResult) -> i32 {
    match r {
        Ok(()) => {
            status::clear_detail();
            Status::Ok as i32
        }
        Err(s) => s as i32,
    }
}

#[no_mangle]
pub extern "C" fn abi_version() -> u32 {
    ABI_VERSION
}

/// 1 in the SIMD build, 0 in the scalar one.
#[no_mangle]
pub extern "C" fn simd_enabled() -> u32 {
    SIMD as u32
}

/// Microkernel block sizes (for tests that aim at edges).
#[no_mangle]
pub extern "C" fn gemm_block(which: u32) -> u32 {
    if which == 0 {
        MR as u32
    } else {
        NR as u32
    }
}

#[no_mangle]
pub extern "C" fn last_error_ptr() -> usize {
    status::detail_ptr() as usize
}

#[no_mangle]
pub extern "C" fn last_error_len() -> usize {
    status::detail().len()
}

/// Allocates `bytes` (16-byte aligned, uninitialised). Returns 0 when the heap cannot grow.
#[no_mangle]
pub extern "C" fn alloc(bytes: usize) -> usize {
    let size = bytes.max(1);
    let layout = match Layout::from_size_align(size, ALIGN) {
        Ok(l) => l,
        Err(_) => {
            let _: KResult = crate::fail!(Status::OutOfMemory, "alloc: could not allocate {} bytes: more than wasm32 memory can hold", bytes);
            return 0;
        }
    };
    // SAFETY: size > 0.
    let p = unsafe { sys_alloc(layout) } as usize;
    if p != 0 {
        blocks().insert(p, size);
    } else {
        let _: KResult = crate::fail!(Status::OutOfMemory, "alloc: could not allocate {} bytes; the wasm heap cannot grow further", bytes);
    }
    p
}

/// Frees a block from `alloc`. Freeing twice or an unknown pointer is `BadPointer`, not a crash.
#[no_mangle]
pub extern "C" fn free(ptr: usize) -> i32 {
    match blocks().remove(&ptr) {
        Some(size) => {
            // SAFETY: (ptr, size) came from `alloc` with this layout and was live.
            unsafe { dealloc(ptr as *mut u8, Layout::from_size_align_unchecked(size, ALIGN)) };
            Status::Ok as i32
        }
        None => to_status(crate::fail!(Status::BadPointer, "free: {} is not a live allocation (freed twice, or not from alloc)", ptr)),
    }
}

/// Bytes currently handed out by `alloc` (for leak tests).
#[no_mangle]
pub extern "C" fn allocated_bytes() -> usize {
    blocks().values().sum()
}

/// `a · b · …` as a count, refusing zero and overflow.
fn count(name: &str, dims: &[usize]) -> KResult<usize> {
    let mut n: usize = 1;
    for &d in dims {
        if d == 0 {
            return crate::fail!(Status::InvalidArgument, "{}: every size must be at least 1, got {:?}", name, dims);
        }
        n = match n.checked_mul(d) {
            Some(v) if v <= (isize::MAX as usize) / 8 => v,
            _ => return crate::fail!(Status::InvalidArgument, "{}: sizes {:?} are too large for wasm32 memory", name, dims),
        };
    }
    Ok(n)
}

/// Checks that `[ptr, ptr + bytes)` lies in one live block.
fn check_block(name: &str, ptr: usize, bytes: usize, align: usize) -> KResult {
    if ptr == 0 {
        return crate::fail!(Status::BadPointer, "{}: null pointer; pass a buffer from alloc", name);
    }
    if ptr % align != 0 {
        return crate::fail!(Status::BadPointer, "{}: pointer {} is not {}-byte aligned", name, ptr, align);
    }
    match blocks().range(..=ptr).next_back() {
        Some((&start, &size)) if ptr < start + size => {
            // Written so that a huge `bytes` cannot wrap around.
            if bytes > start + size - ptr {
                crate::fail!(
                    Status::ShapeMismatch,
                    "{}: needs {} bytes from offset {} but its buffer has {} left; the buffer is smaller than the shape says",
                    name,
                    bytes,
                    ptr - start,
                    start + size - ptr
                )
            } else {
                Ok(())
            }
        }
        _ => crate::fail!(Status::BadPointer, "{}: pointer {} is not inside a live allocation (disposed or freed?)", name, ptr),
    }
}

/// A checked argument: where it is, how many bytes, and whether the call writes it.
#[derive(Clone, Copy)]
struct Arg {
    name: &'static str,
    ptr: usize,
    bytes: usize,
    written: bool,
}

/// Collects the arguments of one call so that outputs can be checked against overlap.
struct Args {
    list: [Arg; 24],
    len: usize,
}

impl Args {
    fn new() -> Self {
        Args { list: [Arg { name: "", ptr: 0, bytes: 0, written: false }; 24], len: 0 }
    }
    fn push<T>(&mut self, name: &'static str, ptr: usize, n: usize, written: bool) -> KResult {
        let bytes = match n.checked_mul(std::mem::size_of::<T>()) {
            Some(b) => b,
            None => return crate::fail!(Status::InvalidArgument, "{}: {} elements are more than wasm32 memory can hold", name, n),
        };
        check_block(name, ptr, bytes, std::mem::align_of::<T>())?;
        self.list[self.len] = Arg { name, ptr, bytes, written };
        self.len += 1;
        Ok(())
    }
    unsafe fn input<'a, T>(&mut self, name: &'static str, ptr: usize, n: usize) -> KResult<&'a [T]> {
        self.push::<T>(name, ptr, n, false)?;
        Ok(std::slice::from_raw_parts(ptr as *const T, n))
    }
    unsafe fn opt_input<'a, T>(&mut self, name: &'static str, ptr: usize, n: usize) -> KResult<Option<&'a [T]>> {
        if ptr == 0 {
            return Ok(None);
        }
        self.input(name, ptr, n).map(Some)
    }
    unsafe fn output<'a>(&mut self, name: &'static str, ptr: usize, n: usize) -> KResult<&'a mut [f32]> {
        self.push::<f32>(name, ptr, n, true)?;
        Ok(std::slice::from_raw_parts_mut(ptr as *mut f32, n))
    }
    unsafe fn opt_output<'a>(&mut self, name: &'static str, ptr: usize, n: usize) -> KResult<Option<&'a mut [f32]>> {
        if ptr == 0 {
            return Ok(None);
        }
        self.output(name, ptr, n).map(Some)
    }
    /// Outputs may not overlap anything else: the kernels read inputs after writing outputs.
    fn check_disjoint(&self) -> KResult {
        for (i, a) in self.list[..self.len].iter().enumerate() {
            for b in &self.list[i + 1..self.len] {
                if (a.written || b.written) && a.bytes > 0 && b.bytes > 0 && a.ptr < b.ptr + b.bytes && b.ptr < a.ptr + a.bytes {
                    return crate::fail!(
                        Status::InvalidArgument,
                        "{} and {} overlap in memory, and one of them is written: pass separate buffers",
                        a.name,
                        b.name
                    );
                }
            }
        }
        Ok(())
    }
}

/// Validated config, dims and element counts shared by gru_forward and gru_backward.
struct GruCall {
    cfg: GruConfig,
    dims: GruDims,
    /// B·T·D, B·T·H, B·H
    btd: usize,
    bth: usize,
    bh: usize,
}

fn gru_call(batch: usize, time: usize, input: usize, units: usize, flags: u32, activation: i32, recurrent_activation: i32, clip: f32) -> KResult<GruCall> {
    Ok(GruCall {
        cfg: gru_config(flags, activation, recurrent_activation, clip)?,
        dims: GruDims { batch, time, input, units },
        btd: count("x (B, T, D)", &[batch, time, input])?,
        bth: count("y (B, T, H)", &[batch, time, units])?,
        bh: count("state (B, H)", &[batch, units])?,
    })
}

/// `gru::cache_len` with overflow checked: B·H·(5T + 1) floats.
fn cache_count(d: &GruDims) -> KResult<usize> {
    let steps = d.time.checked_mul(5).and_then(|v| v.checked_add(1)).unwrap_or(usize::MAX);
    count("training cache (B, H, 5T + 1)", &[d.batch, d.units, steps]).map(|_| gru::cache_len(d))
}

/// Checks the optional recurrent dropout masks: 0, or (3, B, H) finite floats.
///
/// # Safety
/// As `Args::opt_input`: the checked block must stay live and unwritten while the slice is used.
unsafe fn rec_mask_input<'a>(a: &mut Args, ptr: usize, d: &GruDims) -> KResult<Option<&'a [f32]>> {
    let m = a.opt_input::<f32>("recurrentDropoutMask", ptr, count("recurrent dropout masks (3, B, H)", &[3, d.batch, d.units])?)?;
    if let Some(m) = m {
        check_finite("recurrentDropoutMask", m)?;
    }
    Ok(m)
}

/// `gru::packed_len` with overflow checked (bounded by (D + H + 2)·(3H + NR)).
fn packed_count(input: usize, units: usize, reset_after: bool) -> KResult<usize> {
    let rows = input.checked_add(units).and_then(|v| v.checked_add(2)).unwrap_or(usize::MAX);
    let cols = units.checked_mul(3).and_then(|v| v.checked_add(NR)).unwrap_or(usize::MAX);
    count("packed weights", &[rows, cols]).map(|_| gru::packed_len(input, units, reset_after))
}

fn gru_config(flags: u32, activation: i32, recurrent_activation: i32, clip: f32) -> KResult<GruConfig> {
    if flags & !(GRU_RESET_AFTER | GRU_GO_BACKWARDS) != 0 {
        return crate::fail!(Status::InvalidArgument, "gru flags: unknown bits in {:#x}", flags);
    }
    if !(clip == 0.0 || (clip > 0.0 && clip.is_finite())) {
        return crate::fail!(Status::InvalidArgument, "gru clip: expected 0 (no clip) or a finite positive bound, got {}", clip);
    }
    Ok(GruConfig {
        reset_after: flags & GRU_RESET_AFTER != 0,
        go_backwards: flags & GRU_GO_BACKWARDS != 0,
        activation: Activation::from_i32(activation, "gru activation", false)?,
        recurrent_activation: Activation::from_i32(recurrent_activation, "gru recurrentActivation", false)?,
        clip: if clip == 0.0 { None } else { Some(clip) },
    })
}

/// Floats of the packed-weights buffer for `gru_pack` (0 if a size is 0 or too large).
#[no_mangle]
pub extern "C" fn gru_packed_len(input: usize, units: usize, flags: u32) -> usize {
    packed_count(input, units, flags & GRU_RESET_AFTER != 0).unwrap_or(0)
}

/// Floats of the training cache for `gru_forward` (0 if a size is 0 or too large).
#[no_mangle]
pub extern "C" fn gru_cache_len(batch: usize, time: usize, units: usize) -> usize {
    cache_count(&GruDims { batch, time, input: 1, units }).unwrap_or(0)
}

/// Packs Keras-layout weights for `gru_forward`; rejects non-finite weights.
///
/// packed: (gru_packed_len) out · kernel: (D, 3H) · recurrent: (H, 3H) ·
/// bias: (2, 3H) [b_x; b_u] if reset-after else (3H), or 0 for no bias
#[no_mangle]
pub unsafe extern "C" fn gru_pack(packed: usize, kernel: usize, recurrent: usize, bias: usize, input: usize, units: usize, flags: u32) -> i32 {
    to_status((|| {
        let reset_after = flags & GRU_RESET_AFTER != 0;
        let g = count("gru_pack sizes", &[units, 3])?;
        let mut a = Args::new();
        let k = a.input::<f32>("kernel", kernel, count("kernel", &[input, g])?)?;
        let u = a.input::<f32>("recurrentKernel", recurrent, count("recurrentKernel", &[units, g])?)?;
        let b = a.opt_input::<f32>("bias", bias, if reset_after { 2 * g } else { g })?;
        let p = a.output("packed", packed, packed_count(input, units, reset_after)?)?;
        a.check_disjoint()?;
        check_finite("kernel", k)?;
        check_finite("recurrentKernel", u)?;
        if let Some(b) = b {
            check_finite("bias", b)?;
        }
        gru::gru_pack(p, k, u, b, input, units, reset_after);
        Ok(())
    })())
}

/// GRU forward over a whole sequence (see `kernels::gru`).
///
/// y: (B, T, H) out or 0 · y_last: (B, H) out · h_last: (B, H) out ·
/// cache: (gru_cache_len) out when training, else 0 · x: (B, T, D) · h0: (B, H) or 0 ·
/// mask: (B, T) u8, nonzero = valid, or 0 ·
/// rec_mask: (3, B, H) f32 recurrent dropout masks [m_z; m_r; m_h], already scaled (0 or
/// 1/(1 − rate)), drawn once per sequence; gate k's recurrent matmul reads h_prev ⊙ m_k, the
/// update blend the un-dropped h_prev (Keras 3.8+ `GRUCell`); or 0 = no recurrent dropout ·
/// packed: from gru_pack with the same D, H, flags · clip: ONNX cell clip, every gate
/// pre-activation clamped to [−clip, clip], or 0 = no clip
#[no_mangle]
pub unsafe extern "C" fn gru_forward(
    y: usize,
    y_last: usize,
    h_last: usize,
    cache: usize,
    x: usize,
    h0: usize,
    mask: usize,
    rec_mask: usize,
    packed: usize,
    batch: usize,
    time: usize,
    input: usize,
    units: usize,
    flags: u32,
    activation: i32,
    recurrent_activation: i32,
    clip: f32,
) -> i32 {
    to_status((|| {
        let GruCall { cfg, dims, btd, bth, bh } = gru_call(batch, time, input, units, flags, activation, recurrent_activation, clip)?;
        let mut a = Args::new();
        let x = a.input::<f32>("x", x, btd)?;
        let h0 = a.opt_input::<f32>("initialState", h0, bh)?;
        let mask = a.opt_input::<u8>("mask", mask, batch * time)?;
        let rec_mask = rec_mask_input(&mut a, rec_mask, &dims)?;
        let packed = a.input::<f32>("packed weights", packed, packed_count(input, units, cfg.reset_after)?)?;
        let y = a.opt_output("y", y, bth)?;
        let y_last = a.output("yLast", y_last, bh)?;
        let h_last_ptr = h_last;
        let h_last = a.output("hLast", h_last, bh)?;
        let cache = if cache == 0 { None } else { Some(a.output("cache", cache, cache_count(&dims)?)?) };
        a.check_disjoint()?;
        check_finite("x", x)?;
        if let Some(h0) = h0 {
            check_finite("initialState", h0)?;
        }
        let outs = GruOutputs { y, y_last, h_last, cache };
        gru::gru_forward(outs, x, h0, mask, rec_mask, packed, &dims, &cfg)?;
        // Finite inputs can still overflow (relu/linear states, or x·K = Inf − Inf = NaN before a
        // tanh); a NaN or Inf at any step of a row propagates into that row's last state.
        check_finite(
            "GRU output (the computation overflowed: use smaller weights or inputs, or clip gradients while training)",
            std::slice::from_raw_parts(h_last_ptr as *const f32, bh),
        )?;
        Ok(())
    })())
}

/// GRU backward through time; ADDS into dx, dh0, dkernel, drecurrent, dbias.
///
/// dx: (B, T, D) or 0 · dh0: (B, H) or 0 · dkernel: (D, 3H) · drecurrent: (H, 3H) ·
/// dbias: (2, 3H) reset-after / (3H) reset-before, or 0 · dy: (B, T, H) or 0 · dy_last: (B, H) or 0 ·
/// dh_last: (B, H) or 0 · cache: filled by gru_forward · x, mask, rec_mask: as given to gru_forward ·
/// kernel: (D, 3H) · recurrent: (H, 3H): the Keras-layout weights gru_pack was given ·
/// flags, activations, clip: as given to gru_forward (gradient 0 through a clamped pre-activation)
#[no_mangle]
pub unsafe extern "C" fn gru_backward(
    dx: usize,
    dh0: usize,
    dkernel: usize,
    drecurrent: usize,
    dbias: usize,
    dy: usize,
    dy_last: usize,
    dh_last: usize,
    cache: usize,
    x: usize,
    mask: usize,
    rec_mask: usize,
    kernel: usize,
    recurrent: usize,
    batch: usize,
    time: usize,
    input: usize,
    units: usize,
    flags: u32,
    activation: i32,
    recurrent_activation: i32,
    clip: f32,
) -> i32 {
    to_status((|| {
        let GruCall { cfg, dims, btd, bth, bh } = gru_call(batch, time, input, units, flags, activation, recurrent_activation, clip)?;
        let g = 3 * units;
        let mut a = Args::new();
        let dy = a.opt_input::<f32>("dy", dy, bth)?;
        let dy_last = a.opt_input::<f32>("dyLast", dy_last, bh)?;
        let dh_last = a.opt_input::<f32>("dhLast", dh_last, bh)?;
        let cache = a.input::<f32>("cache", cache, cache_count(&dims)?)?;
        let x = a.input::<f32>("x", x, btd)?;
        let mask = a.opt_input::<u8>("mask", mask, batch * time)?;
        let rec_mask = rec_mask_input(&mut a, rec_mask, &dims)?;
        let kernel = a.input::<f32>("kernel", kernel, input * g)?;
        let recurrent = a.input::<f32>("recurrentKernel", recurrent, units * g)?;
        let dx = a.opt_output("dx", dx, btd)?;
        let dh0 = a.opt_output("dh0", dh0, bh)?;
        let dkernel = a.output("dkernel", dkernel, input * g)?;
        let drecurrent = a.output("drecurrentKernel", drecurrent, units * g)?;
        let dbias = a.opt_output("dbias", dbias, if cfg.reset_after { 2 * g } else { g })?;
        a.check_disjoint()?;
        for (name, s) in [("dy", dy), ("dyLast", dy_last), ("dhLast", dh_last)] {
            if let Some(s) = s {
                check_finite(name, s)?;
            }
        }
        let grads = GruGrads { dx, dh0, dkernel, drecurrent, dbias };
        gru::gru_backward(grads, GruSeeds { dy, dy_last, dh_last }, cache, x, mask, rec_mask, kernel, recurrent, &dims, &cfg)
    })())
}

/// Dense forward: y = act(x·W + b); softmax is over the last axis.
///
/// y: (N, O) out · x: (N, I) · w: (I, O) · b: (O) or 0
#[no_mangle]
pub unsafe extern "C" fn dense_forward(y: usize, x: usize, w: usize, b: usize, rows: usize, input: usize, units: usize, activation: i32) -> i32 {
    to_status((|| {
        let act = Activation::from_i32(activation, "dense activation", true)?;
        let dims = DenseDims { rows, input, units };
        let mut a = Args::new();
        let x = a.input::<f32>("x", x, count("x (N, I)", &[rows, input])?)?;
        let w = a.input::<f32>("kernel", w, count("kernel (I, O)", &[input, units])?)?;
        let b = a.opt_input::<f32>("bias", b, units)?;
        let y = a.output("y", y, count("y (N, O)", &[rows, units])?)?;
        a.check_disjoint()?;
        let check_inputs = || -> KResult {
            check_finite("x", x)?;
            check_finite("kernel", w)?;
            b.map_or(Ok(()), |b| check_finite("bias", b))
        };
        const OVERFLOW: &str = "Dense output (the computation overflowed: use smaller weights or inputs)";
        dense::dense_linear(y, x, w, b, &dims)?;
        // Every x, kernel and bias value reaches some x·W + b (every size is ≥ 1), and NaN or ±Inf there
        // stays non-finite: one check of the (N, O) product stands for the checks of the inputs,
        // which for a 10,000-way softmax are ten times larger. Only on failure are the inputs
        // checked, so the error still names the one that is bad.
        if check_finite(OVERFLOW, y).is_err() {
            check_inputs()?;
            return check_finite(OVERFLOW, y);
        }
        dense::dense_activation(y, &dims, act);
        check_finite(OVERFLOW, y)
    })())
}

/// Dense backward; ADDS into dx, dw, db.
///
/// dx: (N, I) or 0 · dw: (I, O) · db: (O) or 0 · dy: (N, O) · y: (N, O) the forward's output ·
/// x: (N, I) · w: (I, O)
#[no_mangle]
pub unsafe extern "C" fn dense_backward(dx: usize, dw: usize, db: usize, dy: usize, y: usize, x: usize, w: usize, rows: usize, input: usize, units: usize, activation: i32) -> i32 {
    to_status((|| {
        let act = Activation::from_i32(activation, "dense activation", true)?;
        let dims = DenseDims { rows, input, units };
        let ni = count("x (N, I)", &[rows, input])?;
        let no = count("y (N, O)", &[rows, units])?;
        let io = count("kernel (I, O)", &[input, units])?;
        let mut a = Args::new();
        let dy = a.input::<f32>("dy", dy, no)?;
        let y = a.input::<f32>("y", y, no)?;
        let x = a.input::<f32>("x", x, ni)?;
        let w = a.input::<f32>("kernel", w, io)?;
        let dx = a.opt_output("dx", dx, ni)?;
        let dw = a.output("dkernel", dw, io)?;
        let db = a.opt_output("dbias", db, units)?;
        a.check_disjoint()?;
        check_finite("dy", dy)?;
        dense::dense_backward(dx, dw, db, dy, y, x, w, &dims, act)
    })())
}

/// Embedding gather: y[n, :] = table[ids[n], :]. Every id is checked against [0, vocab) before
/// anything is written (IndexOutOfRange names the first bad id and its flat position).
/// Checks a normalization epsilon: finite and ≥ 0 (Keras accepts 0; then a constant feature is
/// reported as a non-finite output instead of trapping).
fn check_epsilon(epsilon: f32) -> KResult {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return crate::fail!(Status::InvalidArgument, "normalization epsilon must be finite and >= 0, got {}", epsilon);
    }
    Ok(())
}

/// BatchNormalization forward over the last axis (see `kernels::norm::batchnorm_forward`).
/// Training: pass `batch_mean`/`batch_var` (written with this batch's moments, the mask excluding
/// rows from them) and 0 for `moving_*`; inference: the reverse.
///
/// y: (N, C) out · batch_mean, batch_var: (C) out or 0 · x: (N, C) · mask: (N) u8, nonzero =
/// valid, or 0 · gamma, beta: (C) or 0 · moving_mean, moving_var: (C) or 0
#[no_mangle]
pub unsafe extern "C" fn batchnorm_forward(
    y: usize,
    batch_mean: usize,
    batch_var: usize,
    x: usize,
    mask: usize,
    gamma: usize,
    beta: usize,
    moving_mean: usize,
    moving_var: usize,
    rows: usize,
    features: usize,
    epsilon: f32,
) -> i32 {
    to_status((|| {
        check_epsilon(epsilon)?;
        let dims = NormDims { rows, features };
        let nc = count("x (N, C)", &[rows, features])?;
        let training = batch_mean != 0 || batch_var != 0;
        if training == (moving_mean != 0 || moving_var != 0) || (training && (batch_mean == 0 || batch_var == 0)) || (!training && (moving_mean == 0 || moving_var == 0)) {
            return crate::fail!(
                Status::InvalidArgument,
                "batchnorm_forward: pass either batch_mean and batch_var (training) or moving_mean and moving_var (inference), got pointers {}, {}, {}, {}",
                batch_mean,
                batch_var,
                moving_mean,
                moving_var
            );
        }
        let mut a = Args::new();
        let xs = a.input::<f32>("x", x, nc)?;
        let m = a.opt_input::<u8>("mask", mask, rows)?;
        let g = a.opt_input::<f32>("gamma", gamma, features)?;
        let b = a.opt_input::<f32>("beta", beta, features)?;
        let mm = a.opt_input::<f32>("moving_mean", moving_mean, features)?;
        let mv = a.opt_input::<f32>("moving_variance", moving_var, features)?;
        let out = a.output("y", y, nc)?;
        let bm = a.opt_output("batch_mean", batch_mean, features)?;
        let bv = a.opt_output("batch_var", batch_var, features)?;
        a.check_disjoint()?;
        check_finite("x", xs)?;
        for (name, w) in [("gamma", g), ("beta", b), ("moving_mean", mm), ("moving_variance", mv)] {
            if let Some(w) = w {
                check_finite(name, w)?;
            }
        }
        let stats = match (bm, bv, mm, mv) {
            (Some(mean), Some(var), _, _) => BnStats::Batch { mean, var },
            (_, _, Some(mean), Some(var)) => BnStats::Moving { mean, var },
            _ => return crate::fail!(Status::InvalidArgument, "batchnorm_forward: statistics missing"),
        };
        norm::batchnorm_forward(out, stats, xs, m, g, b, &dims, epsilon)?;
        check_finite("BatchNormalization output (a variance + epsilon of 0, or overflow: raise epsilon)", std::slice::from_raw_parts(y as *const f32, nc))
    })())
}

/// BatchNormalization backward; ADDS into dx, dgamma, dbeta. `batch_stats` 1: mean/var are the
/// batch's own moments (the full formula); 0: they were constants (the moving statistics).
///
/// dx: (N, C) or 0 · dgamma, dbeta: (C) or 0 · dy, x: (N, C) · mask: (N) u8 or 0 (as given to the
/// forward) · gamma: (C) or 0 · mean, var: (C) the statistics the forward used
#[no_mangle]
pub unsafe extern "C" fn batchnorm_backward(
    dx: usize,
    dgamma: usize,
    dbeta: usize,
    dy: usize,
    x: usize,
    mask: usize,
    gamma: usize,
    mean: usize,
    var: usize,
    rows: usize,
    features: usize,
    epsilon: f32,
    batch_stats: u32,
) -> i32 {
    to_status((|| {
        check_epsilon(epsilon)?;
        if batch_stats > 1 {
            return crate::fail!(Status::InvalidArgument, "batchnorm_backward: batch_stats must be 0 or 1, got {}", batch_stats);
        }
        let dims = NormDims { rows, features };
        let nc = count("x (N, C)", &[rows, features])?;
        let mut a = Args::new();
        let dys = a.input::<f32>("dy", dy, nc)?;
        let xs = a.input::<f32>("x", x, nc)?;
        let m = a.opt_input::<u8>("mask", mask, rows)?;
        let g = a.opt_input::<f32>("gamma", gamma, features)?;
        let mu = a.input::<f32>("mean", mean, features)?;
        let v = a.input::<f32>("var", var, features)?;
        let dxs = a.opt_output("dx", dx, nc)?;
        let dg = a.opt_output("dgamma", dgamma, features)?;
        let db = a.opt_output("dbeta", dbeta, features)?;
        a.check_disjoint()?;
        check_finite("dy", dys)?;
        norm::batchnorm_backward(dxs, dg, db, dys, xs, m, g, mu, v, &dims, epsilon, batch_stats == 1)
    })())
}

/// LayerNormalization forward over the last axis (see `kernels::norm::layernorm_forward`).
///
/// y: (N, C) out · mean, rstd: (N) out or 0 (both or neither: backward needs them) · x: (N, C) ·
/// gamma, beta: (C) or 0
#[no_mangle]
pub unsafe extern "C" fn layernorm_forward(y: usize, mean: usize, rstd: usize, x: usize, gamma: usize, beta: usize, rows: usize, features: usize, epsilon: f32) -> i32 {
    to_status((|| {
        check_epsilon(epsilon)?;
        if (mean == 0) != (rstd == 0) {
            return crate::fail!(Status::InvalidArgument, "layernorm_forward: pass both mean and rstd (training) or neither, got {} and {}", mean, rstd);
        }
        let dims = NormDims { rows, features };
        let nc = count("x (N, C)", &[rows, features])?;
        let mut a = Args::new();
        let xs = a.input::<f32>("x", x, nc)?;
        let g = a.opt_input::<f32>("gamma", gamma, features)?;
        let b = a.opt_input::<f32>("beta", beta, features)?;
        let out = a.output("y", y, nc)?;
        let mo = a.opt_output("mean", mean, rows)?;
        let so = a.opt_output("rstd", rstd, rows)?;
        a.check_disjoint()?;
        check_finite("x", xs)?;
        for (name, w) in [("gamma", g), ("beta", b)] {
            if let Some(w) = w {
                check_finite(name, w)?;
            }
        }
        norm::layernorm_forward(out, mo, so, xs, g, b, &dims, epsilon)?;
        check_finite("LayerNormalization output (a variance + epsilon of 0, or overflow: raise epsilon)", std::slice::from_raw_parts(y as *const f32, nc))
    })())
}

/// LayerNormalization backward; ADDS into dx, dgamma, dbeta.
///
/// dx: (N, C) or 0 · dgamma, dbeta: (C) or 0 · dy, x: (N, C) · mean, rstd: (N) from the forward ·
/// gamma: (C) or 0
#[no_mangle]
pub unsafe extern "C" fn layernorm_backward(dx: usize, dgamma: usize, dbeta: usize, dy: usize, x: usize, mean: usize, rstd: usize, gamma: usize, rows: usize, features: usize) -> i32 {
    to_status((|| {
        let dims = NormDims { rows, features };
        let nc = count("x (N, C)", &[rows, features])?;
        let mut a = Args::new();
        let dys = a.input::<f32>("dy", dy, nc)?;
        let xs = a.input::<f32>("x", x, nc)?;
        let mu = a.input::<f32>("mean", mean, rows)?;
        let rs = a.input::<f32>("rstd", rstd, rows)?;
        let g = a.opt_input::<f32>("gamma", gamma, features)?;
        let dxs = a.opt_output("dx", dx, nc)?;
        let dg = a.opt_output("dgamma", dgamma, features)?;
        let db = a.opt_output("dbeta", dbeta, features)?;
        a.check_disjoint()?;
        check_finite("dy", dys)?;
        norm::layernorm_backward(dxs, dg, db, dys, xs, mu, rs, g, &dims)
    })())
}

/// Loss and its gradient in one pass (see `kernels::loss`).
///
/// y: (N, E) out · ids: (N) i32 · table: (V, E) the `embeddings` weight
#[no_mangle]
pub unsafe extern "C" fn embedding_forward(y: usize, ids: usize, table: usize, count_: usize, vocab: usize, dim: usize) -> i32 {
    to_status((|| {
        let dims = EmbeddingDims { count: count_, vocab, dim };
        let mut a = Args::new();
        let ids = a.input::<i32>("ids", ids, count("ids (N)", &[count_])?)?;
        let table = a.input::<f32>("embeddings", table, count("embeddings (V, E)", &[vocab, dim])?)?;
        let y = a.output("y", y, count("y (N, E)", &[count_, dim])?)?;
        a.check_disjoint()?;
        embedding::embedding_forward(y, ids, table, &dims)
    })())
}

/// Embedding backward: scatter-add; ADDS dy[n, :] into dtable[ids[n], :] (repeated ids accumulate).
/// Ids are checked before anything is written; dy must be finite.
///
/// dtable: (V, E) += · dy: (N, E) · ids: (N) i32
#[no_mangle]
pub unsafe extern "C" fn embedding_backward(dtable: usize, dy: usize, ids: usize, count_: usize, vocab: usize, dim: usize) -> i32 {
    to_status((|| {
        let dims = EmbeddingDims { count: count_, vocab, dim };
        let mut a = Args::new();
        let dy = a.input::<f32>("dy", dy, count("dy (N, E)", &[count_, dim])?)?;
        let ids = a.input::<i32>("ids", ids, count("ids (N)", &[count_])?)?;
        let dtable = a.output("dembeddings", dtable, count("embeddings (V, E)", &[vocab, dim])?)?;
        a.check_disjoint()?;
        check_finite("dy", dy)?;
        embedding::embedding_backward(dtable, dy, ids, &dims)
    })())
}

/// Loss and its gradient in one pass (see `kernels::loss`): Keras 3 `sum_over_batch_size`,
/// loss = Σ_r w_r·L_r / N over the N rows (one row = one prediction vector, the last axis).
///
/// loss_out: (1) out, the mean loss · dpred: (N, C) out, dL/dpred, overwritten, or 0 ·
/// row_loss: (N) out, the unweighted per-row loss L_r, or 0 · pred: (N, C) ·
/// target: (N, C) f32, or (N) i32 class ids for the sparse kinds ·
/// weights: (N) f32 per-row weights (sample × class weights × a mask already rescaled by
/// N / Σmask as Keras' `apply_mask` does), or 0 for all ones · rows: N · cols: C · kind: LossKind ·
/// delta: Huber's δ (> 0; read by Huber only, pass 1.0 otherwise) ·
/// label_smoothing: in [0, 1] for (binary/categorical) cross-entropy, else 0
#[no_mangle]
pub unsafe extern "C" fn loss_forward_backward(
    loss_out: usize,
    dpred: usize,
    row_loss: usize,
    pred: usize,
    target: usize,
    weights: usize,
    rows: usize,
    cols: usize,
    kind: i32,
    delta: f32,
    label_smoothing: f32,
) -> i32 {
    to_status((|| {
        let kind = LossKind::from_i32(kind)?;
        let nc = count("prediction (N, C)", &[rows, cols])?;
        let mut a = Args::new();
        let pred = a.input::<f32>("prediction", pred, nc)?;
        let target = if kind.sparse() {
            Target::Sparse(a.input::<i32>("labels", target, rows)?)
        } else {
            let t = a.input::<f32>("target", target, nc)?;
            check_finite("target", t)?;
            Target::Dense(t)
        };
        let weights = a.opt_input::<f32>("weights", weights, rows)?;
        let out = a.output("loss", loss_out, 1)?;
        let dpred = a.opt_output("dprediction", dpred, nc)?;
        let row_loss = a.opt_output("row_loss", row_loss, rows)?;
        a.check_disjoint()?;
        check_finite("prediction", pred)?;
        if let Some(w) = weights {
            check_finite("weights", w)?;
        }
        let params = loss::LossParams { delta, label_smoothing };
        out[0] = loss::loss_forward_backward(dpred, row_loss, pred, target, weights, rows, cols, kind, &params)?;
        Ok(())
    })())
}

/// Fills `out` (n floats) from a seeded distribution: 0 uniform [a, b), 1 normal (mean a, std b),
/// 2 truncated normal (mean a, std b, redrawn beyond 2 std). The seed is (seed_hi << 32) | seed_lo.
#[no_mangle]
pub unsafe extern "C" fn init_random(out: usize, n: usize, distribution: i32, a: f64, b: f64, seed_lo: u32, seed_hi: u32) -> i32 {
    to_status((|| {
        let dist = match distribution {
            0 => Distribution::Uniform,
            1 => Distribution::Normal,
            2 => Distribution::TruncatedNormal,
            _ => return crate::fail!(Status::InvalidArgument, "init_random: unknown distribution {} (expected 0, 1 or 2)", distribution),
        };
        if !a.is_finite() || !b.is_finite() {
            return crate::fail!(Status::NonFinite, "init_random: parameters must be finite, got {} and {}", a, b);
        }
        let mut args = Args::new();
        let o = args.output("out", out, count("out", &[n])?)?;
        fill_random(o, dist, a, b, ((seed_hi as u64) << 32) | seed_lo as u64);
        Ok(())
    })())
}

/// Keras `Orthogonal` into `out` (rows, cols), times `gain`.
#[no_mangle]
pub unsafe extern "C" fn init_orthogonal(out: usize, rows: usize, cols: usize, gain: f64, seed_lo: u32, seed_hi: u32) -> i32 {
    to_status((|| {
        if !gain.is_finite() {
            return crate::fail!(Status::NonFinite, "init_orthogonal: gain must be finite, got {}", gain);
        }
        let mut args = Args::new();
        let o = args.output("out", out, count("out (rows, cols)", &[rows, cols])?)?;
        if rows.max(cols) * rows.min(cols) > 1 << 24 {
            return crate::fail!(Status::InvalidArgument, "init_orthogonal: ({}, {}) is too large for a QR at init time", rows, cols);
        }
        fill_orthogonal(o, rows, cols, gain, ((seed_hi as u64) << 32) | seed_lo as u64);
        Ok(())
    })())
}

/// The `Update` and `Clip` of optimizer `kind` from the hyper-parameter array `hp` (HYPER_COUNT).
fn optimizer_from(kind: i32, hp: &[f64]) -> KResult<(Update, Clip)> {
    for (i, &v) in hp.iter().enumerate() {
        if !v.is_finite() {
            return crate::fail!(Status::NonFinite, "optimizer hyper-parameter {} is {}: every hyper-parameter must be finite (0 for unset options)", i, v);
        }
    }
    let h = |k: Hyper| hp[k as usize];
    let flag = |k: Hyper| h(k) != 0.0;
    let (lr, wd) = (h(Hyper::LearningRate), h(Hyper::WeightDecay));
    let clips = [(h(Hyper::Clipnorm), "clipnorm"), (h(Hyper::GlobalClipnorm), "globalClipnorm"), (h(Hyper::Clipvalue), "clipvalue")];
    let set: Vec<&str> = clips.iter().filter(|c| c.0 > 0.0).map(|c| c.1).collect();
    if set.len() > 1 {
        return crate::fail!(Status::InvalidArgument, "optimizer: only one of clipnorm, globalClipnorm and clipvalue may be set (as in Keras), got {:?}", set);
    }
    let clip = if clips[0].0 > 0.0 {
        Clip::Norm(clips[0].0 as f32)
    } else if clips[1].0 > 0.0 {
        Clip::GlobalNorm(clips[1].0 as f32)
    } else if clips[2].0 > 0.0 {
        Clip::Value(clips[2].0 as f32)
    } else {
        Clip::None
    };
    let adam = AdamConfig { learning_rate: lr, beta_1: h(Hyper::Beta1), beta_2: h(Hyper::Beta2), epsilon: h(Hyper::Epsilon), amsgrad: flag(Hyper::Amsgrad), weight_decay: wd };
    let update = match kind {
        k if k == OptimizerKind::Sgd as i32 => Update::Sgd(SgdConfig { learning_rate: lr, momentum: h(Hyper::Momentum), nesterov: flag(Hyper::Nesterov), weight_decay: wd }),
        k if k == OptimizerKind::Rmsprop as i32 => Update::Rmsprop(RmspropConfig {
            learning_rate: lr,
            rho: h(Hyper::Rho),
            momentum: h(Hyper::Momentum),
            epsilon: h(Hyper::Epsilon),
            centered: flag(Hyper::Centered),
            weight_decay: wd,
        }),
        k if k == OptimizerKind::Adam as i32 => Update::Adam(adam),
        k if k == OptimizerKind::AdamW as i32 => Update::AdamW(adam),
        // Adagrad's initial_accumulator_value is not here: the caller fills the accumulators.
        k if k == OptimizerKind::Adagrad as i32 => Update::Adagrad(AdagradConfig { learning_rate: lr, initial_accumulator_value: 0.0, epsilon: h(Hyper::Epsilon), weight_decay: wd }),
        k if k == OptimizerKind::Adadelta as i32 => Update::Adadelta(AdadeltaConfig { learning_rate: lr, rho: h(Hyper::Rho), epsilon: h(Hyper::Epsilon), weight_decay: wd }),
        k if k == OptimizerKind::Adamax as i32 => Update::Adamax(AdamaxConfig { learning_rate: lr, beta_1: h(Hyper::Beta1), beta_2: h(Hyper::Beta2), epsilon: h(Hyper::Epsilon), weight_decay: wd }),
        k if k == OptimizerKind::Nadam as i32 => Update::Nadam(NadamConfig { learning_rate: lr, beta_1: h(Hyper::Beta1), beta_2: h(Hyper::Beta2), epsilon: h(Hyper::Epsilon), weight_decay: wd }),
        _ => return crate::fail!(Status::InvalidArgument, "optimizer_apply: unknown optimizer kind {} (expected 0..=7)", kind),
    };
    Ok((update, clip))
}

/// Floats of `optimizer_apply`'s state for optimizer `kind` with hyper-parameters `hyper`
/// (HYPER_COUNT f64) over `n` parameters: (number of state regions) · n. 0 on a bad argument
/// (then `last_error` says why), as for the other size queries.
#[no_mangle]
pub unsafe extern "C" fn optimizer_state_len(kind: i32, hyper: usize, n: usize) -> usize {
    let r = (|| -> KResult<usize> {
        let mut a = Args::new();
        let hp = a.input::<f64>("hyper", hyper, HYPER_COUNT)?;
        let (update, _) = optimizer_from(kind, hp)?;
        match update.state_regions().len().checked_mul(n) {
            Some(v) => Ok(v),
            None => crate::fail!(Status::InvalidArgument, "optimizer_state_len: {} parameters are too many", n),
        }
    })();
    r.unwrap_or(0)
}

/// One Keras `apply_gradients` step over many parameter tensors (see `optim::apply_gradients`):
/// clip (clipnorm | globalClipnorm | clipvalue), weight decay on flagged tensors, then the update.
/// All or nothing: every check (pointers, sizes, overlap, hyper-parameters, finite gradients) runs
/// before the first write; a non-finite gradient is `NonFinite` with a detail naming the tensor
/// index and flat element index.
///
/// grad_norm: (1) f64 out, the global L2 norm of all gradients before clipping ·
/// u_product: (1) f64 in/out, Nadam's running product (1.0 before step 1), or 0 for other kinds ·
/// state: (state_len) f32 in/out, R regions of N floats (N = Σ lengths, region k holds tensor t at
/// k·N + offset_t), or 0 when state_len is 0 · table: (n_tensors, RECORD_WORDS) u32 records
/// [params ptr, grads ptr, length in floats, flags (PARAM_WEIGHT_DECAY)]; grads are clipped in place ·
/// hyper: (HYPER_COUNT) f64, indexed by `Hyper` · step: Keras' iterations + 1 · kind: `OptimizerKind`
#[no_mangle]
pub unsafe extern "C" fn optimizer_apply(
    grad_norm: usize,
    u_product: usize,
    state: usize,
    table: usize,
    hyper: usize,
    n_tensors: usize,
    state_len: usize,
    step: u32,
    kind: i32,
) -> i32 {
    to_status((|| {
        if n_tensors == 0 {
            return crate::fail!(Status::InvalidArgument, "optimizer_apply: n_tensors is 0; pass at least one parameter tensor");
        }
        let mut a = Args::new();
        let words = match n_tensors.checked_mul(RECORD_WORDS) {
            Some(w) => w,
            None => return crate::fail!(Status::InvalidArgument, "optimizer_apply: {} tensors are too many", n_tensors),
        };
        let records = a.input::<u32>("table", table, words)?;
        let hp = a.input::<f64>("hyper", hyper, HYPER_COUNT)?;
        let (update, clip) = optimizer_from(kind, hp)?;
        let norm_out = a.push::<f64>("gradNorm", grad_norm, 1, true).map(|_| grad_norm as *mut f64)?;
        let u_out = if u_product == 0 {
            if let Update::Nadam(_) = update {
                return crate::fail!(Status::InvalidArgument, "u_product: Nadam needs its running product (an f64 slot holding 1.0 before step 1), got 0");
            }
            None
        } else {
            a.push::<f64>("uProduct", u_product, 1, true)?;
            Some(u_product as *mut f64)
        };
        let state = if state == 0 && state_len == 0 { &mut [][..] } else { a.output("state", state, state_len)? };
        // The many tensor buffers are checked here rather than in `Args` (which holds 24): each
        // must be a live block; then ALL buffers of the call must be pairwise disjoint.
        let mut spans: Vec<(usize, usize, String)> = a.list[..a.len].iter().map(|x| (x.ptr, x.bytes, x.name.to_string())).collect();
        let mut tensors: Vec<ParamTensor> = Vec::with_capacity(n_tensors);
        for t in 0..n_tensors {
            let rec = &records[t * RECORD_WORDS..(t + 1) * RECORD_WORDS];
            let (pp, gp, len, flags) = (rec[0] as usize, rec[1] as usize, rec[2] as usize, rec[3]);
            if flags & !PARAM_WEIGHT_DECAY != 0 {
                return crate::fail!(Status::InvalidArgument, "table[{}]: unknown flag bits in {:#x}", t, flags);
            }
            let bytes = match len.checked_mul(4) {
                Some(b) => b,
                None => return crate::fail!(Status::InvalidArgument, "table[{}]: length {} is too large", t, len),
            };
            check_block(&format!("tensor {} params", t), pp, bytes, 4)?;
            check_block(&format!("tensor {} grads", t), gp, bytes, 4)?;
            spans.push((pp, bytes, format!("tensor {} params", t)));
            spans.push((gp, bytes, format!("tensor {} grads", t)));
            tensors.push(ParamTensor {
                params: std::slice::from_raw_parts_mut(pp as *mut f32, len),
                grads: std::slice::from_raw_parts_mut(gp as *mut f32, len),
                weight_decay: flags & PARAM_WEIGHT_DECAY != 0,
            });
        }
        spans.retain(|s| s.1 > 0);
        spans.sort_by_key(|s| s.0);
        for w in spans.windows(2) {
            if w[0].0 + w[0].1 > w[1].0 {
                return crate::fail!(Status::InvalidArgument, "{} and {} overlap in memory: every buffer of optimizer_apply must be separate", w[0].2, w[1].2);
            }
        }
        let mut u = match u_out {
            Some(p) => *p,
            None => 1.0,
        };
        let norm = optim::apply_gradients(&mut tensors, state, &mut u, &update, clip, step as u64)?;
        *norm_out = norm;
        if let Some(p) = u_out {
            *p = u;
        }
        Ok(())
    })())
}
