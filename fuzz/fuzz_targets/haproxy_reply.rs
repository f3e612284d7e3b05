//! HAProxy runtime API replies: framing, every reply parser and the map file
//! parser must return an error, never panic, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    orbit_haproxy::fuzz_reply(data);
});
