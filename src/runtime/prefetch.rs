//! Software prefetch: a mesh batch names the messages its turn will touch, and most of them
//! were written by another core (the `Arc<Delivered>`, the receivers list, the boxed send).
//! Asking for their cache lines before handling the first message overlaps those
//! cross-core misses instead of paying them one after another.

/// Starts loading the cache lines of `len` bytes at `p` (at most [`MAX_LINES`] of them).
/// A hint only: an address need not be valid, and nothing is read or written.
#[inline(always)]
pub fn bytes(p: *const u8, len: usize) {
    let lines = len.div_ceil(LINE).min(MAX_LINES);
    for i in 0..lines {
        line(p.wrapping_add(i * LINE));
    }
}

/// Starts loading the cache lines holding `*v`.
#[inline(always)]
pub fn value<T>(v: *const T) {
    bytes(v.cast(), std::mem::size_of::<T>());
}

/// Cache line size of the machines Jindou runs on.
const LINE: usize = 64;

/// Most lines asked for one value: enough for any message header, few enough not to evict
/// the lines of the batch's earlier messages.
pub const MAX_LINES: usize = 6;

#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
