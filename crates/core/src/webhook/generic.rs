//! TODO
use super::*;
pub fn parse(_b: &[u8]) -> Result<Parsed, PayloadError> {
    Err(PayloadError::Missing("todo"))
}
