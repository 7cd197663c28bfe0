//! (to be written)

use super::Check;

pub const CHECKS: &[Check] = &[];
