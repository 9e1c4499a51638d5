//! Property test of the hard guards: whatever the records and the order
//! they arrive in, and whatever is withdrawn or re-linked, no profile ever
//! holds two involvements that conflict — NHS numbers that differ, or
//! dates of birth more than eighteen months apart (so in particular more
//! than two years) — unless a stronger identifier ties that very pair (the
//! same NHS number or other identifier, or one agency's person ref). Records
//! with missing fields are included, so chaining through them is tested too.
//! Nor does a profile ever hold two people one record names under
//! different person refs.

use braid_linkage::fields::{Tokens, WINDOWS};
use braid_linkage::{Involvement, InvolvementId, KeyFingerprint, Linker, LinkerConfig};
use proptest::prelude::*;

/// A person: few name classes and few agencies, so that many records
/// collide on names, postcodes and person refs.
#[derive(Debug, Clone)]
struct Record {
    name: u32,
    dob: Option<i64>,
    postcode: u32,
    nhs: Option<u8>,
    agency: u32,
    person: u64,
    /// The agency's record (case) it is part of, 0 for none of its own; a
    /// record's involvements arrive one after another.
    case: u64,
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn involvement(r: &Record) -> Involvement {
    let mut t = Tokens::default();
    if r.name != 0 {
        t.name = r.name * 7919;
        t.name_any_order = t.name + 1;
        t.name_phonetic = t.name + 2;
    }
    if let Some(day) = r.dob {
        t.dob = (day as u32).wrapping_mul(31) | 1;
        t.dob_any_order = t.dob;
        if r.name != 0 {
            for grid in 0..WINDOWS {
                let window = (day + grid as i64 * 182).div_euclid(730);
                t.dob_windows[grid] = mix(u64::from(r.name) << 40 ^ (grid as u64) << 32 ^ window as u64) as u32 | 1;
            }
        }
        t.forename_by_dob = t.dob ^ r.name.wrapping_mul(0x9e37);
        t.surname_by_dob = t.dob ^ r.name.wrapping_mul(0x7f4a);
    }
    if r.postcode != 0 {
        t.postcode = r.postcode * 104_729;
    }
    let mut keys = Vec::new();
    let mut key = |kind: u8, value: u64| {
        let hash = mix(value ^ u64::from(kind) << 56).to_le_bytes();
        keys.push(KeyFingerprint::new(kind, &hash).expect("key"));
    };
    if let Some(nhs) = r.nhs {
        key(1, u64::from(nhs));
    }
    if r.name != 0 && r.postcode != 0 {
        key(9, u64::from(r.name) << 20 | u64::from(r.postcode));
    }
    if r.name != 0 {
        if let Some(day) = r.dob {
            key(2, u64::from(r.name) << 32 | day as u64);
        }
    }
    Involvement { keys, bloom: None, agency: r.agency, person: r.person, record: r.case, tokens: t, passive: false }
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop_oneof![4 => 1u32..4, 1 => Just(0u32)],
        prop_oneof![3 => (0i64..4).prop_map(|k| Some(14_000 + k * 400)), 1 => Just(None)],
        0u32..3,
        prop_oneof![3 => Just(None), 1 => (1u8..3).prop_map(Some)],
        0u32..3,
        0u64..6,
    )
        .prop_map(|(name, dob, postcode, nhs, agency, person)| Record { name, dob, postcode, nhs, agency, person, case: 0 })
}

/// Records, some of them further people of the record before (same agency,
/// same case, one after another).
fn records() -> impl Strategy<Value = Vec<Record>> {
    proptest::collection::vec((record(), prop_oneof![2 => Just(false), 1 => Just(true)]), 2..40).prop_map(|drawn| {
        let mut out: Vec<Record> = Vec::with_capacity(drawn.len());
        for (i, (mut record, continues)) in drawn.into_iter().enumerate() {
            if let (true, Some(previous)) = (continues, out.last_mut()) {
                if previous.case == 0 {
                    previous.case = i as u64;
                }
                record.case = previous.case;
                record.agency = previous.agency;
            }
            out.push(record);
        }
        out
    })
}

/// True when the pair conflicts and nothing stronger ties it.
fn refused(a: &Record, b: &Record) -> bool {
    if a.agency == b.agency && a.person == b.person {
        return false;
    }
    if a.agency == b.agency && a.case != 0 && a.case == b.case {
        // Unless an identifier says the record named one person twice.
        return !matches!((a.nhs, b.nhs), (Some(x), Some(y)) if x == y);
    }
    match (a.nhs, b.nhs) {
        (Some(x), Some(y)) if x == y => return false,
        (Some(_), Some(_)) => return true,
        _ => {}
    }
    match (a.dob, b.dob) {
        // Same name class, both dates recorded, more than 18 months apart.
        (Some(x), Some(y)) => a.name != 0 && a.name == b.name && (x - y).abs() > 547,
        _ => false,
    }
}

fn check(linker: &Linker, records: &[Record], live: &[bool]) -> Result<(), TestCaseError> {
    let profiles = linker.profiles();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if !live[i] || !live[j] {
                continue;
            }
            let (a, b) = ((i + 1) as InvolvementId, (j + 1) as InvolvementId);
            if profiles.find(a) == profiles.find(b) {
                prop_assert!(!refused(&records[i], &records[j]), "records {i} and {j} conflict but share a profile: {:?} {:?}", records[i], records[j]);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("BRAID_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn no_profile_ever_holds_a_conflicting_pair(
        records in records(),
        withdraw in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut linker = Linker::new(LinkerConfig::default());
        for (i, r) in records.iter().enumerate() {
            linker.insert(i as u64 + 1, &involvement(r));
        }
        let mut live = vec![true; records.len()];
        check(&linker, &records, &live)?;
        let gone: Vec<InvolvementId> = withdraw.iter().map(|ix| ix.index(records.len()) as u64 + 1).collect();
        for id in &gone {
            live[*id as usize - 1] = false;
        }
        linker.withdraw_and_relink(&gone);
        check(&linker, &records, &live)?;
        let all = linker.live_ids();
        linker.relink(&all);
        check(&linker, &records, &live)?;
    }
}
