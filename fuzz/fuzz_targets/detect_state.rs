//! The state message decoder: never panics; what it accepts re-encodes to
//! something that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::wire::StateMsg;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = StateMsg::decode(data) {
        assert_eq!(StateMsg::decode(&msg.encode()).as_ref(), Ok(&msg));
    }
});
