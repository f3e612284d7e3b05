//! The Serf RPC framing and member parsing: arbitrary agent output never
//! panics the adapter, and the framer reads the same values (and stops at
//! the same error) whether the bytes arrive at once or one by one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::serf::{parse_event, parse_header, parse_members, Framer, SerfView};

fuzz_target!(|data: &[u8]| {
    let mut framer = Framer::default();
    framer.push(data);
    let mut view = SerfView::new("b".parse().unwrap());
    let mut whole = Vec::new();
    let end = loop {
        match framer.next_value() {
            Ok(Some(v)) => {
                let _ = parse_header(&v);
                if let Ok(m) = parse_members(&v) {
                    let _ = view.resync(&m);
                }
                if let Ok((_, m)) = parse_event(&v) {
                    let _ = view.update(&m);
                }
                // Compared as text: a float NaN is not equal to itself.
                whole.push(format!("{v:?}"));
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };

    let mut framer = Framer::default();
    let mut split = Vec::new();
    let mut split_end = None;
    'bytes: for b in data {
        framer.push(std::slice::from_ref(b));
        loop {
            match framer.next_value() {
                Ok(Some(v)) => split.push(format!("{v:?}")),
                Ok(None) => break,
                Err(e) => {
                    split_end = Some(e);
                    break 'bytes;
                }
            }
        }
    }
    assert_eq!((split, split_end), (whole, end), "byte by byte read otherwise");
});
