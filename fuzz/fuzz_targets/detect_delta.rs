//! The v2 state decoders (delta, digest, push-pull side): never panic;
//! what they accept re-encodes to something that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::wire_v2::{DeltaMsg, DigestMsg, PushPullMsg};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(msg) = DeltaMsg::decode(body) {
                assert_eq!(DeltaMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
            }
        }
        1 => {
            if let Ok(msg) = DigestMsg::decode(body) {
                assert_eq!(DigestMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
            }
        }
        _ => {
            if let Ok(msg) = PushPullMsg::decode(body) {
                assert_eq!(PushPullMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
            }
        }
    }
});
