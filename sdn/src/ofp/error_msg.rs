//! ERROR (OpenFlow 1.3.5 §7.4.4).

use super::wire::{put_u16, Reader};
use super::{DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMsg {
    pub typ: u16,
    pub code: u16,
    /// At least the first 64 bytes of the offending request (§7.4.4).
    pub data: Vec<u8>,
}

impl ErrorMsg {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u16(out, self.typ);
        put_u16(out, self.code);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<ErrorMsg, DecodeError> {
        Ok(ErrorMsg {
            typ: r.u16()?,
            code: r.u16()?,
            data: r.rest().to_vec(),
        })
    }

    /// The symbolic name of the error type and code, for logs and reports.
    pub fn describe(&self) -> String {
        let typ = match self.typ {
            0 => "HELLO_FAILED",
            1 => "BAD_REQUEST",
            2 => "BAD_ACTION",
            3 => "BAD_INSTRUCTION",
            4 => "BAD_MATCH",
            5 => "FLOW_MOD_FAILED",
            6 => "GROUP_MOD_FAILED",
            7 => "PORT_MOD_FAILED",
            8 => "TABLE_MOD_FAILED",
            9 => "QUEUE_OP_FAILED",
            10 => "SWITCH_CONFIG_FAILED",
            11 => "ROLE_REQUEST_FAILED",
            12 => "METER_MOD_FAILED",
            13 => "TABLE_FEATURES_FAILED",
            0xffff => "EXPERIMENTER",
            _ => "UNKNOWN",
        };
        let code = match (self.typ, self.code) {
            (6, 0) => " GROUP_EXISTS",
            (6, 1) => " INVALID_GROUP",
            (6, 3) => " OUT_OF_GROUPS",
            (6, 6) => " WATCH_UNSUPPORTED",
            (6, 8) => " UNKNOWN_GROUP",
            (6, 9) => " CHAINED_GROUP",
            (5, 1) => " TABLE_FULL",
            (5, 2) => " BAD_TABLE_ID",
            (4, 9) => " BAD_PREREQ",
            (2, 4) => " BAD_OUT_PORT",
            (2, 9) => " BAD_OUT_GROUP",
            (1, 0) => " BAD_VERSION",
            (1, 1) => " BAD_TYPE",
            _ => "",
        };
        format!("OFPET {typ}({}) code {}{code}", self.typ, self.code)
    }
}
