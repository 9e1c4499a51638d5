use super::*;

fn entry(i: u64) -> Entry {
    Entry {
        time_ms: 1_700_000_000_000 + i,
        principal: format!("agency-{}", i % 3),
        role: "agency:CSC-NORTH".to_owned(),
        action: "ingest.upload".to_owned(),
        touched: vec![format!("r-{i:04}")],
        result_count: i,
        outcome: "ok".to_owned(),
        ..Entry::default()
    }
}

/// A log of `n` entries as stored: (position, bytes), with the node's key
/// and a checkpoint every 10 entries.
/// Stored entries as `(index, encoding)`.
type Stored = Vec<(u64, Vec<u8>)>;

fn build(n: u64) -> (Stored, Vec<Checkpoint>, Signer) {
    let (signer, _) = Signer::generate().expect("key");
    let mut log = Log::new();
    let mut stored = Vec::new();
    let mut checkpoints = Vec::new();
    for i in 0..n {
        let (entry, bytes, _) = log.append(entry(i));
        stored.push((entry.index, bytes));
        if log.size().is_multiple_of(10) {
            checkpoints.push(signer.checkpoint(log.size(), log.root(), 1));
        }
    }
    (stored, checkpoints, signer)
}

fn first_bad(result: Result<Verified, Error>) -> u64 {
    match result {
        Err(Error::Entry { index, .. }) => index,
        other => panic!("expected an entry error, got {other:?}"),
    }
}

#[test]
fn an_untouched_log_verifies_with_its_checkpoints() {
    let (stored, checkpoints, signer) = build(35);
    let verified = verify(stored, &checkpoints, &checkpoints[..1], &signer.public_key()).expect("verifies");
    assert_eq!(verified.entries, 35);
    assert_eq!(verified.checkpoints, 3);
}

#[test]
fn an_edited_entry_is_named() {
    let (mut stored, checkpoints, signer) = build(35);
    let mut edited = Entry::decode(stored[17].1.as_slice()).expect("decode");
    edited.principal = "someone-else".to_owned();
    stored[17].1 = edited.encode_to_vec();
    assert_eq!(first_bad(verify(stored, &checkpoints, &[], &signer.public_key())), 17);
}

#[test]
fn a_deleted_entry_is_named() {
    let (mut stored, checkpoints, signer) = build(35);
    stored.remove(12);
    assert_eq!(first_bad(verify(stored, &checkpoints, &[], &signer.public_key())), 12);
}

#[test]
fn reordered_entries_are_named() {
    let (mut stored, checkpoints, signer) = build(35);
    // Swap the contents of positions 20 and 21 (keys stay in order).
    let (a, b) = (stored[20].1.clone(), stored[21].1.clone());
    stored[20].1 = b;
    stored[21].1 = a;
    assert_eq!(first_bad(verify(stored, &checkpoints, &[], &signer.public_key())), 20);
}

#[test]
fn an_inserted_entry_is_named_even_with_a_forged_position() {
    let (mut stored, checkpoints, signer) = build(35);
    let mut forged = entry(99);
    forged.index = 8;
    forged.root_after = vec![0; 32];
    stored.insert(8, (8, forged.encode_to_vec()));
    for (position, item) in stored.iter_mut().enumerate().skip(9) {
        item.0 = position as u64;
    }
    assert_eq!(first_bad(verify(stored, &checkpoints, &[], &signer.public_key())), 8);
}

#[test]
fn a_node_that_rewrites_history_fails_against_a_checkpoint_saved_earlier() {
    let (stored, checkpoints, signer) = build(30);
    let saved = checkpoints[0].clone();
    // The node rebuilds its log with entry 4 changed, re-signing everything.
    let mut log = Log::new();
    let mut rewritten = Vec::new();
    let mut new_checkpoints = Vec::new();
    for i in 0..30 {
        let mut e = entry(i);
        if i == 4 {
            e.principal = "nobody".to_owned();
        }
        let (e, bytes, _) = log.append(e);
        rewritten.push((e.index, bytes));
        if log.size().is_multiple_of(10) {
            new_checkpoints.push(signer.checkpoint(log.size(), log.root(), 2));
        }
    }
    // On its own the rewritten log is self-consistent...
    assert!(verify(rewritten.clone(), &new_checkpoints, &[], &signer.public_key()).is_ok());
    // ...but not with what the auditor saved.
    let error = verify(rewritten, &new_checkpoints, std::slice::from_ref(&saved), &signer.public_key()).expect_err("rewritten");
    assert!(error.to_string().contains("history was rewritten"), "{error}");
    assert!(verify(stored, &checkpoints, &[saved], &signer.public_key()).is_ok());
}

#[test]
fn checkpoints_round_trip_as_text_and_forged_ones_fail() {
    let (stored, checkpoints, signer) = build(20);
    let text = checkpoints[1].to_text();
    let back = Checkpoint::from_text(&text).expect("parse");
    assert_eq!(back, checkpoints[1]);
    let mut forged = back.clone();
    forged.root[0] ^= 1;
    assert!(!forged.verify_signature(&signer.public_key()));
    let error = verify(stored, &[forged], &[], &signer.public_key()).expect_err("forged");
    assert!(error.to_string().contains("signature"), "{error}");
    assert!(Checkpoint::from_text("hello").is_err());
    // The C2SP signed-note form: origin, size, base64 root, extension,
    // blank line, then `— name base64(key id ‖ signature)`.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("braid.audit/"));
    assert_eq!(lines[1], checkpoints[1].size.to_string());
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("\u{2014} braid-node "));
    let key = verifier_key(&signer.public_key());
    let parts: Vec<&str> = key.splitn(3, '+').collect();
    assert_eq!((parts[0], parts[1].len()), ("braid-node", 8), "{key}");
    // A note whose body was changed no longer verifies.
    let edited = text.replacen(&format!("\n{}\n", checkpoints[1].size), &format!("\n{}\n", checkpoints[1].size + 1), 1);
    assert!(!Checkpoint::from_text(&edited).expect("parses").verify_signature(&signer.public_key()));
    let (other, _) = Signer::generate().expect("key");
    assert!(!checkpoints[0].verify_signature(&other.public_key()));
}

#[test]
fn a_resumed_log_continues_the_same_tree() {
    let (stored, _, _) = build(13);
    let leaves: Vec<Hash> = stored.iter().map(|(_, bytes)| leaf_of(&Entry::decode(bytes.as_slice()).expect("decode"))).collect();
    let mut resumed = Log::resume(leaves.clone());
    let mut fresh = Log::resume(leaves);
    let (a, ..) = resumed.append(entry(13));
    let (b, ..) = fresh.append(entry(13));
    assert_eq!(a.root_after, b.root_after);
    assert_eq!(resumed.size(), 14);
}

#[test]
fn a_size_zero_checkpoint_from_an_earlier_version_still_verifies() {
    let (stored, mut checkpoints, signer) = build(12);
    checkpoints.push(signer.checkpoint(0, merkle::legacy_empty_root(), 1));
    checkpoints.push(signer.checkpoint(0, merkle::empty_root(), 2));
    verify(stored.clone(), &checkpoints, &[], &signer.public_key()).expect("both size-0 roots verify");
    // Any other root at size 0 does not.
    let forged = vec![signer.checkpoint(0, merkle::leaf_hash(b"x"), 3)];
    assert!(verify(stored, &forged, &[], &signer.public_key()).is_err());
}

#[test]
fn stored_bytes_are_hashed_as_stored() {
    let (mut stored, checkpoints, signer) = build(15);
    // The same entry, decodable and equal, with an unknown field added.
    stored[4].1.extend_from_slice(&[0xf8, 0x06, 0x01]);
    assert_eq!(first_bad(verify(stored, &checkpoints, &[], &signer.public_key())), 4);
    // A verifier key names its key and nothing else.
    let key = signer.public_key();
    assert_eq!(parse_verifier_key(&verifier_key(&key)).expect("parses"), key);
    // Keys whose base64 holds a '+' parse too.
    for _ in 0..64 {
        let key = Signer::generate().expect("key").0.public_key();
        assert_eq!(parse_verifier_key(&verifier_key(&key)).expect("parses"), key);
    }
    assert!(parse_verifier_key("braid-node+00000000+AAAA").is_err());
    let other = Signer::generate().expect("key").0.public_key();
    let mut mixed = verifier_key(&other);
    mixed.replace_range(11..19, &verifier_key(&key)[11..19]);
    assert!(parse_verifier_key(&mixed).is_err(), "a key id that is not the key's");
}
