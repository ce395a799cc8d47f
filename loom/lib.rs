//! Empty: this package exists for its test, `tests/loom_wake.rs` (see `Cargo.toml`).
