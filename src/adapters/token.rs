//! Adapters of the core's [`Token`] port (`crate::core::key`): [`soft`] (DEMO software keys) and
//! [`piv`] (YubiKeys over PC/SC).

pub mod piv;
pub mod soft;

pub use crate::core::key::{Token, TokenError, TokenInfo};
