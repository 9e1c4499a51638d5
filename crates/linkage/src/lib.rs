//! Pure matching logic: packed Bloom encodings and the Dice kernel, the
//! Fellegi–Sunter model estimated by EM, the incremental linker with its
//! blocking index and anti-chaining profile decisions, profiles as a
//! union-find with an undo journal, and evaluation against ground truth.
//!
//! Architecture invariant: no I/O here. The node stores what the linker
//! decides and rebuilds the linker's index from storage when it starts.

pub mod bloom;
mod evaluate;
pub mod fields;
mod linker;
pub mod model;
mod union_find;

pub use bloom::Bloom;
pub use evaluate::{evaluate, evaluate_households, HouseholdScores, Scores};
pub use fields::Tokens;
pub use linker::{key_kind_name, Decision, Evidence, Involvement, KeyFingerprint, LinkEntry, Linker, LinkerConfig, Outcome, MAX_LSH_BITS};
pub use model::Model;
pub use union_find::{Mark, MemberIter, ParentChange, Sealed, SealedMembers, UnionFind};

/// Involvement ids are assigned by the node, densely from 1.
pub type InvolvementId = u64;

/// SplitMix64's finaliser: a fast, well-mixing bijection on `u64`.
#[inline]
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
