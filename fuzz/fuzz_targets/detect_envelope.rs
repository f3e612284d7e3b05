//! The gossip envelope: opening arbitrary bytes never panics, and nothing
//! without the right tag is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orbit_detect::auth::{AuthKey, PacketKind};
use orbit_detect::wire::StateMsg;

fuzz_target!(|data: &[u8]| {
    let key = AuthKey::new(b"fuzzing key, sixteen+ bytes".to_vec());
    if let Ok((kind, body)) = key.open(data) {
        // Only reachable if the input carries a valid tag.
        assert_eq!(key.seal(kind, body), data);
        if kind == PacketKind::State {
            let _ = StateMsg::decode(body);
        }
    }
});
