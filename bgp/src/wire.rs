//! The BGP wire codec, as orbit needs it.
//!
//! Every byte we put on or take off the wire goes through this module, which
//! wraps `rustbgpd-wire` (pinned `=0.27.0` in the workspace: it makes breaking
//! releases often). An upgrade or a swap of the codec touches this file only;
//! the rest of the crate sees [`Inbound`], [`RouteAttrs`], [`Notification`]
//! and plain `Bytes`.
//!
//! What we encode (RFC 4271 §4, RFC 4760, RFC 6793, RFC 1997, RFC 8092,
//! RFC 4724, RFC 2918, RFC 9003): OPEN with our capabilities, UPDATEs that
//! announce / withdraw our own prefixes (packed up to 4096 bytes), End-of-RIB,
//! KEEPALIVE and NOTIFICATION (with a shutdown communication).
//!
//! What we decode: every message a peer may send. UPDATEs are parsed with
//! `parse_revised`, which classifies each bad attribute per RFC 7606; orbit
//! only counts received prefixes (nothing received is re-advertised), so the
//! decoded attributes are kept only for tests and diagnostics.

mod notification;

pub use notification::{code, Notification};

use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rustbgpd_wire as rw;
use rustbgpd_wire::attribute::{
    AsPath, AsPathSegment, LargeCommunity, MpReachNlri, MpUnreachNlri, Origin, PathAttribute,
};
use rustbgpd_wire::validate::ErrorDisposition;
use rustbgpd_wire::{
    Afi, Capability, DecodeError, GracefulRestartFamily, Ipv4Prefix, Ipv6Prefix, Message,
    NlriEntry, NotificationCode, NotificationMessage, OpenMessage, Prefix, Safi, UpdateMessage,
};

/// RFC 4271 §4.1: the largest message without RFC 8654 extended messages,
/// which we do not advertise.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// RFC 4271 §4.1: every message starts with a 19-byte header.
pub const HEADER_LEN: usize = 19;
/// RFC 6793 §9: the 2-octet stand-in for a 4-octet AS in the OPEN's My AS.
pub const AS_TRANS: u16 = 23456;
/// RFC 8326: GRACEFUL_SHUTDOWN well-known community 65535:0.
pub const GRACEFUL_SHUTDOWN: u32 = 0xFFFF_0000;

/// An address family orbit announces (unicast SAFI only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(prefix: &IpNet) -> Family {
        match prefix {
            IpNet::V4(_) => Family::Ipv4,
            IpNet::V6(_) => Family::Ipv6,
        }
    }

    fn afi(self) -> Afi {
        match self {
            Family::Ipv4 => Afi::Ipv4,
            Family::Ipv6 => Afi::Ipv6,
        }
    }

    fn from_afi(afi: Afi) -> Option<Family> {
        match afi {
            Afi::Ipv4 => Some(Family::Ipv4),
            Afi::Ipv6 => Some(Family::Ipv6),
            _ => None,
        }
    }
}

/// A codec problem: the NOTIFICATION to send (RFC 4271 §6) and a
/// human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail} (NOTIFICATION {code}/{subcode})", code = notification.code, subcode = notification.subcode)]
pub struct WireError {
    pub notification: Notification,
    pub detail: String,
}

impl WireError {
    fn from_decode(e: &DecodeError) -> WireError {
        let (code, subcode, data) = e.to_notification();
        WireError {
            notification: Notification {
                code: code.as_u8(),
                subcode,
                data,
            },
            detail: e.to_string(),
        }
    }

    fn encode(what: &str, e: &rw::EncodeError) -> WireError {
        WireError {
            // Never sent: an encode failure is our bug, reported to the caller.
            notification: Notification::new(6, 0, Bytes::new()),
            detail: format!("cannot encode {what}: {e}"),
        }
    }
}

/// What we put in our OPEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenParams {
    pub asn: u32,
    pub hold_secs: u16,
    pub router_id: Ipv4Addr,
    pub families: Vec<Family>,
    /// RFC 4724 graceful restart: `Some(restart_time)` to advertise it.
    pub graceful_restart: Option<GracefulRestartParams>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulRestartParams {
    /// Seconds the peer should keep our routes after we went away (12 bits).
    pub restart_time: u16,
    /// R-bit: we restarted (set on the first session after process start).
    pub restarting: bool,
}

/// What the peer said in its OPEN, after capability decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOpen {
    /// The real AS (the 4-octet capability if present, RFC 6793 §4.1).
    pub asn: u32,
    pub hold_secs: u16,
    pub router_id: Ipv4Addr,
    /// Unicast families from the MP capabilities; IPv4 when the peer sent
    /// none (RFC 4760 §8).
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    pub route_refresh: bool,
    /// RFC 4724: the peer supports graceful restart (restart time, R-bit).
    pub graceful_restart: Option<GracefulRestartParams>,
}

/// The attributes of one of our announcements.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteAttrs {
    /// AS_SEQUENCE, leftmost first (our AS, repeated for prepends).
    pub as_path: Vec<u32>,
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    /// RFC 1997 communities, `asn << 16 | value`.
    pub communities: Vec<u32>,
    /// RFC 8092 large communities.
    pub large_communities: Vec<[u32; 3]>,
}

/// A decoded message from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Open(PeerOpen),
    Update(InboundUpdate),
    Keepalive,
    Notification(Notification),
    RouteRefresh,
}

/// A received UPDATE, reduced to what orbit acts on: which prefixes it
/// touches. orbit never installs or re-advertises received routes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundUpdate {
    pub announced: Vec<IpNet>,
    pub withdrawn: Vec<IpNet>,
    /// RFC 4724 §2: an End-of-RIB marker for this family.
    pub end_of_rib: Option<Family>,
    /// RFC 7606 §2: a malformed attribute made this UPDATE a withdraw of
    /// everything it announced (already folded into `withdrawn`).
    pub treated_as_withdraw: bool,
    /// RFC 7606 attribute-discard: attributes dropped, UPDATE kept.
    pub discarded_attributes: usize,
    /// The decoded attributes, in wire order (for diagnostics and tests).
    pub attributes: Vec<PathAttribute>,
}

/// The context a message is decoded in (negotiated on the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeContext {
    pub four_octet_as: bool,
}

/// RFC 4271 §4.1: how long the message at the start of `buf` is, once its
/// header is complete; an error for a bad marker, length or type.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    match rw::peek_message_length(buf, MAX_MESSAGE_LEN as u16) {
        Ok(len) => Ok(len.map(usize::from)),
        Err(e) => Err(WireError::from_decode(&e)),
    }
}

/// Decodes one complete message (header included).
pub fn decode(frame: &[u8], ctx: DecodeContext) -> Result<Inbound, WireError> {
    let mut buf = Bytes::copy_from_slice(frame);
    let msg = rw::decode_message(&mut buf, MAX_MESSAGE_LEN as u16)
        .map_err(|e| WireError::from_decode(&e))?;
    Ok(match msg {
        Message::Open(o) => Inbound::Open(peer_open(&o)),
        Message::Update(u) => Inbound::Update(decode_update(&u, ctx)?),
        Message::Keepalive => Inbound::Keepalive,
        Message::Notification(n) => Inbound::Notification(Notification {
            code: n.code.as_u8(),
            subcode: n.subcode,
            data: n.data,
        }),
        Message::RouteRefresh(_) => Inbound::RouteRefresh,
        // The enum is non-exhaustive; a type we cannot name is a bad type.
        #[allow(unreachable_patterns)]
        _ => {
            return Err(WireError {
                notification: Notification::new(code::MESSAGE_HEADER, 3, Bytes::new()),
                detail: "unsupported message type".into(),
            })
        }
    })
}

fn peer_open(o: &OpenMessage) -> PeerOpen {
    let mut families = Vec::new();
    let mut four_octet_as = false;
    let mut route_refresh = false;
    let mut graceful_restart = None;
    for cap in &o.capabilities {
        match cap {
            Capability::MultiProtocol {
                afi,
                safi: Safi::Unicast,
            } => {
                if let Some(f) = Family::from_afi(*afi) {
                    if !families.contains(&f) {
                        families.push(f);
                    }
                }
            }
            Capability::FourOctetAs { .. } => four_octet_as = true,
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => route_refresh = true,
            Capability::GracefulRestart {
                restart_state,
                restart_time,
                ..
            } => {
                graceful_restart = Some(GracefulRestartParams {
                    restart_time: *restart_time,
                    restarting: *restart_state,
                })
            }
            _ => {}
        }
    }
    let has_mp = o
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::MultiProtocol { .. }));
    if !has_mp {
        // RFC 4760 §8: a peer without MP capabilities speaks IPv4 unicast.
        families.push(Family::Ipv4);
    }
    PeerOpen {
        asn: o.four_byte_as(),
        hold_secs: o.hold_time,
        router_id: o.bgp_identifier,
        families,
        four_octet_as,
        route_refresh,
        graceful_restart,
    }
}

fn decode_update(u: &UpdateMessage, ctx: DecodeContext) -> Result<InboundUpdate, WireError> {
    if u.withdrawn_routes.is_empty() && u.path_attributes.is_empty() && u.nlri.is_empty() {
        // RFC 4724 §2: the IPv4 unicast End-of-RIB is an empty UPDATE.
        return Ok(InboundUpdate {
            end_of_rib: Some(Family::Ipv4),
            ..InboundUpdate::default()
        });
    }
    let parsed = u
        .parse_revised(ctx.four_octet_as, false, false, &[])
        .map_err(|e| WireError::from_decode(&e))?;
    let mut out = InboundUpdate::default();
    // RFC 7606 §3 (h): the strongest disposition wins.
    let worst = parsed.malformed.iter().map(|m| m.disposition).max();
    if worst == Some(ErrorDisposition::SessionReset) {
        let first = parsed
            .malformed
            .iter()
            .find(|m| m.disposition == ErrorDisposition::SessionReset);
        if let Some(m) = first {
            return Err(WireError::from_decode(&m.error));
        }
    }
    out.discarded_attributes = parsed
        .malformed
        .iter()
        .filter(|m| m.disposition == ErrorDisposition::AttributeDiscard)
        .count();
    let update = parsed.update;
    out.withdrawn
        .extend(update.withdrawn.iter().map(|e| v4net(e.prefix)));
    out.announced
        .extend(update.announced.iter().map(|e| v4net(e.prefix)));
    for attr in &update.attributes {
        match attr {
            PathAttribute::MpReachNlri(mp) if mp.safi == Safi::Unicast => {
                out.announced
                    .extend(mp.announced.iter().filter_map(|e| ipnet_of(&e.prefix)));
            }
            PathAttribute::MpUnreachNlri(mp) if mp.safi == Safi::Unicast => {
                out.withdrawn
                    .extend(mp.withdrawn.iter().filter_map(|e| ipnet_of(&e.prefix)));
                if mp.withdrawn.is_empty() && update.attributes.len() == 1 {
                    // RFC 4724 §2: an MP_UNREACH with no NLRI, alone, is
                    // the End-of-RIB of its family.
                    out.end_of_rib = Family::from_afi(mp.afi);
                }
            }
            _ => {}
        }
    }
    if worst == Some(ErrorDisposition::TreatAsWithdraw) {
        // RFC 7606 §2: treat-as-withdraw.
        out.treated_as_withdraw = true;
        let announced = std::mem::take(&mut out.announced);
        out.withdrawn.extend(announced);
    }
    out.attributes = update.attributes;
    Ok(out)
}

fn v4net(p: Ipv4Prefix) -> IpNet {
    // The decoder validated len <= 32; fall back to a host route otherwise.
    IpNet::V4(Ipv4Net::new(p.addr, p.len).unwrap_or_else(|_| Ipv4Net::from(p.addr)))
}

fn ipnet_of(p: &Prefix) -> Option<IpNet> {
    match p {
        Prefix::V4(p) => Some(v4net(*p)),
        Prefix::V6(p) => Ipv6Net::new(p.addr, p.len).ok().map(IpNet::V6),
    }
}

/// Our OPEN (RFC 4271 §4.2) with capabilities (RFC 5492): multiprotocol
/// unicast per family (RFC 4760), route refresh (RFC 2918), 4-octet AS
/// (RFC 6793) and graceful restart (RFC 4724).
pub fn encode_open(p: &OpenParams) -> Result<Bytes, WireError> {
    let mut caps: Vec<Capability> = p
        .families
        .iter()
        .map(|f| Capability::MultiProtocol {
            afi: f.afi(),
            safi: Safi::Unicast,
        })
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::FourOctetAs { asn: p.asn });
    if let Some(gr) = p.graceful_restart {
        caps.push(Capability::GracefulRestart {
            restart_state: gr.restarting,
            notification: false,
            restart_time: gr.restart_time.min(4095),
            // We do not keep forwarding state (we are not in the forwarding
            // path), but listing the families tells the peer which routes
            // to retain as stale (RFC 4724 §3, §4.2).
            families: p
                .families
                .iter()
                .map(|f| GracefulRestartFamily {
                    afi: f.afi(),
                    safi: Safi::Unicast,
                    forwarding_preserved: true,
                })
                .collect(),
        });
    }
    let my_as = u16::try_from(p.asn).unwrap_or(AS_TRANS);
    let open = OpenMessage {
        version: 4,
        my_as,
        hold_time: p.hold_secs,
        bgp_identifier: p.router_id,
        capabilities: caps,
    };
    encode_msg("OPEN", &Message::Open(open))
}

pub fn encode_keepalive() -> Bytes {
    // RFC 4271 §4.4: a header alone.
    let mut b = vec![0xFF; 16];
    b.extend_from_slice(&[0, 19, 4]);
    Bytes::from(b)
}

pub fn encode_notification(n: &Notification) -> Bytes {
    let msg =
        NotificationMessage::new(NotificationCode::from_u8(n.code), n.subcode, n.data.clone());
    let mut data = n.data.clone();
    match encode_msg("NOTIFICATION", &Message::Notification(msg)) {
        Ok(b) => b,
        Err(_) => {
            // Too much data: RFC 4271 §4.5 bounds the message, not the data;
            // truncate rather than fail to say goodbye.
            data.truncate(MAX_MESSAGE_LEN - HEADER_LEN - 2);
            let msg = NotificationMessage::new(NotificationCode::from_u8(n.code), n.subcode, data);
            encode_msg("NOTIFICATION", &Message::Notification(msg)).unwrap_or_default()
        }
    }
}

fn encode_msg(what: &str, m: &Message) -> Result<Bytes, WireError> {
    rw::encode_message(m)
        .map(|b| b.freeze())
        .map_err(|e| WireError::encode(what, &e))
}

/// RFC 4724 §2: End-of-RIB for a family.
pub fn encode_end_of_rib(family: Family) -> Result<Bytes, WireError> {
    let update = match family {
        Family::Ipv4 => UpdateMessage {
            withdrawn_routes: Bytes::new(),
            path_attributes: Bytes::new(),
            nlri: Bytes::new(),
        },
        Family::Ipv6 => {
            let mut attrs = Vec::new();
            rw::attribute::encode_path_attributes(
                &[unreach(Afi::Ipv6, Vec::new())],
                &mut attrs,
                true,
                false,
            )
            .map_err(|e| WireError::encode("End-of-RIB", &e))?;
            UpdateMessage {
                withdrawn_routes: Bytes::new(),
                path_attributes: Bytes::from(attrs),
                nlri: Bytes::new(),
            }
        }
    };
    encode_msg("End-of-RIB", &Message::Update(update))
}

fn unreach(afi: Afi, withdrawn: Vec<NlriEntry>) -> PathAttribute {
    PathAttribute::MpUnreachNlri(Box::new(MpUnreachNlri {
        afi,
        safi: Safi::Unicast,
        withdrawn,
        flowspec_withdrawn: Vec::new(),
        evpn_withdrawn: Vec::new(),
        bgpls_withdrawn: Vec::new(),
        vpn_withdrawn: Vec::new(),
        labeled_withdrawn: Vec::new(),
        rtc_withdrawn: Vec::new(),
    }))
}

fn reach(afi: Afi, next_hop: IpAddr, announced: Vec<NlriEntry>) -> PathAttribute {
    PathAttribute::MpReachNlri(Box::new(MpReachNlri {
        afi,
        safi: Safi::Unicast,
        next_hop,
        link_local_next_hop: None,
        announced,
        flowspec_announced: Vec::new(),
        evpn_announced: Vec::new(),
        bgpls_announced: Vec::new(),
        vpn_announced: Vec::new(),
        labeled_announced: Vec::new(),
        rtc_announced: Vec::new(),
    }))
}

/// Bytes one prefix takes in NLRI encoding (RFC 4271 §4.3): length octet
/// plus the significant octets.
fn nlri_len(p: &IpNet) -> usize {
    1 + usize::from(p.prefix_len()).div_ceil(8)
}

fn entry(p: &IpNet) -> NlriEntry {
    let prefix = match p {
        IpNet::V4(n) => Prefix::V4(Ipv4Prefix::new(n.network(), n.prefix_len())),
        IpNet::V6(n) => Prefix::V6(Ipv6Prefix::new(n.network(), n.prefix_len())),
    };
    NlriEntry { path_id: 0, prefix }
}

fn v4_prefixes(ps: &[IpNet]) -> Vec<Ipv4Prefix> {
    ps.iter()
        .filter_map(|p| match p {
            IpNet::V4(n) => Some(Ipv4Prefix::new(n.network(), n.prefix_len())),
            IpNet::V6(_) => None,
        })
        .collect()
}

/// Splits `prefixes` into chunks whose NLRI fit in `room` bytes each.
fn chunks(prefixes: &[IpNet], room: usize) -> Vec<&[IpNet]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, p) in prefixes.iter().enumerate() {
        let l = nlri_len(p);
        if used + l > room && i > start {
            out.push(&prefixes[start..i]);
            start = i;
            used = 0;
        }
        used += l;
    }
    if start < prefixes.len() {
        out.push(&prefixes[start..]);
    }
    out
}

/// RFC 4271 §4.3 fixed UPDATE overhead: header, two length fields.
const UPDATE_OVERHEAD: usize = HEADER_LEN + 4;
/// MP_REACH / MP_UNREACH framing: extended-length attribute header (4),
/// AFI/SAFI (3), next-hop length and next hop (up to 1 + 32), reserved (1).
const MP_OVERHEAD: usize = 4 + 3 + 33 + 1;

/// UPDATEs announcing `prefixes` (all of one family) with `attrs`, packed
/// into as few messages as fit in 4096 bytes. IPv4 goes in the body NLRI
/// with NEXT_HOP (an IPv4 next hop is required); IPv6 goes in MP_REACH_NLRI
/// (RFC 4760 §3) whatever the session's transport, with an IPv6 next hop
/// (an IPv4 or IPv4-mapped one is an error: routers refuse it).
pub fn encode_announce(
    attrs: &RouteAttrs,
    family: Family,
    prefixes: &[IpNet],
    four_octet_as: bool,
) -> Result<Vec<Bytes>, WireError> {
    let mut base: Vec<PathAttribute> = vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath {
            segments: if attrs.as_path.is_empty() {
                Vec::new()
            } else {
                // RFC 4271 §4.3: at most 255 ASes per segment.
                attrs
                    .as_path
                    .chunks(255)
                    .map(|c| AsPathSegment::AsSequence(c.to_vec()))
                    .collect()
            },
        }),
    ];
    if family == Family::Ipv4 {
        let IpAddr::V4(nh) = attrs.next_hop else {
            return Err(WireError {
                notification: Notification::new(code::CEASE, 0, Bytes::new()),
                detail: format!(
                    "IPv4 prefixes need an IPv4 next hop, got {} (set bgp.next_hop_v4)",
                    attrs.next_hop
                ),
            });
        };
        base.push(PathAttribute::NextHop(nh));
    }
    if let Some(med) = attrs.med {
        base.push(PathAttribute::Med(med));
    }
    if !attrs.communities.is_empty() {
        base.push(PathAttribute::Communities(attrs.communities.clone()));
    }
    if !attrs.large_communities.is_empty() {
        base.push(PathAttribute::LargeCommunities(
            attrs
                .large_communities
                .iter()
                .map(|c| LargeCommunity::new(c[0], c[1], c[2]))
                .collect(),
        ));
    }
    let mut base_bytes = Vec::new();
    rw::attribute::encode_path_attributes(&base, &mut base_bytes, four_octet_as, false)
        .map_err(|e| WireError::encode("path attributes", &e))?;
    let mut out = Vec::new();
    match family {
        Family::Ipv4 => {
            let room = MAX_MESSAGE_LEN
                .checked_sub(UPDATE_OVERHEAD + base_bytes.len())
                .ok_or_else(|| too_long(base_bytes.len()))?;
            let attrs_bytes = Bytes::from(base_bytes);
            for chunk in chunks(prefixes, room) {
                let mut nlri = Vec::new();
                rw::nlri::encode_nlri(&v4_prefixes(chunk), &mut nlri);
                out.push(encode_msg(
                    "UPDATE",
                    &Message::Update(UpdateMessage {
                        withdrawn_routes: Bytes::new(),
                        path_attributes: attrs_bytes.clone(),
                        nlri: Bytes::from(nlri),
                    }),
                )?);
            }
        }
        Family::Ipv6 => {
            // An IPv4(-mapped) next hop for IPv6 NLRI is refused by
            // routers (bird2: "mismatched address family"); RFC 8950 goes
            // the other way round.
            let nh = match attrs.next_hop {
                IpAddr::V6(a) if a.to_ipv4_mapped().is_none() => a,
                other => {
                    return Err(WireError {
                        notification: Notification::new(code::CEASE, 0, Bytes::new()),
                        detail: format!(
                            "IPv6 prefixes need an IPv6 next hop, got {other} (set bgp.next_hop_v6)"
                        ),
                    })
                }
            };
            let room = MAX_MESSAGE_LEN
                .checked_sub(UPDATE_OVERHEAD + base_bytes.len() + MP_OVERHEAD)
                .ok_or_else(|| too_long(base_bytes.len()))?;
            for chunk in chunks(prefixes, room) {
                let mut attrs = base.clone();
                attrs.push(reach(
                    Afi::Ipv6,
                    IpAddr::V6(nh),
                    chunk.iter().map(entry).collect(),
                ));
                // Attributes in type-code order (RFC 4271 §5 recommends it):
                // MP_REACH (14) goes before LARGE_COMMUNITIES (32).
                attrs.sort_by_key(PathAttribute::type_code);
                let mut bytes = Vec::new();
                rw::attribute::encode_path_attributes(&attrs, &mut bytes, four_octet_as, false)
                    .map_err(|e| WireError::encode("MP_REACH_NLRI", &e))?;
                out.push(encode_msg(
                    "UPDATE",
                    &Message::Update(UpdateMessage {
                        withdrawn_routes: Bytes::new(),
                        path_attributes: Bytes::from(bytes),
                        nlri: Bytes::new(),
                    }),
                )?);
            }
        }
    }
    Ok(out)
}

fn too_long(n: usize) -> WireError {
    WireError {
        notification: Notification::new(code::CEASE, 0, Bytes::new()),
        detail: format!("path attributes of {n} bytes leave no room for NLRI"),
    }
}

/// UPDATEs withdrawing `prefixes` of one family: body withdrawn routes for
/// IPv4, MP_UNREACH_NLRI for IPv6 (RFC 4760 §4).
pub fn encode_withdraw(family: Family, prefixes: &[IpNet]) -> Result<Vec<Bytes>, WireError> {
    let mut out = Vec::new();
    match family {
        Family::Ipv4 => {
            for chunk in chunks(prefixes, MAX_MESSAGE_LEN - UPDATE_OVERHEAD) {
                let mut w = Vec::new();
                rw::nlri::encode_nlri(&v4_prefixes(chunk), &mut w);
                out.push(encode_msg(
                    "UPDATE",
                    &Message::Update(UpdateMessage {
                        withdrawn_routes: Bytes::from(w),
                        path_attributes: Bytes::new(),
                        nlri: Bytes::new(),
                    }),
                )?);
            }
        }
        Family::Ipv6 => {
            for chunk in chunks(prefixes, MAX_MESSAGE_LEN - UPDATE_OVERHEAD - MP_OVERHEAD) {
                let mut bytes = Vec::new();
                rw::attribute::encode_path_attributes(
                    &[unreach(Afi::Ipv6, chunk.iter().map(entry).collect())],
                    &mut bytes,
                    true,
                    false,
                )
                .map_err(|e| WireError::encode("MP_UNREACH_NLRI", &e))?;
                out.push(encode_msg(
                    "UPDATE",
                    &Message::Update(UpdateMessage {
                        withdrawn_routes: Bytes::new(),
                        path_attributes: Bytes::from(bytes),
                        nlri: Bytes::new(),
                    }),
                )?);
            }
        }
    }
    Ok(out)
}

/// Re-encodes a decoded UPDATE from its decoded parts (test vectors: what
/// BIRD / GoBGP sent must come back byte for byte).
pub fn reencode_update(frame: &[u8], ctx: DecodeContext) -> Result<Bytes, WireError> {
    let mut buf = Bytes::copy_from_slice(frame);
    let Message::Update(u) = rw::decode_message(&mut buf, MAX_MESSAGE_LEN as u16)
        .map_err(|e| WireError::from_decode(&e))?
    else {
        return Err(WireError {
            notification: Notification::new(code::MESSAGE_HEADER, 3, Bytes::new()),
            detail: "not an UPDATE".into(),
        });
    };
    let parsed = u
        .parse(ctx.four_octet_as, false, &[])
        .map_err(|e| WireError::from_decode(&e))?;
    let mut attrs = Vec::new();
    rw::attribute::encode_path_attributes(&parsed.attributes, &mut attrs, ctx.four_octet_as, false)
        .map_err(|e| WireError::encode("path attributes", &e))?;
    let mut nlri = Vec::new();
    let ann: Vec<Ipv4Prefix> = parsed.announced.iter().map(|e| e.prefix).collect();
    rw::nlri::encode_nlri(&ann, &mut nlri);
    let mut wd = Vec::new();
    let w: Vec<Ipv4Prefix> = parsed.withdrawn.iter().map(|e| e.prefix).collect();
    rw::nlri::encode_nlri(&w, &mut wd);
    encode_msg(
        "UPDATE",
        &Message::Update(UpdateMessage {
            withdrawn_routes: Bytes::from(wd),
            path_attributes: Bytes::from(attrs),
            nlri: Bytes::from(nlri),
        }),
    )
}

/// Re-encodes a decoded OPEN from its decoded parts.
pub fn reencode_open(frame: &[u8]) -> Result<Bytes, WireError> {
    let mut buf = Bytes::copy_from_slice(frame);
    let msg = rw::decode_message(&mut buf, MAX_MESSAGE_LEN as u16)
        .map_err(|e| WireError::from_decode(&e))?;
    encode_msg("message", &msg)
}

#[cfg(test)]
mod tests;
