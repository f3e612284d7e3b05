//! Fuzz the BFD Control packet decoder (RFC 5880 §4, §6.8.6): it must never
//! panic, and whatever it accepts must re-encode to the bytes it came from
//! and verify (or fail verification) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_bfd::{AuthConfig, AuthKind, ControlPacket};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = ControlPacket::decode(data) {
        let encoded = packet.encode();
        if packet.auth.is_some() {
            // With an auth section the Length field covers exactly the
            // encoded bytes.
            assert_eq!(&encoded[..], &data[..encoded.len()]);
        }
        assert_eq!(ControlPacket::decode(&encoded).as_ref(), Ok(&packet));
        if let Ok(cfg) = AuthConfig::new(AuthKind::MeticulousKeyedSha1, 1, b"fuzz") {
            let _ = cfg.verify(&packet);
        }
    }
});
