//! The push-pull framer: never panics, never buffers past the cap, and
//! reads the same frame (or error) from bytes fed at once or one by one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::frame::{Framer, MAX_FRAME};

fuzz_target!(|data: &[u8]| {
    let whole = Framer::default().push(data);
    let mut f = Framer::default();
    let mut bytewise = Ok(None);
    for b in data {
        bytewise = f.push(std::slice::from_ref(b));
        if !matches!(bytewise, Ok(None)) {
            break;
        }
    }
    assert_eq!(whole, bytewise);
    if let Ok(Some(frame)) = whole {
        assert!(frame.len() <= MAX_FRAME);
    }
});
