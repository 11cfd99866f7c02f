//! rask
