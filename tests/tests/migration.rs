//! A store written before the node had its own record schema — every case
//! record held in the API's encoding (`tests/fixtures/store-api-encoded`,
//! see its README) — opens, its records move to the node's schema, and the
//! node answers every panel query as the node that wrote it did.

use std::collections::BTreeMap;
use std::path::Path;

use braid_tests::*;

/// The answers compared: a panel's listings, profiles, reports and
/// completeness (all read from the stored records), and the clusters.
fn answers(keys: &str, url: &str, scratch: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut ask = |name: &str, command: &str, rest: &[&str]| {
        out.insert(name.to_owned(), ok(&panel(keys, command, url, "north", rest)));
    };
    ask("signals", "signals", &["--limit", "100000", "--json"]);
    for profile in ["P0000001", "P0000005", "P0000019", "P0000040"] {
        ask(&format!("profile {profile}"), "profile", &["--profile", profile, "--json"]);
    }
    ask("quality", "quality", &["--json"]);
    ask("disagreements", "disagreements", &["--json"]);
    ask("report case_type × victim.sex", "report", &["--by", "case_type", "--by", "victim.sex", "--json"]);
    ask("report context.abuse_types", "report", &["--by", "context.abuse_types", "--population", "all", "--json"]);
    let clusters = scratch.join("clusters.csv");
    ok(&braid_as(keys, "admin", &["admin", "clusters", "--node", url, "--out", &clusters.display().to_string()]));
    out.insert("clusters".to_owned(), std::fs::read_to_string(clusters).expect("clusters"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_the_api_encoding_moves_to_the_node_schema_and_answers_the_same() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-api-encoded");
    let data = tempfile::tempdir().expect("data dir");
    for entry in std::fs::read_dir(fixture.join("store")).expect("fixture store") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), data.path().join(entry.file_name())).expect("copy the fixture");
    }
    let (all, moved) = record_schemas(data.path());
    assert!(all > 100 && moved == 0, "the fixture is in the API's encoding");

    // New certificates and policy: the store holds no key material of them.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys").display().to_string();
    ok(&braid(&["keys", "init", "--out", &keys, "--partnership", "north", "--partnership", "statutory"]));
    let node = start_panel_node(&keys, data.path()).await;
    let url = node.url();
    let scratch = dir.path().to_owned();
    let (agency_keys, agency_url) = (keys.clone(), url.clone());
    let got = blocking(move || answers(&keys, &url, &scratch)).await;
    // The upload summaries the earlier build stored read back through the
    // node's own type: each agency's upload completed, and what they
    // stored adds up to the records held.
    let stored_new: u64 = blocking(move || {
        let mut total = 0;
        for (principal, agency) in [("csc-north", "CSC-NORTH"), ("pol-north", "POL-NORTH"), ("yot-north", "YOT-NORTH"), ("vol-north", "VOL-NORTH")] {
            let history = json(&ok(&braid_as(&agency_keys, principal, &["agency", "uploads", "--node", &agency_url, "--agency", agency, "--json"])));
            let uploads = history["uploads"].as_array().expect("uploads");
            assert!(!uploads.is_empty(), "{agency} has its upload");
            for upload in uploads {
                assert_eq!(upload["ended"], "completed", "{agency}: {upload}");
                assert!(upload["batches"].as_u64().is_some_and(|b| b > 0), "{agency}: {upload}");
                total += upload["new"].as_u64().expect("new");
            }
        }
        total
    })
    .await;
    node.stop().await.expect("stop");

    assert_eq!(record_schemas(data.path()), (all, all), "every record is kept, in the node's schema");
    assert_eq!(stored_new, all as u64, "the stored summaries count every record held");
    let expected: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("answers.json")).expect("the fixture's answers")).expect("answers");
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    if let Some(path) = std::env::var_os("BRAID_MIGRATION_ANSWERS_OUT") {
        std::fs::write(path, serde_json::to_string_pretty(&got).expect("json")).expect("write");
    }
    for (name, answer) in &expected {
        assert_eq!(&got[name], answer, "{name}");
    }
}
