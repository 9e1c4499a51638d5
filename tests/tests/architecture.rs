//! The architecture invariants that dependencies can show, checked from
//! `cargo metadata` (ARCHITECTURE.md, "Architecture invariants"): the node
//! never depends on the agency-side pseudonymisation crate, only the store
//! names RocksDB, and the domain crates never reach gRPC.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// The workspace's resolved dependency graph: package name → the names of
/// its normal (not dev or build) dependencies.
fn normal_dependencies() -> HashMap<String, Vec<String>> {
    // For this machine's platform only: other platforms' dependencies are
    // never downloaded, and offline their metadata cannot be read.
    let rustc = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout).lines().find_map(|l| l.strip_prefix("host: ").map(str::to_owned)).expect("rustc names its host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let names: HashMap<&str, &str> =
        metadata["packages"].as_array().expect("packages").iter().map(|p| (p["id"].as_str().expect("id"), p["name"].as_str().expect("name"))).collect();
    metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|node| {
            let deps = node["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|dep| dep["dep_kinds"].as_array().expect("dep kinds").iter().any(|kind| kind["kind"].is_null()))
                .map(|dep| names[dep["pkg"].as_str().expect("pkg")].to_owned())
                .collect();
            (names[node["id"].as_str().expect("id")].to_owned(), deps)
        })
        .collect()
}

/// Everything `package` depends on, directly or not (normal dependencies).
fn reaches(graph: &HashMap<String, Vec<String>>, package: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next = vec![package.to_owned()];
    while let Some(name) = next.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                next.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn dependencies_keep_the_architecture_invariants() {
    let graph = normal_dependencies();
    assert!(graph.contains_key("braid-node") && graph.contains_key("braid-store"), "{:?}", graph.keys().collect::<Vec<_>>());

    let node = reaches(&graph, "braid-node");
    assert!(!node.contains("braid-pseudonym"), "the node never depends on the agency side's pseudonymisation");
    assert!(node.contains("braid-store") && node.contains("tonic"), "the graph is read: {node:?}");

    // Only the store names RocksDB (the tests tamper with a store directly
    // and are the one other crate allowed to).
    let direct: Vec<&String> =
        graph.iter().filter(|(_, deps)| deps.iter().any(|d| d == "rocksdb")).map(|(name, _)| name).filter(|name| name.starts_with("braid-")).collect();
    let allowed = ["braid-store", "braid-tests"];
    assert!(direct.iter().all(|name| allowed.contains(&name.as_str())), "crates naming rocksdb: {direct:?}");
    assert!(direct.iter().any(|name| *name == "braid-store"));

    for domain in ["braid-template", "braid-pseudonym", "braid-synth", "braid-linkage", "braid-signals", "braid-store", "braid-audit"] {
        let deps = reaches(&graph, domain);
        assert!(graph.contains_key(domain), "{domain} is a workspace crate");
        // (prost alone is allowed: the store and the audit log encode their
        // own messages with it.)
        for grpc in ["tonic", "braid-proto"] {
            assert!(!deps.contains(grpc), "{domain} reaches {grpc}: domain crates know nothing of gRPC");
        }
    }
}
