//! The Merkle tree of RFC 6962 / RFC 9162 §2.1, with BLAKE3 in place of
//! SHA-256 and domain separation by BLAKE3's key-derivation mode: leaves and
//! interior nodes are hashed under different contexts, so a leaf can never be
//! passed off as a node or the reverse.
//!
//! `MTH({})` is the hash of nothing under the leaf context;
//! `MTH({d})` = leaf(d); `MTH(D[n])` = node(MTH(D[0:k]), MTH(D[k:n])) where k
//! is the largest power of two smaller than n. Proofs and their checks
//! follow RFC 9162 §2.1.3 (inclusion) and §2.1.4 (consistency).

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

const LEAF_CONTEXT: &str = "braid audit 2026 merkle leaf v1";
const NODE_CONTEXT: &str = "braid audit 2026 merkle node v1";

/// The hash of a leaf's bytes.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key(LEAF_CONTEXT);
    hasher.update(data);
    *hasher.finalize().as_bytes()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key(NODE_CONTEXT);
    hasher.update(left);
    hasher.update(right);
    *hasher.finalize().as_bytes()
}

/// The root of an empty tree: as RFC 6962 defines it, the hash of the
/// empty string with no domain separation, so that it is neither a leaf's
/// hash (a tree of one empty entry) nor a node's.
pub fn empty_root() -> Hash {
    *blake3::hash(b"").as_bytes()
}

/// The root earlier versions gave an empty tree (the leaf hash of
/// nothing). Checkpoints of size 0 signed with it still verify: a tree of
/// no entries has nothing to protect.
pub fn legacy_empty_root() -> Hash {
    *blake3::Hasher::new_derive_key(LEAF_CONTEXT).finalize().as_bytes()
}

fn split(n: usize) -> usize {
    // Largest power of two strictly smaller than n (n >= 2).
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH` of the given leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// An append-only tree kept as its frontier: the roots of the perfect
/// subtrees that make up its size, largest first. Appending and reading the
/// root cost O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, root) of each perfect subtree, left to right.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = (0u32, leaf);
        while let Some(&(height, left)) = self.peaks.last() {
            if height != carry.0 {
                break;
            }
            self.peaks.pop();
            carry = (height + 1, node_hash(&left, &carry.1));
        }
        self.peaks.push(carry);
        self.size += 1;
    }

    /// `MTH` of the leaves so far: the peaks folded right to left, which is
    /// the same split as RFC 6962's.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, mut hash)) = peaks.next() else {
            return empty_root();
        };
        for (_, left) in peaks {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

/// The audit path of leaf `index` in the tree of the first `size` leaves
/// (RFC 6962 §2.1.1 `PATH`). `None` when `index >= size` or `size` exceeds
/// the leaves given.
pub fn inclusion_proof(leaves: &[Hash], index: usize, size: usize) -> Option<Vec<Hash>> {
    if index >= size || size > leaves.len() {
        return None;
    }
    fn path(index: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = split(n);
        if index < k {
            path(index, &leaves[..k], out);
            out.push(root(&leaves[k..]));
        } else {
            path(index - k, &leaves[k..], out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    path(index, &leaves[..size], &mut out);
    Some(out)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root_hash: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root_hash
}

/// The consistency proof between the trees of the first `old` and `new`
/// leaves (RFC 6962 §2.1.2 `PROOF`). `None` unless `0 < old <= new <=
/// leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old: usize, new: usize) -> Option<Vec<Hash>> {
    if old == 0 || old > new || new > leaves.len() {
        return None;
    }
    fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &leaves[..k], complete, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(old, &leaves[..new], true, &mut out);
    Some(out)
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(old: u64, new: u64, proof: &[Hash], old_root: &Hash, new_root: &Hash) -> bool {
    if old == 0 || old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    let mut proof: Vec<Hash> = proof.to_vec();
    if old.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((&first, rest)) = proof.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    &fr == old_root && &sr == new_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    #[test]
    fn the_empty_tree_root_is_the_hash_of_nothing_and_no_leaf() {
        // RFC 6962: MTH({}) = HASH(), distinct from the tree of one empty leaf.
        assert_eq!(root(&[]), *blake3::hash(b"").as_bytes());
        assert_ne!(root(&[]), root(&[leaf_hash(b"")]));
        assert_eq!(Frontier::new().root(), root(&[]));
        assert_eq!(legacy_empty_root(), leaf_hash(b""), "what earlier versions signed at size 0");
    }

    #[test]
    fn leaf_and_node_hashing_are_separated() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let concatenated: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        assert_ne!(node_hash(&a, &b), leaf_hash(&concatenated));
    }

    #[test]
    fn the_frontier_agrees_with_the_recursive_definition() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), root(&[]));
        for (n, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.root(), root(&all[..=n]), "size {}", n + 1);
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let all = leaves(33);
        for size in 1..=all.len() {
            let tree = root(&all[..size]);
            for index in 0..size {
                let proof = inclusion_proof(&all, index, size).expect("proof");
                assert!(verify_inclusion(&all[index], index as u64, size as u64, &proof, &tree), "{index}/{size}");
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(&other, index as u64, size as u64, &proof, &tree));
                if size > 1 {
                    assert!(!verify_inclusion(&all[index], ((index + 1) % size) as u64, size as u64, &proof, &tree));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_rewritten_history_does_not() {
        let all = leaves(33);
        for new in 1..=all.len() {
            for old in 1..=new {
                let proof = consistency_proof(&all, old, new).expect("proof");
                assert!(verify_consistency(old as u64, new as u64, &proof, &root(&all[..old]), &root(&all[..new])), "{old}->{new}");
            }
        }
        // A log that rewrote entry 3 after a checkpoint at size 8.
        let mut rewritten = all.clone();
        rewritten[3] = leaf_hash(b"rewritten");
        let proof = consistency_proof(&rewritten, 8, 20).expect("proof");
        assert!(!verify_consistency(8, 20, &proof, &root(&all[..8]), &root(&rewritten[..20])));
    }
}
