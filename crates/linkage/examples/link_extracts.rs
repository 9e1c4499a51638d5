//! Links agencies' extracts in memory and scores them against a truth
//! column: `cargo run --release -p braid-linkage --example link_extracts --
//! [--secret N] [--truth COLUMN] [--diagnose] MAPPING.toml=EXTRACT.csv …`.

#[path = "../tests/support/mod.rs"]
mod support;

fn main() {
    let mut secret = 7u8;
    let mut truth = "true_id".to_owned();
    let mut diagnose = false;
    let mut orders = false;
    let mut extracts = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secret" => secret = args.next().and_then(|s| s.parse().ok()).expect("--secret N"),
            "--truth" => truth = args.next().expect("--truth COLUMN"),
            "--diagnose" => diagnose = true,
            "--orders" => orders = true,
            pair => {
                let (mapping, csv) = pair.split_once('=').expect("MAPPING=CSV");
                let mapping = braid_pseudonym::Mapping::parse(&std::fs::read_to_string(mapping).expect("mapping")).expect("mapping parses");
                extracts.push((mapping, std::fs::read_to_string(csv).expect("csv")));
            }
        }
    }
    if diagnose {
        std::env::set_var("BRAID_DIAGNOSE", "1");
    }
    let prepared = support::prepare_extracts(&extracts, &truth, secret);
    if orders {
        // Agency blocks as given, reversed, and interleaved record by record.
        let n = prepared.involvements.len();
        let agency_of: Vec<usize> = prepared.involvements.iter().map(|i| i.agency as usize).collect();
        let forward: Vec<usize> = (0..n).collect();
        let mut reversed = forward.clone();
        reversed.sort_by_key(|&i| (std::cmp::Reverse(agency_of[i]), i));
        let mut interleaved = forward.clone();
        let mut rank = vec![0usize; n];
        let mut seen = std::collections::HashMap::new();
        for i in 0..n {
            let r = seen.entry(agency_of[i]).or_insert(0usize);
            rank[i] = *r;
            *r += 1;
        }
        interleaved.sort_by_key(|&i| (rank[i], agency_of[i]));
        let streams = |order: &[usize]| -> Vec<usize> { order.iter().map(|&i| agency_of[i]).collect() };
        let a = support::link_in_order(&prepared, &forward, &streams(&forward));
        let b = support::link_in_order(&prepared, &reversed, &streams(&reversed));
        let c = support::link_in_order(&prepared, &interleaved, &streams(&interleaved));
        println!("order agreement (pairwise F1): forward/reversed {:.5}, forward/interleaved {:.5}", support::agreement(&a, &b), support::agreement(&a, &c));
        return;
    }
    if std::env::var("BRAID_SETTLE").is_ok() {
        // As the node links uploads: each agency's upload settled as it ends.
        let order: Vec<usize> = (0..prepared.involvements.len()).collect();
        let streams: Vec<usize> = prepared.involvements.iter().map(|i| i.agency as usize).collect();
        let profile = support::link_in_order(&prepared, &order, &streams);
        let items: Vec<(&str, Option<&str>, u64)> =
            (0..profile.len()).map(|i| (prepared.truth[i].0.as_str(), prepared.truth[i].1.as_deref(), profile[i])).collect();
        let pairs: Vec<(&str, u64)> = items.iter().map(|(t, _, p)| (*t, *p)).collect();
        let s = braid_linkage::evaluate(&pairs);
        let h = braid_linkage::evaluate_households(&items);
        println!(
            "settled: P {:.4} R {:.4} F1 {:.4}; household-pair precision {:.4} ({} of {} merged)",
            s.precision, s.recall, s.f1, h.precision, h.sibling_pairs_merged, h.sibling_pairs
        );
        return;
    }
    let report = support::link(&prepared, braid_linkage::LinkerConfig::default());
    println!("{}", support::describe("extracts", &report));
}
