//! Evaluation of what the node produced against ground truth: linkage
//! quality of a cluster export ([`clusters`]) and the precision and recall
//! of raised signals against the patterns planted in synthetic data
//! ([`signals`]). `braid eval` reads the files a node and a generator wrote;
//! `braid demo` scores its own rows against the truth file.

pub mod clusters;
pub mod signals;

pub use clusters::{evaluate_clusters, read_clusters, read_csv, read_truth, ClusterLine, Evaluation, LocalIds, TruthLine};
