//! Key rotation end to end, through the real `braid` binary and a node
//! serving mTLS over RocksDB: four agencies move from key epoch 1 to 2
//! while the node keeps linking. The custodian writes the next secret
//! (`braid keys next-epoch`), the administrator opens the rotation
//! (`braid admin epochs --begin`), agencies re-pseudonymise with
//! `--bridge-secret` and upload one by one, linkage holds across the
//! window, the rotation cannot finish while an agency is behind, and once
//! finished the node refuses epoch 1, its pseudonyms are gone from every
//! file of the data directory, and uploads under epoch 2 link as before.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use braid_tests::*;

/// A person's involvement in a case, as the agency knows it: (agency, case
/// id, person id).
type Local = (String, String, String);

/// Each involvement's profile, by its local ids (the re-identification maps
/// turn refs back into them, whichever epoch the refs were made under).
fn profiles(clusters: &str, reids: &[String]) -> BTreeMap<Local, String> {
    let mut local: HashMap<(String, String, String), Local> = HashMap::new();
    for reid in reids {
        let mut reader = csv::Reader::from_path(reid).expect("reid map");
        for row in reader.records() {
            let row = row.expect("reid row");
            // agency, record_ref, case_id, person_ref, person_id
            local.insert((row[0].to_owned(), row[1].to_owned(), row[3].to_owned()), (row[0].to_owned(), row[2].to_owned(), row[4].to_owned()));
        }
    }
    let mut out = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(clusters.as_bytes());
    for row in reader.records() {
        let row = row.expect("cluster row");
        // agency, record_ref, person_ref, role, profile_id, identified
        let key = (row[0].to_owned(), row[1].to_owned(), row[2].to_owned());
        let person = local.get(&key).unwrap_or_else(|| panic!("an involvement of {} is in no re-identification map", &row[0])).clone();
        out.insert(person, row[4].to_owned());
    }
    out
}

/// The pairs of involvements two partitions put together, and how far they
/// agree: pairwise F1 of `b` against `a`.
fn agreement(a: &BTreeMap<Local, String>, b: &BTreeMap<Local, String>) -> f64 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same involvements in both");
    let pairs = |partition: &BTreeMap<Local, String>| {
        let mut groups: HashMap<&String, Vec<&Local>> = HashMap::new();
        for (member, profile) in partition {
            groups.entry(profile).or_default().push(member);
        }
        let mut out = BTreeSet::new();
        for members in groups.values() {
            for (i, x) in members.iter().enumerate() {
                for y in &members[i + 1..] {
                    out.insert(((*x).clone(), (*y).clone()));
                }
            }
        }
        out
    };
    let (pa, pb) = (pairs(a), pairs(b));
    let common = pa.intersection(&pb).count() as f64;
    if pa.is_empty() && pb.is_empty() {
        return 1.0;
    }
    2.0 * common / (pa.len() + pb.len()) as f64
}

/// How many of `needles` some file under `dir` holds.
fn found_on_disk(dir: &Path, needles: &[Vec<u8>]) -> usize {
    files_holding(dir, needles).iter().filter(|files| !files.is_empty()).count()
}

/// A sample of the Bloom encodings in a pseudonymised file.
fn encodings(path: &str) -> Vec<Vec<u8>> {
    let (_, records) = read_extract(Path::new(path));
    records.iter().filter_map(|record| record.involvements[0].pseudonyms.as_ref().map(|p| p.bloom.clone())).filter(|bloom| !bloom.is_empty()).take(20).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_agencies_move_to_a_new_key_epoch_without_a_gap_in_linkage() {
    let prepared = prepare(300);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let p = prepared.path("");
    let path = move |name: &str| format!("{p}/{name}");
    let keys = path("keys");
    let pseudonymise = {
        let path = path.clone();
        move |agency: &str, secret: &str, bridge: Option<&str>, out: &str| {
            let mut args = vec![
                "agency".to_owned(),
                "pseudonymise".into(),
                "--mapping".into(),
                path(&format!("synth/{agency}.mapping.toml")),
                "--secret".into(),
                path(secret),
                "--input".into(),
                path(&format!("synth/{agency}.csv")),
                "--out".into(),
                path(out),
            ];
            if let Some(bridge) = bridge {
                args.extend(["--bridge-secret".to_owned(), path(bridge)]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok(&braid(&args))
        }
    };
    let clusters = {
        let (path, keys, url) = (path.clone(), keys.clone(), url.clone());
        move || {
            ok(&braid_as(&keys, "admin", &["admin", "clusters", "--node", &url, "--out", &path("clusters.csv")]));
            std::fs::read_to_string(path("clusters.csv")).expect("clusters")
        }
    };
    let epochs = {
        let (keys, url) = (keys.clone(), url.clone());
        move || json(&ok(&braid_as(&keys, "admin", &["admin", "epochs", "--node", &url, "--json"])))
    };
    let moved = |answer: &serde_json::Value, agency: &str| -> (u64, u64) {
        let row =
            answer["agencies"].as_array().expect("agencies").iter().find(|a| a["agency"] == agency).cloned().unwrap_or_else(|| panic!("no {agency}: {answer}"));
        (row["moved"].as_u64().expect("moved"), row["records"].as_u64().expect("records"))
    };
    let reids = |files: &[(&str, &str)]| -> Vec<String> { files.iter().map(|(agency, suffix)| path(&format!("{agency}{suffix}.reid.csv"))).collect() };
    let epoch1: Vec<(&str, &str)> = AGENCIES.iter().map(|a| (*a, "")).collect();

    let (k, u, pth, c, e) = (keys.clone(), url.clone(), path.clone(), clusters.clone(), epochs.clone());
    let (before, stats_before, epochs_before, fingerprint, refused_early) = blocking(move || {
        for agency in AGENCIES {
            ok(&upload(&k, &u, agency, &pth(&format!("{agency}.bpx"))));
        }
        let before = c();
        let stats_before = stats(&k, &u);
        let epochs_before = e();
        let next = ok(&braid(&["keys", "next-epoch", "--secret", &pth("keys/scheme.secret"), "--out", &pth("keys/scheme-2.secret")]));
        let fingerprint = next.split("fingerprint ").nth(1).and_then(|rest| rest.split(')').next()).expect("the new fingerprint").to_owned();
        // Before the rotation is opened, the new epoch is refused.
        ok(&braid(&[
            "agency",
            "pseudonymise",
            "--mapping",
            &pth("synth/CSC-NORTH.mapping.toml"),
            "--secret",
            &pth("keys/scheme-2.secret"),
            "--input",
            &pth("synth/CSC-NORTH.csv"),
            "--out",
            &pth("early.bpx"),
        ]));
        let refused_early = failed(&upload(&k, &u, "CSC-NORTH", &pth("early.bpx")));
        (before, stats_before, epochs_before, fingerprint, refused_early)
    })
    .await;
    let before = profiles(&before, &reids(&epoch1));
    let epoch1_fingerprint = epochs_before["current"].as_str().expect("current epoch").to_owned();
    assert!(epoch1_fingerprint.starts_with("e1-"), "{epochs_before}");
    assert!(fingerprint.starts_with("e2-"), "{fingerprint}");
    assert_eq!(epochs_before["next"], serde_json::Value::Null, "{epochs_before}");
    assert!(refused_early.contains(&epoch1_fingerprint) && refused_early.contains(&fingerprint), "{refused_early}");
    let records = stats_before["records"].as_u64().expect("records");

    // The administrator opens the rotation; a panel may not, nor may it be
    // opened twice.
    let (k, u, f) = (keys.clone(), url.clone(), fingerprint.clone());
    let (opened, by_panel, twice) = blocking(move || {
        // A rotation opened by mistake can be cancelled while no agency
        // has moved.
        let garbage = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", "garbage"]));
        assert!(garbage.contains("an epoch fingerprint is `e`"), "{garbage}");
        let empty = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", ""]));
        assert!(empty.contains("--begin needs the new key epoch's fingerprint"), "{empty}");
        let backwards = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", "e1-0000000000000000"]));
        assert!(backwards.contains("is not after the one held"), "{backwards}");
        ok(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", "e9-0000000000000000"]));
        let another = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", &f]));
        assert!(another.contains("cancel it (--cancel)"), "{another}");
        let cancelled = ok(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--cancel"]));
        assert!(cancelled.contains("e9-0000000000000000 cancelled"), "{cancelled}");
        let opened = ok(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", &f]));
        let by_panel = failed(&braid_as(&k, "panel-north", &["admin", "epochs", "--node", &u, "--begin", &f]));
        let twice = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--begin", &f]));
        (opened, by_panel, twice)
    })
    .await;
    assert!(opened.contains("rotation opened") && opened.contains(&fingerprint), "{opened}");
    assert!(by_panel.contains("may not"), "{by_panel}");
    assert!(twice.contains("already open"), "{twice}");

    // An upload under the new epoch without bridge pseudonyms is refused
    // with what to do; two agencies move; the finish is refused while the
    // other two are behind, and an epoch 1 upload is still accepted.
    let (k, u, pth, ps, e, c) = (keys.clone(), url.clone(), path.clone(), pseudonymise.clone(), epochs.clone(), clusters.clone());
    let (unbridged, halfway, finish_early, resent, stats_halfway, clusters_halfway) = blocking(move || {
        let unbridged = failed(&upload(&k, &u, "CSC-NORTH", &pth("early.bpx")));
        for agency in ["CSC-NORTH", "POL-NORTH"] {
            let said = ps(agency, "keys/scheme-2.secret", Some("keys/scheme.secret"), &format!("{agency}-2.bpx"));
            assert!(said.contains("key rotation"), "{said}");
            ok(&upload(&k, &u, agency, &pth(&format!("{agency}-2.bpx"))));
        }
        let halfway = e();
        let finish_early = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--finish"]));
        let cancel_late = failed(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--cancel"]));
        assert!(cancel_late.contains("CSC-NORTH, POL-NORTH") && cancel_late.contains("only be finished"), "{cancel_late}");
        let resent = ok(&upload(&k, &u, "VOL-NORTH", &pth("VOL-NORTH.bpx")));
        // (Cut into other batches, so that no stored acknowledgement
        // answers it.)
        let twice = failed(&braid_as(&k, "csc-north", &["agency", "upload", "--node", &u, "--batch-size", "7", &pth("CSC-NORTH.bpx")]));
        assert!(twice.contains("has begun moving") && twice.contains("twice"), "an agency that has moved may not send its old epoch's file: {twice}");
        (unbridged, halfway, finish_early, resent, stats(&k, &u), c())
    })
    .await;
    assert!(unbridged.contains("--bridge-secret"), "{unbridged}");
    assert_eq!(halfway["next"], fingerprint.as_str(), "{halfway}");
    for agency in ["CSC-NORTH", "POL-NORTH"] {
        let (moved_records, held) = moved(&halfway, agency);
        assert!(held > 0 && moved_records == held, "{agency} has moved every record: {halfway}");
    }
    for agency in ["YOT-NORTH", "VOL-NORTH"] {
        assert_eq!(moved(&halfway, agency).0, 0, "{agency} has not started: {halfway}");
    }
    assert!(finish_early.contains("YOT-NORTH") && finish_early.contains("VOL-NORTH") && !finish_early.contains("CSC-NORTH"), "{finish_early}");
    assert!(resent.contains("already stored by an earlier attempt"), "{resent}");
    // Moved records replaced the old ones (no record is held twice), and
    // they link as before with the agencies still on epoch 1.
    assert_eq!(stats_halfway["records"].as_u64(), Some(records), "{stats_halfway}");
    // A moved record keeps its involvements, so every profile (and its id)
    // is what it was.
    let halfway_refs = reids(&[("CSC-NORTH", "-2"), ("POL-NORTH", "-2"), ("YOT-NORTH", ""), ("VOL-NORTH", "")]);
    assert_eq!(profiles(&clusters_halfway, &halfway_refs), before, "moving changes no profile");
    // A restart in the middle of the rotation rebuilds the same state.
    node.stop().await.expect("stop");
    let node = start_node(&keys, data.path(), loopback()).await;
    let url = node.url();
    let clusters = {
        let (path, keys, url) = (path.clone(), keys.clone(), url.clone());
        move || {
            ok(&braid_as(&keys, "admin", &["admin", "clusters", "--node", &url, "--out", &path("clusters.csv")]));
            std::fs::read_to_string(path("clusters.csv")).expect("clusters")
        }
    };
    let epochs = {
        let (keys, url) = (keys.clone(), url.clone());
        move || json(&ok(&braid_as(&keys, "admin", &["admin", "epochs", "--node", &url, "--json"])))
    };
    let (c, e) = (clusters.clone(), epochs.clone());
    let (restarted, after_restart) = blocking(move || (c(), e())).await;
    assert_eq!(profiles(&restarted, &halfway_refs), before, "after a restart half-way");
    assert_eq!(after_restart["next"], fingerprint.as_str(), "{after_restart}");

    // The other two move; the rotation finishes.
    let (k, u, pth, ps, e, c) = (keys.clone(), url.clone(), path.clone(), pseudonymise.clone(), epochs.clone(), clusters.clone());
    let (clusters_moved, finished, after) = blocking(move || {
        for agency in ["YOT-NORTH", "VOL-NORTH"] {
            ps(agency, "keys/scheme-2.secret", Some("keys/scheme.secret"), &format!("{agency}-2.bpx"));
            ok(&upload(&k, &u, agency, &pth(&format!("{agency}-2.bpx"))));
        }
        let clusters_moved = c();
        let finished = json(&ok(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--finish", "--json"])));
        (clusters_moved, finished, e())
    })
    .await;
    assert_eq!(finished["dropped"], epoch1_fingerprint.as_str(), "{finished}");
    assert_eq!(after["current"], fingerprint.as_str(), "{after}");
    assert_eq!(after["next"], serde_json::Value::Null, "{after}");
    let moved_reids = reids(&AGENCIES.iter().map(|a| (*a, "-2")).collect::<Vec<_>>());
    let moved_profiles = profiles(&clusters_moved, &moved_reids);
    assert_eq!(moved_profiles, before, "every agency moved: still the same profiles");

    // Finishing changes no profile; epoch 1 and bridged uploads are now
    // refused; plain epoch 2 uploads link under the new keys as before.
    let (k, u, pth, ps, c) = (keys.clone(), url.clone(), path.clone(), pseudonymise.clone(), clusters.clone());
    let (clusters_finished, old_refused, bridged_refused, plain, clusters_relinked, stats_after, log, verified) = blocking(move || {
        let clusters_finished = c();
        let old_refused = failed(&upload(&k, &u, "VOL-NORTH", &pth("VOL-NORTH.bpx")));
        ps("YOT-NORTH", "keys/scheme-2.secret", Some("keys/scheme.secret"), "YOT-NORTH-bridged-again.bpx");
        // (Cut into other batches: the same batches would be answered from
        // their stored acknowledgements, as a re-sent file is.)
        let bridged_refused = failed(&braid_as(&k, "yot-north", &["agency", "upload", "--node", &u, "--batch-size", "7", &pth("YOT-NORTH-bridged-again.bpx")]));
        // The agencies' next ordinary uploads, under epoch 2 alone, find
        // every record unchanged.
        let mut plain = Vec::new();
        for agency in AGENCIES {
            ps(agency, "keys/scheme-2.secret", None, &format!("{agency}-3.bpx"));
            plain.push(ok(&upload(&k, &u, agency, &pth(&format!("{agency}-3.bpx")))));
        }
        // Children's services withdraw a tenth of their records and send
        // them again: they link afresh under the new keys alone.
        let (_, records) = read_extract(Path::new(&pth("CSC-NORTH-3.bpx")));
        let mut args = vec!["agency".to_owned(), "withdraw".into(), "--node".into(), u.clone(), "--agency".into(), "CSC-NORTH".into()];
        for record in records.iter().step_by(10) {
            args.extend(["--record-ref".to_owned(), record.record_ref.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&braid_as(&k, "csc-north", &args));
        let again = ok(&upload(&k, &u, "CSC-NORTH", &pth("CSC-NORTH-3.bpx")));
        assert!(again.contains(&format!("({} new,", records.iter().step_by(10).count())), "{again}");
        let log = ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--json"]));
        let verified = ok(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u]));
        (clusters_finished, old_refused, bridged_refused, plain, c(), stats(&k, &u), log, verified)
    })
    .await;
    for output in &plain {
        assert!(output.contains("(0 new, 0 replaced,") && output.contains("unchanged, 0 rejected"), "{output}");
    }
    assert_eq!(profiles(&clusters_finished, &moved_reids), moved_profiles, "finishing the rotation changes no profile");
    assert!(old_refused.contains(&epoch1_fingerprint) && old_refused.contains("re-pseudonymise"), "{old_refused}");
    assert!(bridged_refused.contains("no key rotation is open"), "{bridged_refused}");
    assert_eq!(stats_after["records"].as_u64(), Some(records), "{stats_after}");
    let relinked = profiles(&clusters_relinked, &reids(&AGENCIES.iter().map(|a| (*a, "-3")).collect::<Vec<_>>()));
    let under_new_keys = agreement(&before, &relinked);
    eprintln!("pairwise agreement with the profiles before the rotation, records re-linked under the new keys: {under_new_keys:.4}");
    assert!(under_new_keys >= 0.99, "profiles linked under the new keys agree with those before at pairwise F1 {under_new_keys}");
    assert!(log.contains("admin.epochs-begin") && log.contains("admin.epochs-finish"), "both steps are audited");
    assert!(verified.contains("audit log verified"), "{verified}");

    // Epoch 1's pseudonyms are gone from every file of the data directory;
    // epoch 2's are there (so the scan sees into the store's files).
    let old: Vec<Vec<u8>> = AGENCIES.iter().flat_map(|a| encodings(&path(&format!("{a}.bpx")))).collect();
    let new: Vec<Vec<u8>> = AGENCIES.iter().flat_map(|a| encodings(&path(&format!("{a}-3.bpx")))).collect();
    assert_eq!(old.len(), 80);
    // (After a restart, which finds the new epoch.)
    node.stop().await.expect("stop");
    let node = start_node(&keys, data.path(), loopback()).await;
    let (k, u) = (keys.clone(), node.url());
    let restarted = blocking(move || json(&ok(&braid_as(&k, "admin", &["admin", "epochs", "--node", &u, "--json"])))).await;
    assert_eq!(restarted["current"], fingerprint.as_str(), "{restarted}");
    assert_eq!(found_on_disk(data.path(), &old), 0, "epoch 1 encodings left on disk");
    assert_eq!(found_on_disk(data.path(), &new), new.len(), "epoch 2 encodings are on disk");
}
