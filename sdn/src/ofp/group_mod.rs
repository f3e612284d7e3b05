//! GROUP_MOD and buckets (OpenFlow 1.3.5 §7.3.4.3), shared with the
//! group-description multipart reply (§7.3.5.11).

use super::action::{decode_actions, encode_actions, Action};
use super::wire::{patch_len, put_u16, put_u32, Reader};
use super::{DecodeError, EncodeError, OFPG_ANY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    /// Fast failover: the first bucket whose watched port is live is used
    /// (§5.6.1), decided in the switch without the controller.
    FastFailover,
}

impl GroupType {
    fn code(self) -> u8 {
        match self {
            GroupType::All => 0,
            GroupType::Select => 1,
            GroupType::Indirect => 2,
            GroupType::FastFailover => 3,
        }
    }

    fn from_code(c: u8) -> Result<Self, DecodeError> {
        Ok(match c {
            0 => GroupType::All,
            1 => GroupType::Select,
            2 => GroupType::Indirect,
            3 => GroupType::FastFailover,
            _ => {
                return Err(DecodeError::Unsupported {
                    what: "group type",
                    value: u32::from(c),
                })
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupModCommand {
    Add,
    Modify,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket {
    pub weight: u16,
    /// Fast failover: the bucket is live only while this port is up.
    pub watch_port: u32,
    pub watch_group: u32,
    pub actions: Vec<Action>,
}

impl Bucket {
    pub fn new(actions: Vec<Action>) -> Bucket {
        Bucket {
            weight: 0,
            watch_port: super::OFPP_ANY,
            watch_group: OFPG_ANY,
            actions,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, 0);
        put_u16(out, self.weight);
        put_u32(out, self.watch_port);
        put_u32(out, self.watch_group);
        out.extend_from_slice(&[0; 4]);
        encode_actions(&self.actions, out)?;
        let len = out.len() - start;
        patch_len(out, start, len)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Bucket, DecodeError> {
        let len = usize::from(r.u16()?);
        if len < 16 {
            return Err(DecodeError::BadLength {
                what: "bucket",
                len,
            });
        }
        let mut b = r.sub(len, 2, "bucket")?;
        let weight = b.u16()?;
        let watch_port = b.u32()?;
        let watch_group = b.u32()?;
        b.skip(4)?;
        let actions = decode_actions(&mut b)?;
        Ok(Bucket {
            weight,
            watch_port,
            watch_group,
            actions,
        })
    }
}

pub(crate) fn encode_buckets(buckets: &[Bucket], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    buckets.iter().try_for_each(|b| b.encode(out))
}

pub(crate) fn decode_buckets(r: &mut Reader<'_>) -> Result<Vec<Bucket>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Bucket::decode(r)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMod {
    pub command: GroupModCommand,
    pub group_type: GroupType,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u16(
            out,
            match self.command {
                GroupModCommand::Add => 0,
                GroupModCommand::Modify => 1,
                GroupModCommand::Delete => 2,
            },
        );
        out.push(self.group_type.code());
        out.push(0);
        put_u32(out, self.group_id);
        encode_buckets(&self.buckets, out)
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<GroupMod, DecodeError> {
        let command = match r.u16()? {
            0 => GroupModCommand::Add,
            1 => GroupModCommand::Modify,
            2 => GroupModCommand::Delete,
            c => {
                return Err(DecodeError::Unsupported {
                    what: "group_mod command",
                    value: u32::from(c),
                })
            }
        };
        let group_type = GroupType::from_code(r.u8()?)?;
        r.skip(1)?;
        let group_id = r.u32()?;
        let buckets = decode_buckets(r)?;
        Ok(GroupMod {
            command,
            group_type,
            group_id,
            buckets,
        })
    }
}

/// One entry of the group-description multipart reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupDesc {
    pub group_type: GroupType,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
}

impl GroupDesc {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        put_u16(out, 0);
        out.push(self.group_type.code());
        out.push(0);
        put_u32(out, self.group_id);
        encode_buckets(&self.buckets, out)?;
        let len = out.len() - start;
        patch_len(out, start, len)
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<GroupDesc, DecodeError> {
        let len = usize::from(r.u16()?);
        let mut b = r.sub(len, 2, "group desc")?;
        let group_type = GroupType::from_code(b.u8()?)?;
        b.skip(1)?;
        let group_id = b.u32()?;
        let buckets = decode_buckets(&mut b)?;
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
        })
    }
}
