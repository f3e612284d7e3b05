//! Actions (OpenFlow 1.3.5 §7.2.5) and instructions (§7.2.4).

use super::oxm::Oxm;
use super::wire::{pad_to_8, patch_len, put_u16, put_u32, Reader};
use super::{DecodeError, EncodeError};

const OFPAT_OUTPUT: u16 = 0;
const OFPAT_GROUP: u16 = 22;
const OFPAT_SET_FIELD: u16 = 25;

const OFPIT_GOTO_TABLE: u16 = 1;
const OFPIT_WRITE_ACTIONS: u16 = 3;
const OFPIT_APPLY_ACTIONS: u16 = 4;
const OFPIT_CLEAR_ACTIONS: u16 = 5;

/// `OFPCML_NO_BUFFER`: send the whole packet to the controller.
pub const MAX_LEN_NO_BUFFER: u16 = 0xffff;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Output {
        port: u32,
        max_len: u16,
    },
    Group(u32),
    SetField(Oxm),
    /// An action orbit does not use, kept raw (type, body after the header).
    Other {
        typ: u16,
        body: Vec<u8>,
    },
}

impl Action {
    pub fn output(port: u32) -> Action {
        Action::Output { port, max_len: 0 }
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            Action::Output { port, max_len } => {
                put_u16(out, OFPAT_OUTPUT);
                put_u16(out, 16);
                put_u32(out, *port);
                put_u16(out, *max_len);
                out.extend_from_slice(&[0; 6]);
            }
            Action::Group(g) => {
                put_u16(out, OFPAT_GROUP);
                put_u16(out, 8);
                put_u32(out, *g);
            }
            Action::SetField(f) => {
                put_u16(out, OFPAT_SET_FIELD);
                put_u16(out, 0);
                f.encode(out)?;
                pad_to_8(out, start);
                let len = out.len() - start;
                patch_len(out, start + 2, len)?;
            }
            Action::Other { typ, body } => {
                put_u16(out, *typ);
                put_u16(out, 0);
                out.extend_from_slice(body);
                let len = out.len() - start;
                patch_len(out, start + 2, len)?;
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
        let typ = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "action",
                len,
            });
        }
        let mut b = r.sub(len, 4, "action")?;
        Ok(match typ {
            OFPAT_OUTPUT => {
                let port = b.u32()?;
                let max_len = b.u16()?;
                Action::Output { port, max_len }
            }
            OFPAT_GROUP => Action::Group(b.u32()?),
            OFPAT_SET_FIELD => Action::SetField(Oxm::decode(&mut b)?),
            _ => Action::Other {
                typ,
                body: b.rest().to_vec(),
            },
        })
    }
}

pub fn encode_actions(actions: &[Action], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    actions.iter().try_for_each(|a| a.encode(out))
}

pub(crate) fn decode_actions(r: &mut Reader<'_>) -> Result<Vec<Action>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Action::decode(r)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Instruction {
    GotoTable(u8),
    WriteActions(Vec<Action>),
    ApplyActions(Vec<Action>),
    ClearActions,
    Other { typ: u16, body: Vec<u8> },
}

impl Instruction {
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        match self {
            Instruction::GotoTable(t) => {
                put_u16(out, OFPIT_GOTO_TABLE);
                put_u16(out, 8);
                out.extend_from_slice(&[*t, 0, 0, 0]);
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                let typ = if matches!(self, Instruction::WriteActions(_)) {
                    OFPIT_WRITE_ACTIONS
                } else {
                    OFPIT_APPLY_ACTIONS
                };
                put_u16(out, typ);
                put_u16(out, 0);
                out.extend_from_slice(&[0; 4]);
                encode_actions(a, out)?;
                let len = out.len() - start;
                patch_len(out, start + 2, len)?;
            }
            Instruction::ClearActions => {
                put_u16(out, OFPIT_CLEAR_ACTIONS);
                put_u16(out, 8);
                out.extend_from_slice(&[0; 4]);
            }
            Instruction::Other { typ, body } => {
                put_u16(out, *typ);
                put_u16(out, 0);
                out.extend_from_slice(body);
                let len = out.len() - start;
                patch_len(out, start + 2, len)?;
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>) -> Result<Instruction, DecodeError> {
        let typ = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 8 {
            return Err(DecodeError::BadLength {
                what: "instruction",
                len,
            });
        }
        let mut b = r.sub(len, 4, "instruction")?;
        Ok(match typ {
            OFPIT_GOTO_TABLE => Instruction::GotoTable(b.u8()?),
            OFPIT_WRITE_ACTIONS | OFPIT_APPLY_ACTIONS => {
                b.skip(4)?;
                let actions = decode_actions(&mut b)?;
                if typ == OFPIT_WRITE_ACTIONS {
                    Instruction::WriteActions(actions)
                } else {
                    Instruction::ApplyActions(actions)
                }
            }
            OFPIT_CLEAR_ACTIONS => Instruction::ClearActions,
            _ => Instruction::Other {
                typ,
                body: b.rest().to_vec(),
            },
        })
    }
}

pub fn encode_instructions(ins: &[Instruction], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    ins.iter().try_for_each(|i| i.encode(out))
}

pub(crate) fn decode_instructions(r: &mut Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Instruction::decode(r)?);
    }
    Ok(out)
}
