//! Trust end to end: mTLS identities on loopback, the role policy on every
//! call, and the tamper-evident audit log, through the real `braid` binary,
//! a real node and real RocksDB directories.

use std::path::Path;

use braid_audit::{Entry, Log, Signer};
use braid_proto::v1;
use braid_tests::*;
use prost::Message;

/// What a panel or agency call needs, as one prepared, uploaded node.
struct Running {
    prepared: Prepared,
    keys: String,
    node: braid_node::RunningNode,
    url: String,
    data: tempfile::TempDir,
}

/// A node with both partnerships and every agency's records uploaded.
async fn uploaded(children: usize) -> Running {
    let prepared = prepare(children);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    blocking(move || {
        for agency in AGENCIES {
            ok(&upload(&k, &u, agency, &format!("{p}/{agency}.bpx")));
        }
    })
    .await;
    Running { prepared, keys, node, url, data }
}

/// The whole audit log as the auditor lists it.
fn audit_log(keys: &str, url: &str, filters: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["audit", "log", "--node", url, "--limit", "10000", "--json"];
    args.extend_from_slice(filters);
    let listing = json(&ok(&braid_as(keys, "auditor", &args)));
    listing["entries"].as_array().expect("entries").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_a_clear_permission_denied_and_is_audited() {
    let prepared = prepare(60);
    let keys = prepared.path("keys");
    // A principal the CA certified but the policy does not name.
    let policy_path = format!("{keys}/node/policy.toml");
    let policy = std::fs::read_to_string(&policy_path).expect("policy");
    let trimmed: String = policy.lines().filter(|line| !line.contains("vol-north")).map(|line| format!("{line}\n")).collect();
    std::fs::write(&policy_path, trimmed).expect("write policy");
    let data = tempfile::tempdir().expect("data dir");
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();

    // No certificate: refused in the handshake (tests/limits.rs counts it).
    let bare = async {
        let channel = tls_channel(Path::new(&format!("{keys}/ca/ca.crt")), None, &url).await?;
        let reply = v1::admin_service_client::AdminServiceClient::new(channel).stats(v1::StatsRequest {}).await;
        Ok::<_, tonic::transport::Error>(reply.map(|_| ()))
    }
    .await;
    assert!(!matches!(bare, Ok(Ok(()))), "a peer without a certificate was served");

    // A certificate from another CA is refused in the handshake.
    let other = prepared.path("other-keys");
    ok(&braid(&["keys", "init", "--out", &other]));
    let stranger = async {
        let channel = tls_channel(Path::new(&format!("{keys}/ca/ca.crt")), Some(Path::new(&format!("{other}/admin"))), &url).await?;
        let reply = v1::admin_service_client::AdminServiceClient::new(channel).stats(v1::StatsRequest {}).await;
        Ok::<_, tonic::transport::Error>(reply.map(|_| ()))
    }
    .await;
    match stranger {
        Err(_) => {}
        Ok(reply) => {
            let status = reply.expect_err("a certificate from an unknown CA must not be served");
            assert_ne!(status.code(), tonic::Code::Ok);
        }
    }
    // And the CLI says it is a certificate problem.
    let unknown_ca = failed(&braid_as(&other, "admin", &["admin", "stats", "--node", &url]));
    assert!(unknown_ca.contains("failed over a certificate"), "{unknown_ca}");

    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    let refusals = blocking(move || {
        let csc = |args: &[&str]| braid_as(&k, "csc-north", args);
        let mut refusals = Vec::new();
        let mut refused = |output: std::process::Output, reason: &str| {
            let stderr = failed(&output);
            assert!(stderr.contains(reason), "expected `{reason}` in: {stderr}");
            assert!(stderr.contains("refused"), "{stderr}");
            refusals.push(reason.to_owned());
        };
        ok(&upload(&k, &u, "CSC-NORTH", &format!("{p}/CSC-NORTH.bpx")));
        // An agency touches only its own records.
        refused(csc(&["agency", "upload", "--node", &u, &format!("{p}/POL-NORTH.bpx")]), "agency CSC-NORTH may touch only its own records, not POL-NORTH's");
        refused(csc(&["agency", "withdraw", "--node", &u, "--agency", "POL-NORTH", "--record-ref", "r-anything"]), "not POL-NORTH's");
        refused(csc(&["agency", "quality", "--node", &u, "--agency", "POL-NORTH"]), "not POL-NORTH's");
        let own = json(&ok(&csc(&["agency", "quality", "--node", &u, "--agency", "CSC-NORTH", "--json"])));
        assert_eq!(own["agencies"].as_array().expect("agencies").len(), 1, "{own}");
        // Wrong roles.
        refused(braid_as(&k, "auditor", &["admin", "stats", "--node", &u]), "the role auditor may not make administrative calls");
        refused(braid_as(&k, "admin", &["audit", "log", "--node", &u]), "the role admin may not read the audit log");
        refused(
            braid_as(&k, "panel-north", &["admin", "clusters", "--node", &u, "--out", &format!("{p}/c.csv")]),
            "the role panel:north may not make administrative calls",
        );
        refused(panel_as(&k, "csc-north", "signals", &u, "north", &[]), "the role agency:CSC-NORTH may not make panel queries");
        refused(panel_as(&k, "auditor", "signals", &u, "north", &[]), "the role auditor may not make panel queries");
        refused(braid_as(&k, "panel-north", &["agency", "upload", "--node", &u, &format!("{p}/CSC-NORTH.bpx")]), "the role panel:north may not upload records");
        // Not in the policy at all.
        refused(upload(&k, &u, "VOL-NORTH", &format!("{p}/VOL-NORTH.bpx")), "not in the node's policy");
        // A panel outside its partnership, or without purpose or case ref.
        refused(panel_as(&k, "panel-statutory", "signals", &u, "north", &[]), "a panel of statutory may query only its own partnership, not north");
        refused(
            braid_as(&k, "panel-north", &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", " ", "--case-ref", "R-1"]),
            "must state its purpose",
        );
        refused(
            braid_as(&k, "panel-north", &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", "review", "--case-ref", ""]),
            "case or meeting reference",
        );
        // What is allowed still works.
        ok(&panel(&k, "signals", &u, "north", &[]));
        ok(&braid_as(&k, "admin", &["admin", "stats", "--node", &u]));
        refusals
    })
    .await;

    // Every refusal is in the audit log with who asked and why it failed.
    let entries = audit_log(&keys, &url, &[]);
    let denied: Vec<&serde_json::Value> = entries.iter().filter(|e| e["outcome"].as_str().is_some_and(|o| o.starts_with("denied: "))).collect();
    assert_eq!(denied.len(), refusals.len(), "each refusal is audited (a peer with no certificate never gets past the handshake): {denied:#?}");
    assert!(denied.iter().any(|e| e["principal"] == "vol-north" && e["role"] == "(none)" && e["action"] == "ingest.upload"));
    assert!(denied.iter().any(|e| e["principal"] == "panel-statutory" && e["purpose"] == "test: panel review" && e["case_reference"] == "T-1"));
    assert!(denied.iter().any(|e| e["principal"] == "admin" && e["action"] == "audit.log"));
    for reason in &refusals {
        assert!(denied.iter().any(|e| e["outcome"].as_str().expect("outcome").contains(reason.as_str())), "{reason} is audited");
    }
    assert!(!entries
        .iter()
        .any(|e| e["principal"] == "csc-north" && e["outcome"].as_str().is_some_and(|o| o.starts_with("ok")) && e["touched"].to_string().contains("POL")));

    // Revoking a principal takes effect on the next call once the policy
    // is reloaded (braid-node does this on SIGHUP); a broken policy file
    // changes nothing.
    std::fs::write(&policy_path, "[principals]\nbroken").expect("write policy");
    assert!(node.reload_policy().is_err());
    let trimmed: String = policy.lines().filter(|line| !line.contains("vol-north") && !line.contains("panel-north")).map(|line| format!("{line}\n")).collect();
    std::fs::write(&policy_path, trimmed).expect("write policy");
    let (k, u) = (keys.clone(), url.clone());
    let before = blocking(move || panel(&k, "signals", &u, "north", &[])).await;
    ok(&before);
    assert_eq!(node.reload_policy().expect("reload"), 6, "eight principals less the two removed");
    let (k, u) = (keys.clone(), url.clone());
    let revoked = blocking(move || panel(&k, "signals", &u, "north", &[])).await;
    assert!(failed(&revoked).contains("not in the node's policy"));
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_every_call_and_proves_it() {
    let Running { prepared, keys, node, url, data: _data } = uploaded(150).await;
    let (k, u, p) = (keys.clone(), url.clone(), prepared.path(""));
    let (profile, withdrawn_ref, receipt) = blocking(move || {
        ok(&braid_as(&k, "admin", &["admin", "clusters", "--node", &u, "--out", &format!("{p}/clusters.csv")]));
        let clusters = std::fs::read_to_string(format!("{p}/clusters.csv")).expect("clusters");
        let row: Vec<String> = clusters.lines().nth(1).expect("a row").split(',').map(str::to_owned).collect();
        let (agency, record_ref, profile) = (row[0].clone(), row[1].clone(), row[4].clone());
        ok(&panel(&k, "profile", &u, "north", &["--agency", &agency, "--record-ref", &record_ref]));
        ok(&braid_as(&k, "auditor", &["audit", "checkpoint", "--node", &u, "--save", &format!("{p}/first.checkpoint")]));
        let withdrawn = ok(&braid_as(&k, &agency.to_lowercase(), &["agency", "withdraw", "--node", &u, "--agency", &agency, "--record-ref", &record_ref]));
        let receipt: u64 = withdrawn
            .split("(audit entry ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a receipt: {withdrawn}"));
        (profile, record_ref, receipt)
    })
    .await;

    let entries = audit_log(&keys, &url, &[]);
    for (index, entry) in entries.iter().enumerate() {
        assert_eq!(entry["index"].as_u64(), Some(index as u64));
    }
    // Uploads name the records they wrote, one entry per batch.
    let uploads: Vec<&serde_json::Value> = entries.iter().filter(|e| e["action"] == "ingest.upload").collect();
    assert!(uploads.iter().all(|e| e["outcome"] == "ok" && e["role"].as_str().is_some_and(|r| r.starts_with("agency:"))));
    let written: u64 = uploads.iter().map(|e| e["result_count"].as_u64().expect("count")).sum();
    assert_eq!(written, stats(&keys, &url)["records"].as_u64().expect("records") + 1, "every stored record was audited (one since withdrawn)");
    // The panel's query carries its purpose and the profile it saw.
    let query = entries.iter().find(|e| e["action"] == "panel.profile").expect("the profile query");
    assert_eq!(query["principal"], "panel-north");
    assert_eq!(query["purpose"], "test: panel review");
    assert_eq!(query["case_reference"], "T-1");
    assert!(query["touched"].as_array().expect("touched").iter().any(|t| *t == profile.as_str()), "{query}");
    // The receipt names the withdrawal's entry.
    let withdrawal = &entries[receipt as usize];
    assert_eq!(withdrawal["action"], "ingest.withdraw");
    assert_eq!(withdrawal["touched"][0], withdrawn_ref.as_str());
    assert_eq!(withdrawal["result_count"], 1);

    // Filters: by caller, action, profile and time.
    let by_panel = audit_log(&keys, &url, &["--caller", "panel-north"]);
    assert!(!by_panel.is_empty() && by_panel.iter().all(|e| e["principal"] == "panel-north"));
    let exports = audit_log(&keys, &url, &["--action", "admin.export-clusters"]);
    assert_eq!(exports.len(), 1);
    let about = audit_log(&keys, &url, &["--profile", &profile]);
    assert!(about.iter().any(|e| e["action"] == "panel.profile"), "{about:?}");
    // A lookup that finds nothing still says which id was tried.
    let tried = &["panel", "profile", "--node", &url, "--partnership", "north", "--purpose", "probe", "--case-ref", "T-2", "--profile", "P9999999"];
    failed(&braid_as(&keys, "panel-north", tried));
    let probes = audit_log(&keys, &url, &["--profile", "P9999999"]);
    assert!(probes.iter().any(|e| e["action"] == "panel.profile" && e["outcome"].as_str().is_some_and(|o| o.starts_with("error"))), "{probes:?}");
    let newest = json(&ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--newest", "--limit", "2", "--json"])))["entries"]
        .as_array()
        .expect("entries")
        .clone();
    assert_eq!(newest.len(), 2);
    assert!(newest[0]["index"].as_u64() > newest[1]["index"].as_u64(), "newest first");
    assert!(newest[1]["index"].as_u64().expect("index") as usize >= entries.len() - 1, "the latest entries: {newest:?}");
    let today = audit_log(&keys, &url, &["--since", "2000-01-01"]);
    assert!(today.len() >= entries.len());
    assert!(audit_log(&keys, &url, &["--until", "2000-01-01"]).is_empty());
    let table = ok(&braid_as(&keys, "auditor", &["audit", "log", "--node", &url, "--action", "panel.profile"]));
    assert!(table.contains("for \"test: panel review\" [T-1]") && table.contains("panel-north (panel:north)"), "{table}");

    // Proofs: inclusion of the withdrawal, and the log extends the saved
    // checkpoint; verification recomputes everything.
    let p = prepared.path("");
    let included = ok(&braid_as(&keys, "auditor", &["audit", "prove", "--node", &url, "--index", &receipt.to_string()]));
    assert!(included.contains(&format!("entry {receipt} is included")), "{included}");
    let extends = ok(&braid_as(&keys, "auditor", &["audit", "prove", "--node", &url, "--from", &format!("{p}/first.checkpoint")]));
    // A file that never ends is no checkpoint, and is not read whole.
    let endless = failed(&braid_as(&keys, "auditor", &["audit", "prove", "--node", &url, "--from", "/dev/zero"]));
    assert!(endless.contains("is over 16 KiB: not a checkpoint"), "{endless}");
    assert!(extends.contains("extends the saved checkpoint"), "{extends}");
    let verified = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--node", &url, "--saved", &format!("{p}/first.checkpoint")]));
    assert!(verified.contains("audit log verified") && verified.contains("consistent with 1 saved"), "{verified}");
    node.stop().await.expect("stop");
}

/// Every file of a data directory with its contents, but RocksDB's own
/// diagnostic LOG files.
fn data_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|item| item.expect("entry").path())
        .filter(|path| path.is_file() && !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("LOG")))
        .map(|path| (path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(), std::fs::read(&path).expect("read")))
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for item in std::fs::read_dir(from).expect("read dir") {
        let item = item.expect("entry");
        std::fs::copy(item.path(), to.join(item.file_name())).expect("copy file");
    }
}

/// A node's data directory with some audited calls in it, the node stopped.
async fn audited_store() -> (Running, String) {
    let running = uploaded(40).await;
    let (k, u, p) = (running.keys.clone(), running.url.clone(), running.prepared.path(""));
    blocking(move || {
        for _ in 0..5 {
            ok(&panel(&k, "signals", &u, "north", &[]));
            ok(&braid_as(&k, "admin", &["admin", "stats", "--node", &u]));
        }
        ok(&braid_as(&k, "auditor", &["audit", "checkpoint", "--node", &u, "--save", &format!("{p}/saved.checkpoint")]));
    })
    .await;
    let saved = running.prepared.path("saved.checkpoint");
    (running, saved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_deleting_reordering_or_inserting_an_entry_in_rocksdb_is_named() {
    let (running, _) = audited_store().await;
    let Running { prepared, keys, node, data, .. } = running;
    node.stop().await.expect("stop");
    let original = stored_entries(&raw_db(data.path()));
    assert!(original.len() >= 12, "{}", original.len());

    type Tamper = Box<dyn Fn(&rocksdb::DB, &[(u64, Vec<u8>)])>;
    let put = |db: &rocksdb::DB, index: u64, bytes: &[u8]| {
        let cf = db.cf_handle(braid_store::AUDIT).expect("cf");
        db.put_cf(cf, index.to_be_bytes(), bytes).expect("put");
    };
    let cases: Vec<(&str, u64, &str, Tamper)> = vec![
        (
            "edit",
            5,
            "differs from the root recorded with it",
            Box::new(move |db, entries| {
                let mut entry = Entry::decode(entries[5].1.as_slice()).expect("entry");
                entry.principal = "someone-else".to_owned();
                put(db, 5, &entry.encode_to_vec());
            }),
        ),
        (
            // Bytes that decode to the same entry but are not what was
            // written: an unknown field slipped in at the end.
            "extra bytes",
            5,
            "differs from the root recorded with it",
            Box::new(move |db, entries| {
                let mut bytes = entries[5].1.clone();
                bytes.extend_from_slice(&[0xf8, 0x06, 0x01]);
                assert_eq!(Entry::decode(bytes.as_slice()).expect("still decodes"), Entry::decode(entries[5].1.as_slice()).expect("entry"));
                put(db, 5, &bytes);
            }),
        ),
        (
            "delete",
            5,
            "missing",
            Box::new(|db, _| {
                let cf = db.cf_handle(braid_store::AUDIT).expect("cf");
                db.delete_cf(cf, 5u64.to_be_bytes()).expect("delete");
            }),
        ),
        (
            "reorder",
            5,
            "recorded position differs",
            Box::new(move |db, entries| {
                put(db, 5, &entries[6].1);
                put(db, 6, &entries[5].1);
            }),
        ),
        (
            "insert",
            6,
            "recorded position differs",
            Box::new(move |db, entries| {
                // A forged entry at 5, with a correct root for the prefix;
                // everything after moves up one place.
                for (index, bytes) in entries.iter().skip(5).rev() {
                    put(db, index + 1, bytes);
                }
                let mut log = Log::resume(entries[..5].iter().map(|(_, bytes)| braid_audit::leaf_of(&Entry::decode(bytes.as_slice()).expect("entry"))));
                let forged = Entry { principal: "panel-north".to_owned(), action: "panel.signals".to_owned(), outcome: "ok".to_owned(), ..Entry::default() };
                let (_, bytes, _) = log.append(forged);
                put(db, 5, &bytes);
            }),
        ),
    ];
    for (name, index, reason, tamper) in cases {
        let copy = prepared.dir.path().join(format!("tampered-{name}"));
        copy_dir(data.path(), &copy);
        tamper(&raw_db(&copy), &original);
        let copy_text = copy.display().to_string();
        let stderr = failed(&braid_as(&keys, "auditor", &["audit", "verify", "--data-dir", &copy_text]));
        assert!(stderr.contains(&format!("audit entry {index}:")), "{name}: {stderr}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        // The node will not add to a broken log either.
        let refused = braid_node::spawn(node_config(&keys, &copy, loopback())).await.err().expect("the node refuses a broken log");
        let message = format!("{refused:#}");
        assert!(message.contains(&format!("audit entry {index}:")), "{name}: {message}");
        // Started audit-only, it serves the log as stored to an auditor,
        // who finds the same entry through it, refuses everything else, and
        // leaves the directory as it found it.
        let files = data_files(&copy);
        let forensic = braid_node::spawn(braid_node::NodeConfig { audit_only: true, ..node_config(&keys, &copy, loopback()) }).await.expect("audit-only start");
        let (k, u) = (keys.clone(), forensic.url());
        let (verdict, stats, checkpoint) = blocking(move || {
            (
                failed(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u])),
                failed(&braid_as(&k, "admin", &["admin", "stats", "--node", &u])),
                failed(&braid_as(&k, "auditor", &["audit", "checkpoint", "--node", &u])),
            )
        })
        .await;
        assert!(verdict.contains(&format!("audit entry {index}:")) && verdict.contains(reason), "{name}: {verdict}");
        assert!(stats.contains("runs audit-only"), "{name}: {stats}");
        assert!(checkpoint.contains("signs no checkpoint"), "{name}: {checkpoint}");
        forensic.stop().await.expect("stop");
        assert_eq!(data_files(&copy), files, "{name}: the audit-only node changed the data directory");
    }
    // The untouched store verifies.
    let fine = ok(&braid_as(&keys, "auditor", &["audit", "verify", "--data-dir", &data.path().display().to_string()]));
    assert!(fine.contains("audit log verified"), "{fine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_rewrites_history_fails_against_a_checkpoint_saved_earlier() {
    let (running, saved) = audited_store().await;
    let Running { keys, node, data, .. } = running;
    node.stop().await.expect("stop");

    // The operator rewrites entry 3 and recomputes everything after it,
    // re-signing every checkpoint with the node's own key: the log is
    // consistent with itself.
    let key = braid_store::Store::open(data.path()).expect("store").audit_signing_key().expect("read").expect("a key");
    let signer = Signer::from_pkcs8(&key).expect("signer");
    {
        let db = raw_db(data.path());
        let entries = stored_entries(&db);
        let audit = db.cf_handle(braid_store::AUDIT).expect("cf");
        let checkpoints = db.cf_handle(braid_store::AUDIT_CHECKPOINTS).expect("cf");
        let sizes: Vec<Vec<u8>> = db.iterator_cf(checkpoints, rocksdb::IteratorMode::Start).map(|item| item.expect("checkpoint").0.into_vec()).collect();
        let mut log = Log::new();
        for (index, bytes) in &entries {
            let mut entry = Entry::decode(bytes.as_slice()).expect("entry");
            if *index == 3 {
                entry.purpose = "a more innocent purpose".to_owned();
            }
            let (_, rewritten, _) = log.append(entry);
            db.put_cf(audit, index.to_be_bytes(), rewritten).expect("rewrite");
        }
        for size in sizes {
            let size = u64::from_be_bytes(size.as_slice().try_into().expect("size"));
            let leaves: Vec<_> =
                stored_entries(&db)[..size as usize].iter().map(|(_, b)| braid_audit::leaf_of(&Entry::decode(b.as_slice()).expect("entry"))).collect();
            let resigned = signer.checkpoint(size, braid_audit::merkle::root(&leaves), 1);
            db.put_cf(checkpoints, size.to_be_bytes(), resigned.to_text()).expect("re-sign");
        }
    }
    let node = start_node(&keys, data.path(), loopback()).await;
    let url = node.url();
    let (k, u) = (keys.clone(), url.clone());
    let (alone, against_saved, proof) = blocking(move || {
        let alone = ok(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u]));
        let against_saved = failed(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u, "--saved", &saved]));
        let proof = failed(&braid_as(&k, "auditor", &["audit", "prove", "--node", &u, "--from", &saved]));
        (alone, against_saved, proof)
    })
    .await;
    assert!(alone.contains("audit log verified"), "without a saved checkpoint the rewrite is self-consistent: {alone}");
    assert!(against_saved.contains("history was rewritten"), "{against_saved}");
    assert!(proof.contains("NOT an extension"), "{proof}");
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_verifier_key_refuses_a_rekeyed_store_and_the_log_listing_escapes_control_characters() {
    let (running, _) = audited_store().await;
    let Running { prepared, keys, node, data, url } = running;
    let (k, u) = (keys.clone(), url.clone());
    let listing = blocking(move || {
        let checkpoint = ok(&braid_as(&k, "auditor", &["audit", "checkpoint", "--node", &u]));
        let pinned = checkpoint.lines().find_map(|l| l.strip_prefix("node key ")).and_then(|l| l.split_whitespace().next()).expect("the key").to_owned();
        let fine = ok(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u, "--verifier-key", &pinned]));
        assert!(fine.contains("audit log verified"), "{fine}");
        let broken = failed(&braid_as(&k, "auditor", &["audit", "verify", "--node", &u, "--verifier-key", "braid-node+00000000+AAAA"]));
        assert!(broken.contains("--verifier-key"), "{broken}");
        // A purpose that tries to forge a line and clear the screen.
        ok(&braid_as(
            &k,
            "panel-north",
            &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", "review\n#99999 forged entry\u{1b}[2J", "--case-ref", "R-\t1"],
        ));
        // A purpose that is invisible, or turns the line around, is refused.
        for purpose in ["\u{200b}", "review \u{202e}txt.exe", "routine review\u{e0073}\u{e0065}\u{e0063}", "\u{3164}"] {
            let hidden =
                failed(&braid_as(&k, "panel-north", &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", purpose, "--case-ref", "R-1"]));
            assert!(hidden.contains("the purpose holds invisible characters"), "{hidden}");
        }
        // A case reference of a direction mark alone reads as empty.
        let blank =
            failed(&braid_as(&k, "panel-north", &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", "p", "--case-ref", "\u{200e}"]));
        assert!(blank.contains("the case reference shows nothing visible"), "{blank}");
        // Limits out of range are refused, not quietly changed.
        for (flag, value, range) in [("--limit", "0", "1..=100000"), ("--offset", "2000000", "0..=1000000")] {
            let refused = failed(&braid_as(
                &k,
                "panel-north",
                &["panel", "signals", "--node", &u, "--partnership", "north", "--purpose", "p", "--case-ref", "R-1", flag, value],
            ));
            assert!(refused.contains(range), "{refused}");
        }
        // What a caller sent is quoted by a short prefix, escaped.
        let long = format!("\u{1b}[2J{}", "x".repeat(5000));
        let by = failed(&braid_as(
            &k,
            "panel-north",
            &["panel", "report", "--node", &u, "--partnership", "north", "--purpose", "p", "--case-ref", "R-1", "--by", &long],
        ));
        let said = by.lines().next().unwrap_or_default();
        assert!(said.contains("is not a template item") && said.contains("(5004 characters)") && !by.contains('\u{1b}') && said.len() < 300, "{by}");
        let listing = ok(&braid_as(&k, "auditor", &["audit", "log", "--node", &u, "--newest", "--limit", "10"]));
        (pinned, listing)
    })
    .await;
    let (pinned, listing) = listing;
    assert!(!listing.contains('\u{1b}') && !listing.contains('\t'), "{listing}");
    assert!(listing.contains("review\\n#99999 forged entry\\u{1b}[2J") && listing.contains("R-\\t1"), "{listing}");
    assert!(!listing.lines().any(|l| l.starts_with("#99999")), "{listing}");
    node.stop().await.expect("stop");

    // The same data directory verifies under the pin; another store (a new
    // key) does not, online or offline.
    let dir = data.path().display().to_string();
    ok(&braid_as(&keys, "auditor", &["audit", "verify", "--data-dir", &dir, "--verifier-key", &pinned]));
    let other = tempfile::tempdir().expect("data dir");
    let other_node = start_node(&keys, other.path(), loopback()).await;
    let other_url = other_node.url();
    let (k, p) = (keys.clone(), pinned.clone());
    let refused = blocking(move || failed(&braid_as(&k, "auditor", &["audit", "verify", "--node", &other_url, "--verifier-key", &p]))).await;
    assert!(refused.contains("different key"), "{refused}");
    // A running node's directory is not read from under it.
    let (k, d) = (keys.clone(), other.path().display().to_string());
    let busy = blocking(move || failed(&braid_as(&k, "auditor", &["audit", "verify", "--data-dir", &d]))).await;
    assert!(busy.contains("is in use by a running node"), "{busy}");
    other_node.stop().await.expect("stop");
    let other_dir = other.path().display().to_string();
    let offline = failed(&braid_as(&keys, "auditor", &["audit", "verify", "--data-dir", &other_dir, "--verifier-key", &pinned]));
    assert!(offline.contains("different key"), "{offline}");
    drop(prepared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_needs_the_insecure_dev_flag_and_marks_principals_as_claimed() {
    let prepared = prepare(30);
    let keys = prepared.path("keys");
    let data = tempfile::tempdir().expect("data dir");
    let plain = braid_node::NodeConfig { tls: None, ..node_config(&keys, data.path(), loopback()) };
    let refused = braid_node::spawn(plain.clone()).await.err().expect("no TLS, no flag: refused");
    assert!(refused.to_string().contains("only over mTLS"), "{refused}");
    let node = braid_node::spawn(braid_node::NodeConfig { insecure_dev: true, ..plain }).await.expect("start");
    let url = node.url();
    assert!(url.starts_with("http://"));
    let p = prepared.path("");
    let (anonymous, uploaded, log) = blocking(move || {
        let file = format!("{p}/CSC-NORTH.bpx");
        let anonymous = failed(&braid(&["agency", "upload", "--node", &url, &file]));
        let uploaded = ok(&braid(&["agency", "upload", "--node", &url, "--principal", "csc-north", &file]));
        let log = json(&ok(&braid(&["audit", "log", "--node", &url, "--principal", "auditor", "--json"])));
        (anonymous, uploaded, log)
    })
    .await;
    assert!(anonymous.contains("--principal"), "{anonymous}");
    assert!(uploaded.contains("records uploaded"), "{uploaded}");
    let entries = log["entries"].as_array().expect("entries");
    assert!(!entries.is_empty() && entries.iter().all(|e| e["claimed_principal"] == true), "{log}");
    node.stop().await.expect("stop");
}
