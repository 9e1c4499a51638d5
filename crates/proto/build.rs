//! Compiles `proto/braid/v1/*.proto` with the pure-Rust `protox` front end (no
//! external `protoc`) and generates prost messages and tonic services into
//! `OUT_DIR`, with the encoded file descriptor set (for server reflection).
//! Without the `grpc` feature only the messages are generated.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let files = ["records.proto", "ingest.proto", "admin.proto", "panel.proto", "audit.proto"].map(|name| proto_root.join("braid/v1").join(name));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    // The encoded descriptors, for gRPC server reflection (off by default).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("braid_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure().build_server(grpc).build_client(grpc).compile_fds(descriptors)?;
    Ok(())
}
