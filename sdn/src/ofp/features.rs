//! FEATURES_REPLY (OpenFlow 1.3.5 §7.3.1). The request has no body.

use super::wire::{put_u32, put_u64, Reader};
use super::{DecodeError, EncodeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeaturesReply {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    pub capabilities: u32,
}

impl FeaturesReply {
    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_u64(out, self.datapath_id);
        put_u32(out, self.n_buffers);
        out.push(self.n_tables);
        out.push(self.auxiliary_id);
        out.extend_from_slice(&[0, 0]);
        put_u32(out, self.capabilities);
        put_u32(out, 0);
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<FeaturesReply, DecodeError> {
        let datapath_id = r.u64()?;
        let n_buffers = r.u32()?;
        let n_tables = r.u8()?;
        let auxiliary_id = r.u8()?;
        r.skip(2)?;
        let capabilities = r.u32()?;
        r.skip(4)?;
        Ok(FeaturesReply {
            datapath_id,
            n_buffers,
            n_tables,
            auxiliary_id,
            capabilities,
        })
    }
}
