//! The OVSDB / unixctl JSON-RPC framer (`orbit_sdn::jsonrpc::Framer`) fed
//! arbitrary bytes in arbitrary chunks, as a socket would deliver them: it
//! never panics, yields only JSON objects, holds no more than the message
//! limit, and what it yields (messages, then the error that ends the
//! stream, if any) does not depend on where the bytes were cut.
//!
//! Input: the first byte picks the chunk sizes (a small xorshift), the rest
//! is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_sdn::jsonrpc::{FrameError, Framer, MAX_MESSAGE};

/// Messages, then the error that broke the stream (if one did).
type Outcome = (Vec<String>, Option<FrameError>);

/// Pushes `chunks` one by one, taking every message after each push.
fn read<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut framer = Framer::default();
    let mut messages = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(v)) => {
                    assert!(v.is_object(), "a JSON-RPC message is an object: {v}");
                    messages.push(v.to_string());
                }
                Ok(None) => break,
                Err(e) => return (messages, Some(e)),
            }
        }
        assert!(framer.buffered() <= MAX_MESSAGE, "{}", framer.buffered());
    }
    (messages, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = read(std::iter::once(stream));
    let mut state = u32::from(seed) | 0x100;
    let mut rest = stream;
    let chunks = std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state % 17) as usize + 1;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        Some(chunk)
    });
    assert_eq!(read(chunks), whole, "the cuts changed what was read");
});
