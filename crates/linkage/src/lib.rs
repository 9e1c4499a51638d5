//! Pure matching logic: profiles as a union-find over involvement ids, with a
//! journal so that a batch's unions can be rolled back when its write fails,
//! and evaluation against ground truth.
//!
//! Architecture invariant: no I/O here. The node reads candidates from the
//! store and feeds them in; this crate decides and records.

mod evaluate;
mod union_find;

pub use evaluate::{evaluate, Scores};
pub use union_find::{Mark, ParentChange, UnionFind};

/// Involvement ids are assigned by the node, densely from 1.
pub type InvolvementId = u64;
