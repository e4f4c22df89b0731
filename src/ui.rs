//! ratatui screens.
