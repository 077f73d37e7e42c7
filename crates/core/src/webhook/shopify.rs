//! TODO
use super::*;
pub fn parse(_t: &str, _b: &[u8]) -> Result<Parsed, PayloadError> {
    Err(PayloadError::Missing("todo"))
}
