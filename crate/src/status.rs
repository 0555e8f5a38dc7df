//! Status codes returned by every ABI export, plus the detail of the last error.
//!
//! Must match `ts/src/wasm/errors.ts` (`Status`); `test/kernels/abi.test.ts` compares them.

use std::fmt::Write;

/// Result code of an ABI call. `Ok` is 0 so the TS side can test `status !== 0`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    /// A size, flag or enum value is out of its domain.
    InvalidArgument = 1,
    /// Two sizes that must agree do not (buffer too small, shapes inconsistent).
    ShapeMismatch = 2,
    /// A NaN or an infinity in an input, a weight or a gradient.
    NonFinite = 3,
    /// The wasm heap could not grow.
    OutOfMemory = 4,
    /// A token id or class label outside `[0, n)`.
    IndexOutOfRange = 5,
    /// A pointer that is null, misaligned, freed or not from `alloc`.
    BadPointer = 6,
}

pub type KResult<T = ()> = Result<T, Status>;

const DETAIL_CAPACITY: usize = 1024;

/// A fixed buffer, so that reporting an out-of-memory error never allocates.
struct Detail {
    bytes: [u8; DETAIL_CAPACITY],
    len: usize,
}

impl Write for Detail {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == DETAIL_CAPACITY {
                break;
            }
            self.bytes[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

static mut DETAIL: Detail = Detail { bytes: [0; DETAIL_CAPACITY], len: 0 };

fn detail_buffer() -> &'static mut Detail {
    // SAFETY: wasm32 without threads: one caller at a time, and no reference outlives a call.
    unsafe { &mut *std::ptr::addr_of_mut!(DETAIL) }
}

/// Records `message` as the detail of the error `status` and returns `Err(status)`.
pub fn fail<T>(status: Status, message: std::fmt::Arguments) -> KResult<T> {
    let d = detail_buffer();
    d.len = 0;
    let _ = d.write_fmt(message);
    Err(status)
}

/// The last error's message (UTF-8; may be cut at 1024 bytes).
pub fn detail() -> &'static [u8] {
    let d = detail_buffer();
    &d.bytes[..d.len]
}

pub fn detail_ptr() -> *const u8 {
    detail_buffer().bytes.as_ptr()
}

pub fn clear_detail() {
    detail_buffer().len = 0
}

/// `fail!(Status::ShapeMismatch, "x: expected {} floats, got {}", a, b)`.
#[macro_export]
macro_rules! fail {
    ($status:expr, $($arg:tt)*) => {
        $crate::status::fail($status, format_args!($($arg)*))
    };
}

/// Checks that every value of `data` is finite; names the first offender.
pub fn check_finite(name: &str, data: &[f32]) -> KResult {
    // Summing x*0 is NaN exactly when some x is NaN or infinite: one branch-free pass. Sixteen
    // independent sums, so the adds overlap (and become four f32x4 in the SIMD build) instead of
    // waiting on each other: a 2.56M-float Dense kernel is checked in a quarter of the time.
    let mut lanes = [0.0f32; 16];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v * 0.0;
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| v * 0.0).sum();
    if lanes.iter().sum::<f32>() + tail == 0.0 {
        return Ok(());
    }
    let (i, v) = data.iter().enumerate().find(|(_, v)| !v.is_finite()).map(|(i, v)| (i, *v)).unwrap_or((0, f32::NAN));
    fail!(
        Status::NonFinite,
        "{} has a non-finite value ({}) at flat index {}: every value must be finite; check the data or lower the learning rate",
        name,
        v,
        i
    )
}
