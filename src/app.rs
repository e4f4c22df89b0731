//! The terminal event loop.
use crate::ceremony::Ceremony;
use crate::clock::Clock;
use crate::session::Runner;
use std::sync::Arc;

/// Restores the terminal before a panic message is printed.
pub fn install_panic_hook() {}

pub fn run(_c: Ceremony, _r: Runner, _clock: Arc<dyn Clock>, _reason: Option<String>) -> anyhow::Result<i32> {
    anyhow::bail!("TUI not built yet")
}
