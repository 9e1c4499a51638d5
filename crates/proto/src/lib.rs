//! The `braid.v1` API: prost messages and tonic clients and servers generated
//! from `proto/braid/v1/` at build time.
//!
//! Only service adapters (the node and the CLI) use these types; domain crates
//! convert from them with `TryFrom` at the boundary and never import tonic.

#![allow(missing_docs)]

/// The API's encoded `FileDescriptorSet`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/braid_descriptor.bin"));

/// Version 1 of the API.
pub mod v1 {
    tonic::include_proto!("braid.v1");
}
