//! NOTIFICATION messages (RFC 4271 §4.5) as numbers and in words.

use super::*;

/// A NOTIFICATION (RFC 4271 §4.5) as raw numbers, so that unknown codes
/// survive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}

/// RFC 4271 §4.5 codes and the subcodes orbit sends.
pub mod code {
    pub const MESSAGE_HEADER: u8 = 1;
    pub const OPEN: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    pub const FSM: u8 = 5;
    pub const CEASE: u8 = 6;

    /// OPEN subcodes (RFC 4271 §6.2).
    pub const OPEN_BAD_PEER_AS: u8 = 2;
    pub const OPEN_BAD_BGP_ID: u8 = 3;
    pub const OPEN_UNACCEPTABLE_HOLD: u8 = 6;
    /// Cease subcodes (RFC 4486).
    pub const CEASE_MAX_PREFIXES: u8 = 1;
    pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
    pub const CEASE_PEER_DECONFIGURED: u8 = 3;
    pub const CEASE_CONNECTION_REJECTED: u8 = 5;
    pub const CEASE_OTHER_CONFIGURATION_CHANGE: u8 = 6;
    pub const CEASE_COLLISION: u8 = 7;
    /// FSM error subcodes (RFC 6608).
    pub const FSM_UNEXPECTED_IN_OPENSENT: u8 = 1;
    pub const FSM_UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
    pub const FSM_UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Bytes) -> Notification {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease / Administrative Shutdown with a shutdown communication
    /// (RFC 8203, updated by RFC 9003: UTF-8, length-prefixed, we send at
    /// most 128 bytes).
    pub fn shutdown(text: &str) -> Notification {
        Notification::new(
            code::CEASE,
            code::CEASE_ADMIN_SHUTDOWN,
            rw::notification::encode_shutdown_communication(text),
        )
    }

    /// The shutdown communication, if this is a Cease carrying one.
    pub fn shutdown_text(&self) -> Option<String> {
        if self.code == code::CEASE && (self.subcode == 2 || self.subcode == 4) {
            rw::notification::decode_shutdown_communication(&self.data)
        } else {
            None
        }
    }

    /// In words, for logs, `last_error` and operators:
    /// "Cease/Administrative Shutdown: maintenance", "Hold Timer Expired",
    /// "OPEN Message Error/Bad Peer AS". A shutdown communication
    /// (RFC 8203 / RFC 9003) is appended after a colon; codes and subcodes
    /// no RFC names are given by number, never as "Unknown".
    pub fn describe(&self) -> String {
        let code = code_name(self.code);
        let mut text = match subcode_name(self.code, self.subcode) {
            Some(sub) => format!("{code}/{sub}"),
            // RFC 4271 §4.5: subcode 0 is "Unspecific" where the code
            // defines no subcode of that value.
            None if self.subcode == 0 => code,
            None => format!("{code}/subcode {}", self.subcode),
        };
        if let Some(s) = self.shutdown_text() {
            if !s.is_empty() {
                // The text comes from the peer: keep it on one line.
                let clean: String = s
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                text.push_str(": ");
                text.push_str(&clean);
            }
        }
        text
    }
}

/// The NOTIFICATION error codes by name (IANA "BGP Error (Notification)
/// Codes"): RFC 4271 §4.5, RFC 7313 §5, RFC 9687 §3.
fn code_name(code: u8) -> String {
    match code {
        1 => "Message Header Error",
        2 => "OPEN Message Error",
        3 => "UPDATE Message Error",
        4 => "Hold Timer Expired",
        5 => "Finite State Machine Error",
        6 => "Cease",
        7 => "ROUTE-REFRESH Message Error",
        8 => "Send Hold Timer Expired",
        other => return format!("error code {other}"),
    }
    .to_string()
}

/// Subcode names: RFC 4271 §6.1-§6.3 (with RFC 5492 and RFC 9234 for
/// OPEN), RFC 6608 (FSM), RFC 4486 / RFC 8538 / RFC 9384 (Cease),
/// RFC 7313 (ROUTE-REFRESH).
fn subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    Some(match (code, subcode) {
        (1, 1) => "Connection Not Synchronized",
        (1, 2) => "Bad Message Length",
        (1, 3) => "Bad Message Type",
        (2, 1) => "Unsupported Version Number",
        (2, 2) => "Bad Peer AS",
        (2, 3) => "Bad BGP Identifier",
        (2, 4) => "Unsupported Optional Parameter",
        (2, 5) => "Authentication Failure (deprecated)",
        (2, 6) => "Unacceptable Hold Time",
        (2, 7) => "Unsupported Capability",
        (2, 11) => "Role Mismatch",
        (3, 1) => "Malformed Attribute List",
        (3, 2) => "Unrecognized Well-known Attribute",
        (3, 3) => "Missing Well-known Attribute",
        (3, 4) => "Attribute Flags Error",
        (3, 5) => "Attribute Length Error",
        (3, 6) => "Invalid ORIGIN Attribute",
        (3, 7) => "AS Routing Loop (deprecated)",
        (3, 8) => "Invalid NEXT_HOP Attribute",
        (3, 9) => "Optional Attribute Error",
        (3, 10) => "Invalid Network Field",
        (3, 11) => "Malformed AS_PATH",
        (5, 0) => "Unspecified Error",
        (5, 1) => "Unexpected Message in OpenSent",
        (5, 2) => "Unexpected Message in OpenConfirm",
        (5, 3) => "Unexpected Message in Established",
        (6, 1) => "Maximum Number of Prefixes Reached",
        (6, 2) => "Administrative Shutdown",
        (6, 3) => "Peer De-configured",
        (6, 4) => "Administrative Reset",
        (6, 5) => "Connection Rejected",
        (6, 6) => "Other Configuration Change",
        (6, 7) => "Connection Collision Resolution",
        (6, 8) => "Out of Resources",
        (6, 9) => "Hard Reset",
        (6, 10) => "BFD Down",
        (7, 1) => "Invalid Message Length",
        _ => return None,
    })
}
