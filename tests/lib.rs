//! End-to-end tests live in `tests/end_to_end.rs`.
