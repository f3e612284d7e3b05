//! MULTIPART request/reply (OpenFlow 1.3.5 §7.3.5): flow stats, group
//! descriptions, port stats and port descriptions — what orbit reads back
//! to diff, reconcile and confirm.

use super::action::{decode_instructions, encode_instructions, Instruction};
use super::group_mod::GroupDesc;
use super::oxm::Match;
use super::port::PortDesc;
use super::wire::{patch_len, put_u16, put_u32, put_u64, Reader};
use super::{DecodeError, EncodeError};

const OFPMP_FLOW: u16 = 1;
const OFPMP_PORT_STATS: u16 = 4;
const OFPMP_GROUP_DESC: u16 = 7;
const OFPMP_PORT_DESC: u16 = 13;

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`: more parts follow.
pub const OFPMPF_MORE: u16 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// `0xff` (`OFPTT_ALL`) for every table.
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub r#match: Match,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartRequest {
    Flow(FlowStatsRequest),
    GroupDesc,
    /// `OFPP_ANY` for every port.
    PortStats(u32),
    PortDesc,
    Other {
        typ: u16,
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let typ = match self {
            MultipartRequest::Flow(_) => OFPMP_FLOW,
            MultipartRequest::GroupDesc => OFPMP_GROUP_DESC,
            MultipartRequest::PortStats(_) => OFPMP_PORT_STATS,
            MultipartRequest::PortDesc => OFPMP_PORT_DESC,
            MultipartRequest::Other { typ, .. } => *typ,
        };
        put_u16(out, typ);
        put_u16(out, 0);
        out.extend_from_slice(&[0; 4]);
        match self {
            MultipartRequest::Flow(f) => {
                out.push(f.table_id);
                out.extend_from_slice(&[0; 3]);
                put_u32(out, f.out_port);
                put_u32(out, f.out_group);
                out.extend_from_slice(&[0; 4]);
                put_u64(out, f.cookie);
                put_u64(out, f.cookie_mask);
                f.r#match.encode(out)?;
            }
            MultipartRequest::PortStats(p) => {
                put_u32(out, *p);
                out.extend_from_slice(&[0; 4]);
            }
            MultipartRequest::GroupDesc | MultipartRequest::PortDesc => {}
            MultipartRequest::Other { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<(MultipartRequest, u16), DecodeError> {
        let typ = r.u16()?;
        let flags = r.u16()?;
        r.skip(4)?;
        let req = match typ {
            OFPMP_FLOW => {
                let table_id = r.u8()?;
                r.skip(3)?;
                let out_port = r.u32()?;
                let out_group = r.u32()?;
                r.skip(4)?;
                let cookie = r.u64()?;
                let cookie_mask = r.u64()?;
                let m = Match::decode(r)?;
                MultipartRequest::Flow(FlowStatsRequest {
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                    r#match: m,
                })
            }
            OFPMP_GROUP_DESC => MultipartRequest::GroupDesc,
            OFPMP_PORT_DESC => MultipartRequest::PortDesc,
            OFPMP_PORT_STATS => {
                let p = r.u32()?;
                r.skip(4)?;
                MultipartRequest::PortStats(p)
            }
            _ => MultipartRequest::Other {
                typ,
                body: r.rest().to_vec(),
            },
        };
        Ok((req, flags))
    }
}

/// One flow of the flow-stats reply (§7.3.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub r#match: Match,
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, 0);
        out.push(self.table_id);
        out.push(0);
        put_u32(out, self.duration_sec);
        put_u32(out, self.duration_nsec);
        put_u16(out, self.priority);
        put_u16(out, self.idle_timeout);
        put_u16(out, self.hard_timeout);
        put_u16(out, self.flags);
        out.extend_from_slice(&[0; 4]);
        put_u64(out, self.cookie);
        put_u64(out, self.packet_count);
        put_u64(out, self.byte_count);
        self.r#match.encode(out)?;
        encode_instructions(&self.instructions, out)?;
        let len = out.len() - start;
        patch_len(out, start, len)
    }

    fn decode(r: &mut Reader<'_>) -> Result<FlowStats, DecodeError> {
        let len = usize::from(r.u16()?);
        let mut b = r.sub(len, 2, "flow stats")?;
        let table_id = b.u8()?;
        b.skip(1)?;
        let duration_sec = b.u32()?;
        let duration_nsec = b.u32()?;
        let priority = b.u16()?;
        let idle_timeout = b.u16()?;
        let hard_timeout = b.u16()?;
        let flags = b.u16()?;
        b.skip(4)?;
        let cookie = b.u64()?;
        let packet_count = b.u64()?;
        let byte_count = b.u64()?;
        let m = Match::decode(&mut b)?;
        let instructions = decode_instructions(&mut b)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            r#match: m,
            instructions,
        })
    }
}

/// One port of the port-stats reply (§7.3.5.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortStats {
    pub port_no: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

impl PortStats {
    fn counters(&self) -> [u64; 12] {
        [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ]
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.port_no);
        out.extend_from_slice(&[0; 4]);
        for c in self.counters() {
            put_u64(out, c);
        }
        put_u32(out, self.duration_sec);
        put_u32(out, self.duration_nsec);
    }

    fn decode(r: &mut Reader<'_>) -> Result<PortStats, DecodeError> {
        let port_no = r.u32()?;
        r.skip(4)?;
        let mut c = [0u64; 12];
        for v in &mut c {
            *v = r.u64()?;
        }
        Ok(PortStats {
            port_no,
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_dropped: c[4],
            tx_dropped: c[5],
            rx_errors: c[6],
            tx_errors: c[7],
            rx_frame_err: c[8],
            rx_over_err: c[9],
            rx_crc_err: c[10],
            collisions: c[11],
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
        })
    }
}

/// The body of one reply part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartReply {
    Flow(Vec<FlowStats>),
    GroupDesc(Vec<GroupDesc>),
    PortStats(Vec<PortStats>),
    PortDesc(Vec<PortDesc>),
    Other { typ: u16, body: Vec<u8> },
}

impl MultipartReply {
    pub(crate) fn encode_body(&self, flags: u16, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let typ = match self {
            MultipartReply::Flow(_) => OFPMP_FLOW,
            MultipartReply::GroupDesc(_) => OFPMP_GROUP_DESC,
            MultipartReply::PortStats(_) => OFPMP_PORT_STATS,
            MultipartReply::PortDesc(_) => OFPMP_PORT_DESC,
            MultipartReply::Other { typ, .. } => *typ,
        };
        put_u16(out, typ);
        put_u16(out, flags);
        out.extend_from_slice(&[0; 4]);
        match self {
            MultipartReply::Flow(v) => v.iter().try_for_each(|f| f.encode(out))?,
            MultipartReply::GroupDesc(v) => v.iter().try_for_each(|g| g.encode(out))?,
            MultipartReply::PortStats(v) => v.iter().for_each(|p| p.encode(out)),
            MultipartReply::PortDesc(v) => v.iter().try_for_each(|p| p.encode(out))?,
            MultipartReply::Other { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<(MultipartReply, u16), DecodeError> {
        let typ = r.u16()?;
        let flags = r.u16()?;
        r.skip(4)?;
        let reply = match typ {
            OFPMP_FLOW => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(FlowStats::decode(r)?);
                }
                MultipartReply::Flow(v)
            }
            OFPMP_GROUP_DESC => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(GroupDesc::decode(r)?);
                }
                MultipartReply::GroupDesc(v)
            }
            OFPMP_PORT_STATS => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(PortStats::decode(r)?);
                }
                MultipartReply::PortStats(v)
            }
            OFPMP_PORT_DESC => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(PortDesc::decode(r)?);
                }
                MultipartReply::PortDesc(v)
            }
            _ => MultipartReply::Other {
                typ,
                body: r.rest().to_vec(),
            },
        };
        Ok((reply, flags))
    }
}
