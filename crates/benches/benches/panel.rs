//! Panel query latency (a bench binary, run with `cargo bench -p braid-benches
//! --bench panel`): a store of about 1.26M involvements (300,000 synthetic
//! children; `BRAID_BENCH_PANEL_CHILDREN` to change), served by a real node
//! on loopback, queried through gRPC as `braid panel` does. Prints p50, p99
//! and the worst latency of profile queries by record ref, signal listings
//! (all kinds, each kind, a date window, a smaller partnership), networks
//! and reports, and how long the node took to start on the store; then
//! profile queries again while one agency floods the node with uploads
//! (as many streams as it may hold open, batch after batch), with the ratio
//! of the p99s.

/// The allocator `braid-node` runs with, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use braid_benches as common;

use std::time::{Duration, Instant};

use braid_node::Engine;
use braid_proto::v1::{self, panel_service_client::PanelServiceClient};
use common::AGENCIES;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn percentile(sorted: &[Duration], share: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * share).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: {} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap_or(&Duration::ZERO))
    );
}

fn context(partnership: &str) -> Option<v1::PanelContext> {
    Some(v1::PanelContext { partnership: partnership.to_owned(), purpose: "benchmark".to_owned(), case_reference: "BENCH-1".to_owned() })
}

#[tokio::main]
async fn main() {
    let children: usize = std::env::var("BRAID_BENCH_PANEL_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(300_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut refs = fill_store(dir.path(), children);

    let keys_dir = tempfile::tempdir().expect("keys dir");
    let node = start_node(dir.path(), keys_dir.path()).await;
    let panel_client = |principal: &str| {
        let args = braid_client::NodeArgs::mtls(&node.url(), &keys_dir.path().join(principal));
        async move { braid_client::panel(&args).await.expect("connect") }
    };
    let mut client = panel_client("panel-north").await;
    let mut statutory = panel_client("panel-statutory").await;

    // The first listing after a change also works out the networks.
    let first = Instant::now();
    let all = client.signals(v1::SignalsRequest { context: context("north"), limit: 100, ..Default::default() }).await.expect("signals").into_inner();
    println!("first signal listing (networks computed): {:.0} ms; {} signals held", first.elapsed().as_secs_f64() * 1000.0, all.matched);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    refs.shuffle(&mut rng);
    let quiet = profile_times(&mut client, &refs[..2000]).await;
    let quiet_p99 = p99(&quiet);
    report("profile by record ref", quiet);

    time_listings(&mut client, &mut statutory).await;

    time_networks_and_reports(&mut client, &refs).await;

    flood(&node, keys_dir.path(), &mut client, &refs, children, quiet_p99).await;
    node.stop().await.expect("stop");
}

/// Fills a store in `dir` with `children` synthetic children's records
/// through the engine, then settles every change with a first listing;
/// returns the records' (agency, ref).
fn fill_store(dir: &std::path::Path, children: usize) -> Vec<(String, String)> {
    let engine = Engine::open(dir, None, 5000, Default::default()).expect("open");
    let started = Instant::now();
    let (refs, involvements) = tokio::task::block_in_place(|| common::fill(&engine, children, "panel-bench"));
    println!("store: {involvements} involvements from {children} children, ingested in {:.1}s", started.elapsed().as_secs_f64());
    // Uploads only note what changed; the first read settles every
    // batch's changes at once (and works out the networks).
    let started = Instant::now();
    let agencies: Vec<String> = AGENCIES.iter().map(|a| (*a).to_owned()).collect();
    let request = v1::SignalsRequest { limit: 100, ..Default::default() };
    engine.panel_signals(&agencies, &request).expect("signals");
    println!("first signal listing after the whole ingest (every change settled, networks computed): {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
    refs
}

/// Development keys in `keys_dir` and a node serving the store in `dir`
/// with two partnerships (every agency; the statutory two).
async fn start_node(dir: &std::path::Path, keys_dir: &std::path::Path) -> braid_node::RunningNode {
    common::development_keys(keys_dir, &["north", "statutory"]);
    let started = Instant::now();
    let node = braid_node::spawn(braid_node::NodeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        operations_listen: None,
        data_dir: dir.to_path_buf(),
        tls: Some(braid_node::TlsFiles::in_dir(&keys_dir.join("node"))),
        policy: Some(keys_dir.join("node/policy.toml")),
        partnerships: [
            ("north".to_owned(), AGENCIES.iter().map(|a| (*a).to_owned()).collect()),
            ("statutory".to_owned(), vec!["CSC-NORTH".to_owned(), "POL-NORTH".to_owned()]),
        ]
        .into(),
        ..braid_node::NodeConfig::default()
    })
    .await
    .expect("start node");
    println!("node started on the store (index, facts and signals rebuilt) in {:.1}s", started.elapsed().as_secs_f64());
    node
}

/// Signal listings: all kinds, each kind, a date window and a smaller
/// partnership, 200 calls each.
async fn time_listings(client: &mut PanelServiceClient<braid_client::Transport>, statutory: &mut PanelServiceClient<braid_client::Transport>) {
    let listings: Vec<(String, v1::SignalsRequest)> =
        std::iter::once(("signals, all kinds, newest 100".to_owned(), v1::SignalsRequest { context: context("north"), limit: 100, ..Default::default() }))
            .chain(braid_signals::SignalKind::ALL.iter().map(|kind| {
                (
                    format!("signals, {}, newest 100", kind.name()),
                    v1::SignalsRequest { context: context("north"), kinds: vec![kind.name().to_owned()], limit: 100, ..Default::default() },
                )
            }))
            .chain(std::iter::once((
                "signals, all kinds, 2024, newest 100".to_owned(),
                v1::SignalsRequest {
                    context: context("north"),
                    since: Some(v1::Date { year: 2024, month: 1, day: 1 }),
                    until: Some(v1::Date { year: 2024, month: 12, day: 31 }),
                    limit: 100,
                    ..Default::default()
                },
            )))
            .chain(std::iter::once((
                "signals, statutory partnership, newest 100".to_owned(),
                v1::SignalsRequest { context: context("statutory"), limit: 100, ..Default::default() },
            )))
            .collect();
    for (name, request) in listings {
        let mut times = Vec::new();
        let mut matched = 0;
        for _ in 0..200 {
            let started = Instant::now();
            let asking = if request.context.as_ref().is_some_and(|c| c.partnership == "statutory") { &mut *statutory } else { &mut *client };
            let response = asking.signals(request.clone()).await.expect("signals").into_inner();
            times.push(started.elapsed());
            matched = response.matched;
        }
        report(&format!("{name} (of {matched})"), times);
    }
}

/// Networks around records' people, then the reports that read every
/// record (occasional), completeness and the interconnectedness matrix.
async fn time_networks_and_reports(client: &mut PanelServiceClient<braid_client::Transport>, refs: &[(String, String)]) {
    let mut times = Vec::new();
    for (agency, record_ref) in refs.iter().skip(2000).take(500) {
        let started = Instant::now();
        client
            .network(v1::NetworkRequest {
                context: context("north"),
                subject: Some(v1::network_request::Subject::Record(v1::RecordSubject { agency: agency.clone(), record_ref: record_ref.clone() })),
                depth: 2,
                max_people: 60,
            })
            .await
            .expect("network");
        times.push(started.elapsed());
    }
    report("network around a record's person (depth 2, at most 60)", times);

    // Reports read every record from RocksDB; they are occasional.
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        client
            .report(v1::ReportRequest {
                context: context("north"),
                by: vec!["victim.sex".to_owned(), "case_type".to_owned()],
                population: "victims".to_owned(),
                ..Default::default()
            })
            .await
            .expect("report");
        times.push(started.elapsed());
    }
    report("report: distinct victims by victim.sex and case_type", times);
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        client.completeness(v1::CompletenessRequest { context: context("north") }).await.expect("completeness");
        times.push(started.elapsed());
    }
    report("completeness per agency and template item", times);
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        client.interconnectedness(v1::InterconnectednessRequest { context: context("north") }).await.expect("matrix");
        times.push(started.elapsed());
    }
    report("interconnectedness matrix", times);
}

/// One agency floods the node: as many upload streams as it may hold
/// open, each sending fresh batches of 1,000 records without pause, while
/// a panel asks for profiles; prints the p99 against `quiet_p99`.
async fn flood(
    node: &braid_node::RunningNode,
    keys_dir: &std::path::Path,
    client: &mut PanelServiceClient<braid_client::Transport>,
    refs: &[(String, String)],
    children: usize,
    quiet_p99: Duration,
) {
    // One agency floods the node: as many upload streams as it may hold
    // open, each sending fresh batches of 1,000 records without pause,
    // while a panel asks for profiles.
    let (submission, records) = tokio::task::block_in_place(|| common::agency_records("CSC-NORTH", (children / 4).max(2000), 97));
    let flood_args = braid_client::NodeArgs::mtls(&node.url(), &keys_dir.join("csc-north"));
    let streams = braid_node::Limits::default().uploads_per_principal as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flooders = Vec::new();
    for stream in 0..streams {
        let (args, stop) = (flood_args.clone(), std::sync::Arc::clone(&stop));
        let chunks: Vec<Vec<v1::CaseRecord>> = records.chunks(1000).skip(stream).step_by(streams).map(<[v1::CaseRecord]>::to_vec).collect();
        let header = v1::UploadHeader {
            agency: submission.agency.clone(),
            agency_type: submission.agency_type.clone(),
            epoch_fingerprint: submission.epoch.clone(),
            submission_id: format!("{}-{stream}", submission.submission_id),
            bridge_epoch_fingerprint: String::new(),
            items_held: None,
        };
        flooders.push(tokio::spawn(async move {
            let mut client = braid_client::ingest(&args).await.expect("connect");
            let batches: Vec<v1::UploadBatch> = chunks
                .into_iter()
                .enumerate()
                .map(|(sequence, records)| v1::UploadBatch { header: (sequence == 0).then(|| header.clone()), sequence: sequence as u32, records })
                .collect();
            let sent = batches.len();
            let mut acks = client.upload(tokio_stream::iter(batches)).await.expect("upload").into_inner();
            let mut acknowledged = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match acks.message().await {
                    Ok(Some(_)) => acknowledged += 1,
                    _ => break,
                }
            }
            (sent, acknowledged)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flooded = profile_times(client, &refs[2000..3000]).await;
    let flooded_p99 = p99(&flooded);
    let flood_still_running = flooders.iter().any(|f| !f.is_finished());
    report("profile by record ref while one agency floods uploads", flooded);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = 0;
    for flooder in flooders {
        acknowledged += flooder.await.expect("flooder").1;
    }
    println!(
        "flood: {streams} upload streams, {acknowledged} batches of 1,000 acknowledged while measured{}; profile p99 {:.2} ms against {:.2} ms quiet = {:.2}x (target at most 2x)",
        if flood_still_running { "" } else { " (the flood ended before the queries did)" },
        flooded_p99.as_secs_f64() * 1000.0,
        quiet_p99.as_secs_f64() * 1000.0,
        flooded_p99.as_secs_f64() / quiet_p99.as_secs_f64()
    );
}

/// Profile queries by record ref, one after another: each one's latency.
async fn profile_times(client: &mut PanelServiceClient<braid_client::Transport>, refs: &[(String, String)]) -> Vec<Duration> {
    let mut times = Vec::new();
    for (agency, record_ref) in refs {
        let started = Instant::now();
        let response = client
            .profile(v1::ProfileRequest {
                context: context("north"),
                subject: Some(v1::profile_request::Subject::Record(v1::RecordSubject { agency: agency.clone(), record_ref: record_ref.clone() })),
            })
            .await
            .expect("profile")
            .into_inner();
        times.push(started.elapsed());
        assert!(!response.profiles.is_empty());
    }
    times
}

fn p99(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    percentile(&sorted, 0.99)
}
