//! Any bytes through the BGP decoder: framing, then message decode in both
//! AS-number widths. Must never panic; errors carry a NOTIFICATION.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_bgp::wire::{self, DecodeContext};

fuzz_target!(|data: &[u8]| {
    let _ = wire::frame_len(data);
    for four_octet_as in [true, false] {
        if let Err(e) = wire::decode(data, DecodeContext { four_octet_as }) {
            // The NOTIFICATION we would send must itself encode.
            let _ = wire::encode_notification(&e.notification);
        }
    }
    let _ = wire::reencode_update(data, DecodeContext { four_octet_as: true });
});
