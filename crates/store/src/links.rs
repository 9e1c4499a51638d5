//! How each involvement was linked: every decision made for it, with the
//! evidence, as the node stores it.

/// One linkage decision with its evidence.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredLink {
    /// Decision number (joined, merged, review…), as the linkage crate
    /// numbers them.
    #[prost(uint32, tag = "1")]
    pub decision: u32,
    /// The other involvement.
    #[prost(uint64, tag = "2")]
    pub other: u64,
    /// Bit k set when match-key rung k agrees.
    #[prost(uint32, tag = "3")]
    pub keys_agreeing: u32,
    /// Dice similarity of the encodings; absent when not comparable.
    #[prost(float, optional, tag = "4")]
    pub dice: Option<f32>,
    /// The comparison pattern's levels.
    #[prost(bytes = "vec", tag = "5")]
    pub levels: Vec<u8>,
    /// Log2 likelihood ratio when decided.
    #[prost(float, tag = "6")]
    pub weight: f32,
    /// Match probability when decided.
    #[prost(float, tag = "7")]
    pub probability: f32,
}

/// Every decision made for one involvement.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredLinks {
    /// Links and review items, strongest first.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<StoredLink>,
}
