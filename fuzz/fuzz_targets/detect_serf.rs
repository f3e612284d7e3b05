//! The Serf RPC framing and member parsing: arbitrary agent output never
//! panics the adapter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::serf::{parse_event, parse_header, parse_members, Framer, SerfView};

fuzz_target!(|data: &[u8]| {
    let mut framer = Framer::default();
    framer.push(data);
    let mut view = SerfView::new("b".parse().unwrap());
    while let Ok(Some(v)) = framer.next_value() {
        let _ = parse_header(&v);
        if let Ok(m) = parse_members(&v) {
            let _ = view.resync(&m);
        }
        if let Ok((_, m)) = parse_event(&v) {
            let _ = view.update(&m);
        }
    }
});
