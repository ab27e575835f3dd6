//! Feeds arbitrary bytes to the storage record decoder as if they were a segment, walking
//! record after record, and validates every payload as an archived message: corrupt disk data
//! must be reported, never panic.
#![no_main]

use jindou_storage::message::access;
use jindou_storage::record::{decode, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Records start 16-byte aligned in a segment; copy into an aligned buffer like the mapping.
    let mut aligned: Vec<u128> = vec![0; data.len().div_ceil(16) + 1];
    let bytes: &mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(aligned.as_mut_ptr() as *mut u8, aligned.len() * 16) };
    bytes[..data.len()].copy_from_slice(data);
    let segment = &bytes[..data.len()];
    let mut pos = 0;
    while pos < segment.len() {
        match decode(&segment[pos..]) {
            Decoded::Record { payload, framed, .. } => {
                assert!(framed > 0 && pos + framed <= segment.len());
                let _ = access(payload);
                pos += framed;
            }
            Decoded::End | Decoded::Bad(_) => break,
        }
    }
});
