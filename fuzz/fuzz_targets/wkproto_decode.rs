//! Feeds arbitrary bytes, split into arbitrary chunks, to the wkproto decoder at every protocol
//! version. Checks: no panic; chunked and one-shot decoding agree; every decoded packet
//! re-encodes, and encode∘decode is stable after one round.
#![no_main]

use bytes::BytesMut;
use jindou::proto::{DecodeError, Decoder, Encode, Packet};
use libfuzzer_sys::fuzz_target;

/// Decodes everything in `buf`; stops at the first error or when more data is needed.
fn drain(dec: &Decoder, buf: &mut BytesMut, v: u8, out: &mut Vec<Packet>) -> Option<DecodeError> {
    loop {
        match dec.decode(buf, v) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

fn norm(e: Option<DecodeError>) -> Option<DecodeError> {
    e.map(|e| match e {
        DecodeError::FrameTooLarge { max, .. } => DecodeError::FrameTooLarge { len: 0, max },
        other => other,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    // Low bits pick a small or the default frame limit; chunk sizes come from the input itself.
    let dec = if ctl & 1 == 0 {
        Decoder::new()
    } else {
        Decoder::with_max_frame(usize::from(ctl))
    };
    for v in 0u8..=7 {
        // One shot.
        let mut whole = BytesMut::from(input);
        let mut a = Vec::new();
        let err_a = drain(&dec, &mut whole, v, &mut a);

        // Arbitrary chunks: sizes 1..=16 derived from the bytes and the control byte.
        let mut b = Vec::new();
        let mut err_b = None;
        let mut buf = BytesMut::new();
        let mut pos = 0usize;
        let mut k = usize::from(ctl);
        while pos < input.len() && err_b.is_none() {
            k = k.wrapping_mul(31).wrapping_add(usize::from(input[pos]));
            let n = (k % 16 + 1).min(input.len() - pos);
            buf.extend_from_slice(&input[pos..pos + n]);
            pos += n;
            err_b = drain(&dec, &mut buf, v, &mut b);
        }
        assert_eq!(a, b, "chunked decoding differs at v{v}");
        // FrameTooLarge may report a lower bound when detected from a partial varint.
        assert_eq!(norm(err_a), norm(err_b), "chunked error differs at v{v}");

        let _ = dec.decode_connect(&mut BytesMut::from(input));

        for p in &a {
            let mut once = BytesMut::new();
            p.encode(v, &mut once)
                .expect("decoded packet must re-encode");
            assert_eq!(once.len(), p.encoded_len(v).expect("len"));
            let mut again = once.clone();
            let q = Decoder::with_max_frame(usize::MAX)
                .decode(&mut again, v)
                .expect("re-encoded packet decodes")
                .expect("complete");
            assert!(again.is_empty());
            let mut twice = BytesMut::new();
            q.encode(v, &mut twice).expect("encode twice");
            assert_eq!(once, twice, "encode/decode not stable at v{v}");
        }
    }
});
