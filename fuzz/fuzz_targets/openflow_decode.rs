//! The OpenFlow 1.3 decoder never panics, and whatever it accepts encodes
//! again into bytes it accepts, with a stable encoding.
//!
//! `cargo +nightly fuzz run openflow_decode` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_sdn::ofp::{frame_len, Message};

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data);
    if let Ok(msg) = Message::decode(data) {
        let bytes = msg.encode().expect("a decoded message encodes");
        let again = Message::decode(&bytes).expect("an encoded message decodes");
        assert_eq!(again.encode().expect("encodes"), bytes, "encoding is stable");
    }
});
