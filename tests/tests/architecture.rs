//! The architecture invariants that dependencies can show, checked from
//! `cargo metadata` (ARCHITECTURE.md, "Architecture invariants"): the node
//! never depends on the agency-side pseudonymisation crate, only the store
//! names RocksDB, the domain crates never reach gRPC, and only the benches
//! switch on the node's audit bypass.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// The workspace's resolved dependency graph, by package id (a name may
/// stand for several versions): each package's normal (not dev or build)
/// dependencies, and every id's package name.
struct Graph {
    deps: HashMap<String, Vec<String>>,
    names: HashMap<String, String>,
    /// (package, dependency, feature) for every feature a package's
    /// dependency declaration switches on, dev-dependencies included.
    switched_on: Vec<(String, String, String)>,
}

impl Graph {
    fn read() -> Graph {
        // For this machine's platform only: other platforms' dependencies
        // are never downloaded, and offline their metadata cannot be read.
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
        let switched_on = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .flat_map(|p| {
                let package = p["name"].as_str().expect("name").to_owned();
                p["dependencies"].as_array().expect("dependencies").iter().flat_map(move |dep| {
                    let (package, name) = (package.clone(), dep["name"].as_str().expect("dependency name").to_owned());
                    dep["features"].as_array().expect("features").iter().map(move |f| (package.clone(), name.clone(), f.as_str().expect("feature").to_owned()))
                })
            })
            .collect();
        let names = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|p| (p["id"].as_str().expect("id").to_owned(), p["name"].as_str().expect("name").to_owned()))
            .collect();
        let deps = metadata["resolve"]["nodes"]
            .as_array()
            .expect("resolve nodes")
            .iter()
            .map(|node| {
                let deps = node["deps"]
                    .as_array()
                    .expect("deps")
                    .iter()
                    .filter(|dep| dep["dep_kinds"].as_array().expect("dep kinds").iter().any(|kind| kind["kind"].is_null()))
                    .map(|dep| dep["pkg"].as_str().expect("pkg").to_owned())
                    .collect();
                (node["id"].as_str().expect("id").to_owned(), deps)
            })
            .collect();
        Graph { deps, names, switched_on }
    }

    /// The id of the workspace package `name` (names of the workspace's
    /// own packages are unique).
    fn id(&self, name: &str) -> String {
        let ids: Vec<&String> = self.names.iter().filter(|(_, n)| *n == name).map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 1, "{name}: {ids:?}");
        ids[0].clone()
    }

    /// The names of everything `package` depends on, directly or not.
    fn reaches(&self, package: &str) -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut next = vec![self.id(package)];
        while let Some(id) = next.pop() {
            for dep in self.deps.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    next.push(dep.clone());
                }
            }
        }
        seen.iter().map(|id| self.names[id].clone()).collect()
    }

    /// The workspace packages that depend directly on one of `names`.
    fn direct_users(&self, names: &[&str]) -> Vec<String> {
        self.deps
            .iter()
            .filter(|(_, deps)| deps.iter().any(|d| names.contains(&self.names[d].as_str())))
            .map(|(id, _)| self.names[id].clone())
            .filter(|name| name.starts_with("braid-"))
            .collect()
    }
}

#[test]
fn dependencies_keep_the_architecture_invariants() {
    let graph = Graph::read();

    let node = graph.reaches("braid-node");
    assert!(!node.contains("braid-pseudonym"), "the node never depends on the agency side's pseudonymisation");
    assert!(node.contains("braid-store") && node.contains("tonic"), "the graph is read: {node:?}");

    // Only the store names RocksDB (the tests tamper with a store directly
    // and are the one other crate allowed to).
    let direct = graph.direct_users(&["rocksdb", "librocksdb-sys"]);
    let allowed = ["braid-store", "braid-tests"];
    assert!(direct.iter().all(|name| allowed.contains(&name.as_str())), "crates naming rocksdb: {direct:?}");
    assert!(direct.iter().any(|name| name == "braid-store"), "{direct:?}");

    for domain in ["braid-template", "braid-pseudonym", "braid-synth", "braid-linkage", "braid-signals", "braid-eval", "braid-store", "braid-audit"] {
        let deps = graph.reaches(domain);
        // (prost alone is allowed: the store and the audit log encode their
        // own messages with it.)
        for grpc in ["tonic", "braid-proto"] {
            assert!(!deps.contains(grpc), "{domain} reaches {grpc}: domain crates know nothing of gRPC");
        }
    }
    assert!(graph.reaches("braid-store").contains("rocksdb"), "the store's own dependencies are read");

    // The audit bypass the audit bench measures against is switched on by
    // the benches alone, and nothing a binary is built from reaches them.
    let baseline: Vec<&String> = graph.switched_on.iter().filter(|(_, dep, f)| dep == "braid-node" && f == "benchmark-baseline").map(|(p, _, _)| p).collect();
    assert_eq!(baseline, ["braid-benches"], "packages switching on braid-node's benchmark-baseline");
    for binary in ["braid-cli", "braid-node"] {
        assert!(!graph.reaches(binary).contains("braid-benches"), "{binary} reaches the benches");
    }
}

/// The node's domain core (the library without its default `grpc`
/// feature) builds without tonic or any HTTP server: what `cargo` would
/// compile for it alone, as `.ci/run` builds and unit-tests it.
#[test]
fn the_nodes_core_builds_without_grpc() {
    let tree = |features: &[&str]| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args(["tree", "-p", "braid-node", "-e", "normal", "--prefix", "none", "--offline", "--locked"])
            .args(features)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| line.split(' ').next().map(str::to_owned)).collect::<BTreeSet<String>>()
    };
    let core = tree(&["--no-default-features"]);
    assert!(core.contains("braid-store") && core.contains("braid-proto"), "the tree is read: {core:?}");
    for adapter in ["tonic", "tonic-prost", "tonic-health", "axum", "hyper", "h2", "tokio-rustls"] {
        assert!(!core.contains(adapter), "the node's core reaches {adapter}");
    }
    // The binary and the default build serve gRPC.
    assert!(tree(&[]).contains("tonic"), "the default build holds the adapter");
}
