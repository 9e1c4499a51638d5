//! What the `braid` binary shares with the benchmarks (`braid-benches`): turning
//! pseudonymised records into API messages ([`convert`]) and writing a
//! development key kit ([`keys`]). Every command lives in the binary.

pub mod convert;
pub mod keys;
