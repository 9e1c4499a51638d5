//! Uploads that are interrupted and resumed store every record, whatever
//! batch size the resumed upload uses, and report numbers that add up.

use braid_proto::v1;
use braid_proto::v1::ingest_service_client::IngestServiceClient;
use braid_tests::*;
use prost::Message;

/// Reads a pseudonymised extract: a magic, the header, then the records,
/// each length-delimited.
fn read_extract(path: &str) -> (v1::UploadHeader, Vec<v1::CaseRecord>) {
    let bytes = std::fs::read(path).expect("extract");
    let mut rest = &bytes[8..];
    let header = v1::UploadHeader::decode_length_delimited(&mut rest).expect("header");
    let mut records = Vec::new();
    while !rest.is_empty() {
        records.push(v1::CaseRecord::decode_length_delimited(&mut rest).expect("record"));
    }
    (header, records)
}

/// The numbers in `… N records uploaded (a new, b replaced, c unchanged, d
/// rejected[, e already stored by an earlier attempt])`.
fn summary_numbers(stdout: &str) -> Vec<u64> {
    stdout
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .filter_map(|part| part.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upload_with_another_batch_size_stores_every_record() {
    let prepared = prepare(1200);
    let data = tempfile::tempdir().expect("data dir");
    let node = start_node(&prepared.path("keys"), data.path(), loopback()).await;
    let url = node.url();
    let file = prepared.path("CSC-NORTH.bpx");
    let (header, records) = read_extract(&file);
    let total = records.len();
    assert!(total > 600, "the extract has {total} records");

    // The first attempt sends 5 batches of 100 of the submission, then the
    // connection is lost.
    let channel = mtls_channel(&prepared.path("keys"), "csc-north", &url).await.expect("connect");
    let mut client = IngestServiceClient::new(channel);
    let batches: Vec<v1::UploadBatch> = records
        .chunks(100)
        .take(5)
        .enumerate()
        .map(|(index, chunk)| v1::UploadBatch {
            header: (index == 0).then(|| header.clone()),
            sequence: index as u32,
            records: chunk.to_vec(),
        })
        .collect();
    let mut acks = client.upload(tokio_stream::iter(batches)).await.expect("upload").into_inner();
    let mut acked = 0;
    while let Some(ack) = acks.message().await.expect("ack") {
        assert!(!ack.replayed);
        acked += 1;
    }
    assert_eq!(acked, 5);
    drop(client);

    // The resumed upload cuts the same submission into batches of 250.
    let keys = prepared.path("keys");
    let (url_for, file_for) = (url.clone(), file.clone());
    let stdout = blocking(move || ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url_for, "--batch-size", "250", &file_for]))).await;
    let numbers = summary_numbers(&stdout);
    // [records, new, replaced, unchanged, rejected]: every record is
    // accounted for, and the 500 stored before are recognised as unchanged.
    assert_eq!(numbers[0] as usize, total, "{stdout}");
    assert_eq!(numbers[1..5].iter().sum::<u64>() as usize, total, "{stdout}");
    assert_eq!(numbers[3], 500, "{stdout}");
    let held = stats(&prepared.path("keys"), &url);
    assert_eq!(held["records"].as_u64(), Some(total as u64), "{held}");

    // Re-sending with the default size changes nothing and says so.
    let keys = prepared.path("keys");
    let again = blocking(move || ok(&braid_as(&keys, "csc-north", &["agency", "upload", "--node", &url, &file]))).await;
    let numbers = summary_numbers(&again);
    assert_eq!(numbers[0] as usize, total, "{again}");
    assert_eq!(numbers[3] as usize, total, "every record unchanged: {again}");
}
