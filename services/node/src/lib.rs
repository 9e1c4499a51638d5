//! The Braid linkage node: gRPC ingest and admin services over a RocksDB
//! store, with incremental match-key linkage into profiles.
//!
//! Two layers. The domain core — the [`Engine`] (ingest: prepare, link,
//! seal, write; the queries of admins and panels; uploads, retention, key
//! rotation) and the audit log — knows nothing of gRPC: it compiles and is
//! unit-tested without the default `grpc` feature, which adds the adapter
//! over it: the services, the gate every call passes, the `wire`
//! conversions, the TLS listener, the operations listener and [`spawn`].
//!
//! Architecture invariant: the node never depends on the agency-side
//! `braid-pseudonym` crate. It never normalises or hashes an identity and
//! never holds the scheme secret; it sees only keyed hashes and encodings.
//! Start at `spawn` (embedded, as the demo and tests use it) or `main.rs`.

// Without the adapter, what only the adapter calls goes unused.
#![cfg_attr(not(feature = "grpc"), allow(dead_code, unused_imports))]

mod audit;
mod config;
mod engine;
#[cfg(feature = "grpc")]
mod gate;
#[cfg(feature = "grpc")]
mod listener;
#[cfg(feature = "grpc")]
mod ops;
mod panel;
mod record;
mod restore;
mod retention;
mod rotation;
#[cfg(feature = "grpc")]
mod serve;
#[cfg(feature = "grpc")]
mod service;
mod space;
mod uploads;
/// What an upload's records and a caller's requests must satisfy before
/// anything reads them: public for the fuzz tests that drive it.
pub mod validate;
#[cfg(feature = "grpc")]
mod wire;

pub use audit::verify_directory;
pub use config::{AuditSettings, Limits, NodeConfig, TlsFiles};
pub use engine::{Engine, EngineError, IncomingBatch, Submission};
#[cfg(feature = "grpc")]
pub use listener::ListenerCounts;
pub use record::incoming_batch;
pub use restore::{restore_backup, Restored};
pub use retention::{RetentionRule, RetentionSettings};
#[cfg(feature = "grpc")]
pub use serve::{check_config, spawn, RunningNode};
