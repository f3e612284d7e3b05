//! The rtnetlink link-message parser of the link watch never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orbit_detect::linkwatch::parse_datagram(data);
});
