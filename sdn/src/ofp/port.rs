//! `ofp_port` (OpenFlow 1.3.5 §7.2.1) and PORT_STATUS (§7.4.3).

use super::oxm::Mac;
use super::wire::{put_u32, Reader};
use super::{DecodeError, EncodeError};

/// `OFPPC_PORT_DOWN`: administratively down.
pub const OFPPC_PORT_DOWN: u32 = 1;
/// `OFPPS_LINK_DOWN`: no physical link.
pub const OFPPS_LINK_DOWN: u32 = 1;
/// `OFPPS_LIVE`: usable by fast-failover groups (§7.2.1).
pub const OFPPS_LIVE: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDesc {
    pub port_no: u32,
    pub hw_addr: Mac,
    pub name: String,
    pub config: u32,
    pub state: u32,
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    pub curr_speed: u32,
    pub max_speed: u32,
}

impl PortDesc {
    /// Whether a fast-failover bucket watching this port would be chosen.
    /// OVS reports liveness through LINK_DOWN/PORT_DOWN and the LIVE bit.
    pub fn is_live(&self) -> bool {
        self.config & OFPPC_PORT_DOWN == 0 && self.state & OFPPS_LINK_DOWN == 0
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u32(out, self.port_no);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.hw_addr.0);
        out.extend_from_slice(&[0; 2]);
        let mut name = [0u8; 16];
        let bytes = self.name.as_bytes();
        // At most 15 bytes plus NUL, cut on a character boundary so the
        // name stays valid UTF-8 (found by the fuzzer).
        let mut n = bytes.len().min(15);
        while !self.name.is_char_boundary(n) {
            n -= 1;
        }
        name[..n].copy_from_slice(&bytes[..n]);
        out.extend_from_slice(&name);
        for v in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            put_u32(out, v);
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<PortDesc, DecodeError> {
        let port_no = r.u32()?;
        r.skip(4)?;
        let hw_addr = Mac(r.array()?);
        r.skip(2)?;
        let raw: [u8; 16] = r.array()?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let name = String::from_utf8_lossy(&raw[..end]).into_owned();
        Ok(PortDesc {
            port_no,
            hw_addr,
            name,
            config: r.u32()?,
            state: r.u32()?,
            curr: r.u32()?,
            advertised: r.u32()?,
            supported: r.u32()?,
            peer: r.u32()?,
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortReason {
    Add,
    Delete,
    Modify,
    Other(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    pub reason: PortReason,
    pub desc: PortDesc,
}

impl PortStatus {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(match self.reason {
            PortReason::Add => 0,
            PortReason::Delete => 1,
            PortReason::Modify => 2,
            PortReason::Other(r) => r,
        });
        out.extend_from_slice(&[0; 7]);
        self.desc.encode(out)
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<PortStatus, DecodeError> {
        let reason = match r.u8()? {
            0 => PortReason::Add,
            1 => PortReason::Delete,
            2 => PortReason::Modify,
            o => PortReason::Other(o),
        };
        r.skip(7)?;
        Ok(PortStatus {
            reason,
            desc: PortDesc::decode(r)?,
        })
    }
}
