//! A small, pure OpenFlow 1.3 codec: exactly the messages orbit needs to
//! steer services on Open vSwitch (OpenFlow Switch Specification 1.3.5).
//!
//! [`Message::decode`] takes one whole message (use [`frame_len`] to cut
//! frames out of a stream) and never panics: anything malformed is a
//! [`DecodeError`], which the connection treats as fatal for that session.
//! Message types orbit does not use decode to [`Body::Unsupported`].

pub mod action;
pub mod error_msg;
pub mod features;
pub mod flow_mod;
pub mod group_mod;
pub mod hello;
pub mod multipart;
pub mod oxm;
pub mod port;
mod wire;

pub use action::{Action, Instruction};
pub use error_msg::ErrorMsg;
pub use features::FeaturesReply;
pub use flow_mod::{FlowMod, FlowModCommand};
pub use group_mod::{Bucket, GroupDesc, GroupMod, GroupModCommand, GroupType};
pub use hello::Hello;
pub use multipart::{
    FlowStats, FlowStatsRequest, MultipartReply, MultipartRequest, PortStats, OFPMPF_MORE,
};
pub use oxm::{Mac, Match, Oxm};
pub use port::{PortDesc, PortReason, PortStatus};

use wire::{patch_len, put_u16, put_u32, Reader};

/// `OFP_VERSION` for OpenFlow 1.3.
pub const OFP_VERSION: u8 = 0x04;
pub const HEADER_LEN: usize = 8;
/// `OFPP_IN_PORT`.
pub const OFPP_IN_PORT: u32 = 0xffff_fff8;
/// `OFPP_CONTROLLER`.
pub const OFPP_CONTROLLER: u32 = 0xffff_fffd;
/// `OFPP_ANY`: wildcard port in requests.
pub const OFPP_ANY: u32 = 0xffff_ffff;
/// `OFPG_ANY`: wildcard group in requests.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// `OFPG_ALL`: every group (group_mod delete).
pub const OFPG_ALL: u32 = 0xffff_fffc;
/// `OFP_NO_BUFFER`.
pub const OFP_NO_BUFFER: u32 = 0xffff_ffff;
/// `OFPTT_ALL`: every table in a stats request.
pub const OFPTT_ALL: u8 = 0xff;

// Message types (§7.1).
const T_HELLO: u8 = 0;
const T_ERROR: u8 = 1;
const T_ECHO_REQUEST: u8 = 2;
const T_ECHO_REPLY: u8 = 3;
const T_FEATURES_REQUEST: u8 = 5;
const T_FEATURES_REPLY: u8 = 6;
const T_PORT_STATUS: u8 = 12;
const T_FLOW_MOD: u8 = 14;
const T_GROUP_MOD: u8 = 15;
const T_MULTIPART_REQUEST: u8 = 18;
const T_MULTIPART_REPLY: u8 = 19;
const T_BARRIER_REQUEST: u8 = 20;
const T_BARRIER_REPLY: u8 = 21;

/// Why bytes are not a valid OpenFlow 1.3 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} truncated: needs {need} more bytes, {have} left")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what} has impossible length {len}")]
    BadLength { what: &'static str, len: usize },
    #[error("unsupported {what} {value}")]
    Unsupported { what: &'static str, value: u32 },
    #[error("OXM class {class:#06x} field {field} has bad length {len}")]
    BadOxm { class: u16, field: u8, len: usize },
    #[error("OpenFlow version {0:#04x} where 0x04 (1.3) was negotiated")]
    BadVersion(u8),
    #[error("{0} trailing bytes after the message body")]
    Trailing(usize),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("structure of {0} bytes exceeds a 16-bit OpenFlow length field")]
    TooLong(usize),
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    FeaturesRequest,
    FeaturesReply(FeaturesReply),
    PortStatus(PortStatus),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    MultipartRequest {
        flags: u16,
        request: MultipartRequest,
    },
    MultipartReply {
        flags: u16,
        reply: MultipartReply,
    },
    BarrierRequest,
    BarrierReply,
    /// A message type orbit does not handle (packet-in, role reply ...).
    Unsupported {
        msg_type: u8,
        body: Vec<u8>,
    },
}

impl Body {
    fn msg_type(&self) -> u8 {
        match self {
            Body::Hello(_) => T_HELLO,
            Body::Error(_) => T_ERROR,
            Body::EchoRequest(_) => T_ECHO_REQUEST,
            Body::EchoReply(_) => T_ECHO_REPLY,
            Body::FeaturesRequest => T_FEATURES_REQUEST,
            Body::FeaturesReply(_) => T_FEATURES_REPLY,
            Body::PortStatus(_) => T_PORT_STATUS,
            Body::FlowMod(_) => T_FLOW_MOD,
            Body::GroupMod(_) => T_GROUP_MOD,
            Body::MultipartRequest { .. } => T_MULTIPART_REQUEST,
            Body::MultipartReply { .. } => T_MULTIPART_REPLY,
            Body::BarrierRequest => T_BARRIER_REQUEST,
            Body::BarrierReply => T_BARRIER_REPLY,
            Body::Unsupported { msg_type, .. } => *msg_type,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Body::Hello(_) => "HELLO",
            Body::Error(_) => "ERROR",
            Body::EchoRequest(_) => "ECHO_REQUEST",
            Body::EchoReply(_) => "ECHO_REPLY",
            Body::FeaturesRequest => "FEATURES_REQUEST",
            Body::FeaturesReply(_) => "FEATURES_REPLY",
            Body::PortStatus(_) => "PORT_STATUS",
            Body::FlowMod(_) => "FLOW_MOD",
            Body::GroupMod(_) => "GROUP_MOD",
            Body::MultipartRequest { .. } => "MULTIPART_REQUEST",
            Body::MultipartReply { .. } => "MULTIPART_REPLY",
            Body::BarrierRequest => "BARRIER_REQUEST",
            Body::BarrierReply => "BARRIER_REPLY",
            Body::Unsupported { .. } => "UNSUPPORTED",
        }
    }
}

/// One OpenFlow message: header fields plus body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header version; 0x04 except in a HELLO from a peer that offers
    /// other versions too.
    pub version: u8,
    pub xid: u32,
    pub body: Body,
}

impl Message {
    pub fn new(xid: u32, body: Body) -> Message {
        Message {
            version: OFP_VERSION,
            xid,
            body,
        }
    }

    /// Encodes header and body.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        out.push(self.version);
        out.push(self.body.msg_type());
        put_u16(&mut out, 0);
        put_u32(&mut out, self.xid);
        match &self.body {
            Body::Hello(h) => h.encode_body(&mut out)?,
            Body::Error(e) => e.encode_body(&mut out)?,
            Body::EchoRequest(d) | Body::EchoReply(d) => out.extend_from_slice(d),
            Body::FeaturesRequest | Body::BarrierRequest | Body::BarrierReply => {}
            Body::FeaturesReply(f) => f.encode_body(&mut out)?,
            Body::PortStatus(p) => p.encode_body(&mut out)?,
            Body::FlowMod(f) => f.encode_body(&mut out)?,
            Body::GroupMod(g) => g.encode_body(&mut out)?,
            Body::MultipartRequest { flags, request } => {
                request.encode_body(&mut out)?;
                out[10..12].copy_from_slice(&flags.to_be_bytes());
            }
            Body::MultipartReply { flags, reply } => reply.encode_body(*flags, &mut out)?,
            Body::Unsupported { body, .. } => out.extend_from_slice(body),
        }
        let len = out.len();
        patch_len(&mut out, 2, len)?;
        Ok(out)
    }

    /// Decodes exactly one message; `buf` must be the whole frame.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        let mut r = Reader::new(buf, "header");
        let version = r.u8()?;
        let msg_type = r.u8()?;
        let len = usize::from(r.u16()?);
        let xid = r.u32()?;
        if len < HEADER_LEN || len != buf.len() {
            return Err(DecodeError::BadLength {
                what: "message",
                len,
            });
        }
        // Before negotiation only HELLO may carry another version (§6.3.1).
        if version != OFP_VERSION && msg_type != T_HELLO {
            return Err(DecodeError::BadVersion(version));
        }
        let mut r = Reader::new(&buf[HEADER_LEN..], "message body");
        let body = match msg_type {
            T_HELLO => Body::Hello(Hello::decode_body(&mut r)?),
            T_ERROR => Body::Error(ErrorMsg::decode_body(&mut r)?),
            T_ECHO_REQUEST => Body::EchoRequest(r.rest().to_vec()),
            T_ECHO_REPLY => Body::EchoReply(r.rest().to_vec()),
            T_FEATURES_REQUEST => Body::FeaturesRequest,
            T_FEATURES_REPLY => Body::FeaturesReply(FeaturesReply::decode_body(&mut r)?),
            T_PORT_STATUS => Body::PortStatus(PortStatus::decode_body(&mut r)?),
            T_FLOW_MOD => Body::FlowMod(FlowMod::decode_body(&mut r)?),
            T_GROUP_MOD => Body::GroupMod(GroupMod::decode_body(&mut r)?),
            T_MULTIPART_REQUEST => {
                let (request, flags) = MultipartRequest::decode_body(&mut r)?;
                Body::MultipartRequest { flags, request }
            }
            T_MULTIPART_REPLY => {
                let (reply, flags) = MultipartReply::decode_body(&mut r)?;
                Body::MultipartReply { flags, reply }
            }
            T_BARRIER_REQUEST => Body::BarrierRequest,
            T_BARRIER_REPLY => Body::BarrierReply,
            _ => Body::Unsupported {
                msg_type,
                body: r.rest().to_vec(),
            },
        };
        if !r.is_empty() {
            return Err(DecodeError::Trailing(r.remaining()));
        }
        Ok(Message { version, xid, body })
    }
}

/// The length of the frame at the start of `buf`, once its header is
/// there; `Err` if the header announces less than a header.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if len < HEADER_LEN {
        return Err(DecodeError::BadLength {
            what: "message",
            len,
        });
    }
    Ok(Some(len))
}

#[cfg(test)]
mod tests;
