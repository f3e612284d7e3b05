//! OXM TLVs and the `ofp_match` structure (OpenFlow 1.3.5 §7.2.2, §7.2.3).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::wire::{pad_to_8, patch_len, put_u16, Reader};
use super::{DecodeError, EncodeError};

/// `OFPXMC_OPENFLOW_BASIC`.
pub const OXM_CLASS_BASIC: u16 = 0x8000;
/// `OFPMT_OXM`: the only match type OpenFlow 1.3 defines.
const OFPMT_OXM: u16 = 1;

pub const ETH_TYPE_IPV4: u16 = 0x0800;
pub const ETH_TYPE_ARP: u16 = 0x0806;
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
/// ARP opcode of a request (RFC 826).
pub const ARP_OP_REQUEST: u16 = 1;
pub const IP_PROTO_ICMPV6: u8 = 58;
/// ICMPv6 Neighbor Solicitation (RFC 4861 §4.3).
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;

// OXM field numbers in the basic class (§7.2.3.7).
const F_IN_PORT: u8 = 0;
const F_ETH_DST: u8 = 3;
const F_ETH_SRC: u8 = 4;
const F_ETH_TYPE: u8 = 5;
const F_IP_PROTO: u8 = 10;
const F_IPV4_SRC: u8 = 11;
const F_IPV4_DST: u8 = 12;
const F_ARP_OP: u8 = 21;
const F_ARP_TPA: u8 = 23;
const F_IPV6_DST: u8 = 27;
const F_ICMPV6_TYPE: u8 = 29;
const F_IPV6_ND_TARGET: u8 = 31;

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts
                .next()
                .ok_or_else(|| format!("{s:?} is not a MAC address"))?;
            if p.len() != 2 {
                return Err(format!("{s:?} is not a MAC address"));
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?} is not a MAC address"));
        }
        Ok(Mac(out))
    }
}

/// One match field or set-field value. Fields orbit does not use are kept
/// raw so a flow read back from the switch still round-trips.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oxm {
    InPort(u32),
    EthDst(Mac),
    EthSrc(Mac),
    EthType(u16),
    IpProto(u8),
    Ipv4Src(Ipv4Addr, Option<Ipv4Addr>),
    Ipv4Dst(Ipv4Addr, Option<Ipv4Addr>),
    ArpOp(u16),
    ArpTpa(Ipv4Addr, Option<Ipv4Addr>),
    Ipv6Dst(Ipv6Addr, Option<Ipv6Addr>),
    Icmpv6Type(u8),
    Ipv6NdTarget(Ipv6Addr),
    Other {
        class: u16,
        field: u8,
        has_mask: bool,
        value: Vec<u8>,
    },
}

impl Oxm {
    /// The (class, field) pair, used to order fields canonically.
    pub fn key(&self) -> (u16, u8) {
        match self {
            Oxm::Other { class, field, .. } => (*class, *field),
            _ => (OXM_CLASS_BASIC, self.basic_field()),
        }
    }

    fn basic_field(&self) -> u8 {
        match self {
            Oxm::InPort(_) => F_IN_PORT,
            Oxm::EthDst(_) => F_ETH_DST,
            Oxm::EthSrc(_) => F_ETH_SRC,
            Oxm::EthType(_) => F_ETH_TYPE,
            Oxm::IpProto(_) => F_IP_PROTO,
            Oxm::Ipv4Src(..) => F_IPV4_SRC,
            Oxm::Ipv4Dst(..) => F_IPV4_DST,
            Oxm::ArpOp(_) => F_ARP_OP,
            Oxm::ArpTpa(..) => F_ARP_TPA,
            Oxm::Ipv6Dst(..) => F_IPV6_DST,
            Oxm::Icmpv6Type(_) => F_ICMPV6_TYPE,
            Oxm::Ipv6NdTarget(_) => F_IPV6_ND_TARGET,
            Oxm::Other { field, .. } => *field,
        }
    }

    /// Appends the TLV (4-byte header, value, optional mask).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (class, field) = self.key();
        let mut value = Vec::with_capacity(32);
        let mut has_mask = false;
        match self {
            Oxm::InPort(p) => value.extend_from_slice(&p.to_be_bytes()),
            Oxm::EthDst(m) | Oxm::EthSrc(m) => value.extend_from_slice(&m.0),
            Oxm::EthType(t) | Oxm::ArpOp(t) => value.extend_from_slice(&t.to_be_bytes()),
            Oxm::IpProto(p) | Oxm::Icmpv6Type(p) => value.push(*p),
            Oxm::Ipv4Src(a, m) | Oxm::Ipv4Dst(a, m) | Oxm::ArpTpa(a, m) => {
                // A masked value must have its wildcarded bits clear, or OVS
                // answers OFPBMC_BAD_WILDCARDS (§7.2.3.5).
                let a = m.map_or(*a, |m| *a & m);
                value.extend_from_slice(&a.octets());
                if let Some(m) = m {
                    has_mask = true;
                    value.extend_from_slice(&m.octets());
                }
            }
            Oxm::Ipv6Dst(a, m) => {
                let a = m.map_or(*a, |m| *a & m);
                value.extend_from_slice(&a.octets());
                if let Some(m) = m {
                    has_mask = true;
                    value.extend_from_slice(&m.octets());
                }
            }
            Oxm::Ipv6NdTarget(a) => value.extend_from_slice(&a.octets()),
            Oxm::Other {
                has_mask: hm,
                value: v,
                ..
            } => {
                has_mask = *hm;
                value.extend_from_slice(v);
            }
        }
        let len = u8::try_from(value.len()).map_err(|_| EncodeError::TooLong(value.len()))?;
        put_u16(out, class);
        out.push((field << 1) | u8::from(has_mask));
        out.push(len);
        out.extend_from_slice(&value);
        Ok(())
    }

    /// Decodes one TLV from `r`.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Oxm, DecodeError> {
        let class = r.u16()?;
        let fh = r.u8()?;
        let len = usize::from(r.u8()?);
        let (field, has_mask) = (fh >> 1, fh & 1 == 1);
        let value = r.bytes(len).map_err(|_| DecodeError::BadLength {
            what: "oxm field",
            len,
        })?;
        let bad = || DecodeError::BadOxm { class, field, len };
        let mut v = Reader::new(value, "oxm value");
        if class != OXM_CLASS_BASIC {
            return Ok(Oxm::Other {
                class,
                field,
                has_mask,
                value: value.to_vec(),
            });
        }
        let v4 = |v: &mut Reader<'_>| -> Result<(Ipv4Addr, Option<Ipv4Addr>), DecodeError> {
            let want = if has_mask { 8 } else { 4 };
            if len != want {
                return Err(bad());
            }
            let a = Ipv4Addr::from(v.array::<4>()?);
            let m = if has_mask {
                Some(Ipv4Addr::from(v.array::<4>()?))
            } else {
                None
            };
            Ok((a, m))
        };
        let exact = |n: usize| {
            if len == n && !has_mask {
                Ok(())
            } else {
                Err(bad())
            }
        };
        Ok(match field {
            F_IN_PORT => {
                exact(4)?;
                Oxm::InPort(v.u32()?)
            }
            F_ETH_DST if !has_mask => {
                exact(6)?;
                Oxm::EthDst(Mac(v.array()?))
            }
            F_ETH_SRC if !has_mask => {
                exact(6)?;
                Oxm::EthSrc(Mac(v.array()?))
            }
            F_ETH_TYPE => {
                exact(2)?;
                Oxm::EthType(v.u16()?)
            }
            F_IP_PROTO => {
                exact(1)?;
                Oxm::IpProto(v.u8()?)
            }
            F_ICMPV6_TYPE => {
                exact(1)?;
                Oxm::Icmpv6Type(v.u8()?)
            }
            F_IPV4_SRC => {
                let (a, m) = v4(&mut v)?;
                Oxm::Ipv4Src(a, m)
            }
            F_IPV4_DST => {
                let (a, m) = v4(&mut v)?;
                Oxm::Ipv4Dst(a, m)
            }
            F_ARP_OP => {
                exact(2)?;
                Oxm::ArpOp(v.u16()?)
            }
            F_ARP_TPA => {
                let (a, m) = v4(&mut v)?;
                Oxm::ArpTpa(a, m)
            }
            F_IPV6_DST => {
                let want = if has_mask { 32 } else { 16 };
                if len != want {
                    return Err(bad());
                }
                let a = Ipv6Addr::from(v.array::<16>()?);
                let m = if has_mask {
                    Some(Ipv6Addr::from(v.array::<16>()?))
                } else {
                    None
                };
                Oxm::Ipv6Dst(a, m)
            }
            F_IPV6_ND_TARGET => {
                exact(16)?;
                Oxm::Ipv6NdTarget(Ipv6Addr::from(v.array::<16>()?))
            }
            _ => Oxm::Other {
                class,
                field,
                has_mask,
                value: value.to_vec(),
            },
        })
    }
}

/// `ofp_match` with OXM fields. Fields are kept in canonical (class, field)
/// order so that a match read back from OVS compares equal to the one sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Match {
    fields: Vec<Oxm>,
}

impl Match {
    pub fn new(mut fields: Vec<Oxm>) -> Self {
        fields.sort_by_key(Oxm::key);
        Match { fields }
    }

    pub fn fields(&self) -> &[Oxm] {
        &self.fields
    }

    /// Appends the match, padded to a multiple of 8 bytes (§7.2.2: the
    /// length field excludes the padding).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, OFPMT_OXM);
        put_u16(out, 0);
        for f in &self.fields {
            f.encode(out)?;
        }
        let len = out.len() - start;
        patch_len(out, start + 2, len)?;
        pad_to_8(out, start);
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
        let typ = r.u16()?;
        let len = usize::from(r.u16()?);
        if typ != OFPMT_OXM {
            return Err(DecodeError::Unsupported {
                what: "match type",
                value: u32::from(typ),
            });
        }
        let mut body = r.sub(len, 4, "match")?;
        // The padding after the match is not counted in its length.
        r.skip(super::wire::padded8(len) - len)?;
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(Oxm::decode(&mut body)?);
        }
        Ok(Match::new(fields))
    }
}

/// A prefix's network mask as an address, or `None` for a host prefix
/// (OVS drops an all-ones mask, so orbit never sends one).
pub fn v4_mask(prefix_len: u8) -> Option<Ipv4Addr> {
    (prefix_len < 32).then(|| {
        Ipv4Addr::from(
            u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0),
        )
    })
}

pub fn v6_mask(prefix_len: u8) -> Option<Ipv6Addr> {
    (prefix_len < 128).then(|| {
        Ipv6Addr::from(
            u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0),
        )
    })
}
