//! Codec test vectors: the bytes bird2 2.0.12 and gobgpd 3.10 put on the
//! wire (captured with `cargo run -p orbit-bgp --example capture_vectors`,
//! kept in `tests/vectors/`). Every one must decode; decoding then
//! re-encoding must give the same bytes back.

use std::path::Path;

use ipnet::IpNet;
use orbit_bgp::wire::{self, DecodeContext, Family, Inbound};
use rustbgpd_wire::attribute::{AsPathSegment, PathAttribute};

const CTX: DecodeContext = DecodeContext {
    four_octet_as: true,
};

fn vectors() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .map(|e| {
            let p = e.expect("entry").path();
            let text = std::fs::read_to_string(&p).expect("read vector");
            let text = text.trim();
            let bytes = (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
                .collect();
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "vectors missing: {}", out.len());
    out
}

/// The UPDATE from `peer` ("bird" / "gobgp") that announces `prefix`.
fn update_for(peer: &str, prefix: &str) -> (Vec<u8>, wire::InboundUpdate) {
    let p: IpNet = prefix.parse().expect("net");
    vectors()
        .into_iter()
        .filter(|(n, _)| n.starts_with(peer))
        .find_map(|(_, b)| match wire::decode(&b, CTX) {
            Ok(Inbound::Update(u)) if u.announced.contains(&p) => Some((b, u)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {peer} UPDATE for {prefix}"))
}

/// The same message with every path attribute in its shortest form: the
/// Extended Length bit (RFC 4271 §4.3, flag 0x10) is the sender's choice
/// for lengths under 256 (bird sets it on MP_REACH_NLRI; the codec does not).
fn canonical(msg: &[u8]) -> Vec<u8> {
    if msg.len() < 23 || msg[18] != 2 {
        return msg.to_vec();
    }
    let wlen = usize::from(u16::from_be_bytes([msg[19], msg[20]]));
    let a0 = 21 + wlen + 2;
    let alen = usize::from(u16::from_be_bytes([msg[a0 - 2], msg[a0 - 1]]));
    let mut attrs = Vec::new();
    let mut i = a0;
    while i < a0 + alen {
        let (flags, ty) = (msg[i], msg[i + 1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([msg[i + 2], msg[i + 3]])), 4)
        } else {
            (usize::from(msg[i + 2]), 3)
        };
        let val = &msg[i + hdr..i + hdr + len];
        if len < 256 {
            attrs.extend_from_slice(&[flags & !0x10, ty, len as u8]);
        } else {
            attrs.extend_from_slice(&[flags | 0x10, ty]);
            attrs.extend_from_slice(&(len as u16).to_be_bytes());
        }
        attrs.extend_from_slice(val);
        i += hdr + len;
    }
    let mut out = msg[..a0 - 2].to_vec();
    out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&attrs);
    out.extend_from_slice(&msg[a0 + alen..]);
    let total = out.len() as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    out
}

fn get(name: &str) -> Inbound {
    let (_, bytes) = vectors()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    wire::decode(&bytes, CTX).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_vector_decodes_and_re_encodes_to_the_same_bytes() {
    for (name, bytes) in vectors() {
        assert_eq!(wire::frame_len(&bytes), Ok(Some(bytes.len())), "{name}");
        let msg = wire::decode(&bytes, CTX).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = match msg {
            Inbound::Update(_) => wire::reencode_update(&bytes, CTX),
            _ => wire::reencode_open(&bytes),
        }
        .unwrap_or_else(|e| panic!("{name}: re-encode: {e}"));
        assert_eq!(
            again.as_ref(),
            canonical(&bytes).as_slice(),
            "{name}: re-encoded bytes differ"
        );
    }
}

#[test]
fn bird_open_capabilities() {
    let Inbound::Open(o) = get("bird-00-open.hex") else {
        panic!("not an OPEN")
    };
    assert_eq!(o.asn, 65002);
    assert_eq!(o.hold_secs, 240);
    assert_eq!(o.families, vec![Family::Ipv4, Family::Ipv6]);
    assert!(o.four_octet_as && o.route_refresh);
    assert!(o.graceful_restart.is_some());
}

#[test]
fn gobgp_open_capabilities() {
    let Inbound::Open(o) = get("gobgp-00-open.hex") else {
        panic!("not an OPEN")
    };
    assert_eq!(o.asn, 65003);
    assert_eq!(o.hold_secs, 90);
    assert_eq!(o.families, vec![Family::Ipv4, Family::Ipv6]);
    assert!(o.four_octet_as && o.route_refresh);
}

fn check_marked_update(name: &str, path: &[u32]) {
    let (_, u) = update_for(name, "198.51.100.0/24");
    let mut seen = 0;
    for a in &u.attributes {
        match a {
            PathAttribute::AsPath(ap) => {
                assert_eq!(ap.segments, vec![AsPathSegment::AsSequence(path.to_vec())]);
                seen += 1;
            }
            PathAttribute::Med(m) => {
                assert_eq!(*m, 42);
                seen += 1;
            }
            PathAttribute::Communities(c) => {
                assert!(c.contains(&wire::GRACEFUL_SHUTDOWN), "{name}: {c:x?}");
                assert!(c.contains(&((64500 << 16) | 7)));
                seen += 1;
            }
            PathAttribute::LargeCommunities(l) => {
                assert_eq!(l.len(), 1);
                assert_eq!(l[0].global_admin, 64500);
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 4, "{name}: attributes missing");
}

#[test]
fn bird_update_attributes() {
    check_marked_update("bird", &[65002, 65002]);
    let (raw, _) = update_for("bird", "2001:db8::10/128");
    // bird sends MP_REACH_NLRI with the Extended Length bit set.
    assert_ne!(canonical(&raw), raw);
    let Inbound::Update(e) = get("bird-03-eor.hex") else {
        panic!()
    };
    assert_eq!(e.end_of_rib, Some(Family::Ipv4));
    let Inbound::Update(e) = get("bird-05-eor.hex") else {
        panic!()
    };
    assert_eq!(e.end_of_rib, Some(Family::Ipv6));
}

#[test]
fn gobgp_update_attributes() {
    check_marked_update("gobgp", &[65003, 65003, 65003]);
    update_for("gobgp", "2001:db8::10/128");
}

/// Our own encoder produces what bird accepts; here we check it against the
/// layout gobgpd uses for the same route (ORIGIN, AS_PATH, NEXT_HOP, NLRI).
#[test]
fn our_plain_update_matches_gobgp_layout() {
    let (theirs, u) = update_for("gobgp", "203.0.113.1/32");
    let nh = u
        .attributes
        .iter()
        .find_map(|a| match a {
            PathAttribute::NextHop(n) => Some(*n),
            _ => None,
        })
        .expect("next hop");
    let attrs = wire::RouteAttrs {
        as_path: vec![65003],
        next_hop: nh.into(),
        med: None,
        communities: vec![],
        large_communities: vec![],
    };
    let ours = wire::encode_announce(&attrs, Family::Ipv4, &u.announced, true).expect("encode");
    // Same attributes, same order, same flags: byte for byte.
    assert_eq!(ours[0].as_ref(), theirs.as_slice());
}
