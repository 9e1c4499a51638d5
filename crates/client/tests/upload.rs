//! `braid_client::upload` against a node that breaks every stream after
//! storing one batch: an upload that keeps making progress is not given up
//! on, however small its retry budget, and its summary counts each record
//! once. An upload that gets no further gives up after its budget, even
//! against a node that stores the same batches afresh every time.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use braid_client::{NodeArgs, UploadEvent};
use braid_proto::v1::{self, ingest_service_server::IngestService, ingest_service_server::IngestServiceServer};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

type AckStream = Pin<Box<dyn Stream<Item = Result<v1::BatchAck, Status>> + Send>>;

/// Stores at most `per_stream` new batches per stream, then drops the
/// stream as a restarting node would, as it does at any batch from
/// `fails_from` on; a batch stored before is answered from its stored
/// acknowledgement when the node `remembers` (else stored again).
#[derive(Clone)]
struct Flaky {
    per_stream: usize,
    fails_from: u32,
    remembers: bool,
    stored: Arc<Mutex<BTreeSet<u32>>>,
}

impl Flaky {
    fn new(per_stream: usize) -> Flaky {
        Flaky { per_stream, fails_from: u32::MAX, remembers: true, stored: Arc::new(Mutex::new(BTreeSet::new())) }
    }
}

#[tonic::async_trait]
impl IngestService for Flaky {
    type UploadStream = AckStream;

    async fn upload(&self, request: Request<Streaming<v1::UploadBatch>>) -> Result<Response<AckStream>, Status> {
        let mut incoming = request.into_inner();
        let node = self.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut fresh = 0;
            while let Some(Ok(batch)) = incoming.next().await {
                let replayed = node.remembers && node.stored.lock().expect("the stored set").contains(&batch.sequence);
                if !replayed {
                    if fresh == node.per_stream || batch.sequence >= node.fails_from {
                        let _ = sender.send(Err(Status::unavailable("the node is restarting"))).await;
                        return;
                    }
                    fresh += 1;
                    node.stored.lock().expect("the stored set").insert(batch.sequence);
                }
                let records = batch.records.len() as u32;
                let ack = v1::BatchAck { sequence: batch.sequence, accepted: records, replayed, ..Default::default() };
                if sender.send(Ok(ack)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }

    async fn withdraw(&self, _: Request<v1::WithdrawRequest>) -> Result<Response<v1::WithdrawResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn completeness(&self, _: Request<v1::AgencyCompletenessRequest>) -> Result<Response<v1::CompletenessResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn uploads(&self, _: Request<v1::AgencyUploadsRequest>) -> Result<Response<v1::AgencyUploadsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// Serves `node` on a loopback port (plain text, as an `--insecure-dev`
/// node does) and returns how to reach it.
async fn serve(node: Flaky) -> NodeArgs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let address = listener.local_addr().expect("the bound address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IngestServiceServer::new(node))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    NodeArgs { node: format!("http://{address}"), tls: None, principal: Some("csc-north".to_owned()) }
}

fn extract(records: usize) -> (v1::UploadHeader, Vec<v1::CaseRecord>) {
    let header = v1::UploadHeader { agency: "CSC-NORTH".to_owned(), ..Default::default() };
    let records = (0..records).map(|i| v1::CaseRecord { record_ref: format!("r{i}"), ..Default::default() }).collect();
    (header, records)
}

#[tokio::test]
async fn an_upload_that_keeps_making_progress_is_not_given_up_on() {
    let flaky = Flaky::new(1);
    let stored = Arc::clone(&flaky.stored);
    let node = serve(flaky).await;
    let (header, records) = extract(50);
    let mut retries_heard = 0;
    let mut events = |event: UploadEvent| {
        if matches!(event, UploadEvent::Retrying { .. }) {
            retries_heard += 1;
        }
    };
    // Ten batches, one stored per stream: nine interruptions, each after
    // progress, against a budget of one failure in a row.
    let summary = braid_client::upload(&node, &header, records.clone(), 5, 1, &mut events).await.expect("the upload completes");
    assert_eq!(stored.lock().expect("the stored set").len(), 10);
    assert_eq!(summary.attempts, 10);
    assert_eq!(retries_heard, 9);
    assert_eq!((summary.accepted, summary.already_stored(), summary.replayed_batches), (5, 45, 9));
    assert_eq!(summary.acknowledged(), 50);
}

#[tokio::test]
async fn an_upload_that_stores_nothing_gives_up_after_its_retries() {
    let node = serve(Flaky::new(0)).await;
    let (header, records) = extract(10);
    let error = braid_client::upload(&node, &header, records.clone(), 5, 2, &mut |_| {}).await.expect_err("nothing is ever stored");
    let text = format!("{error:#}");
    assert!(text.contains("gave up after 3 attempts in a row without progress"), "{text}");
}

#[tokio::test]
async fn an_upload_that_gets_no_further_gives_up_though_batches_are_stored_again() {
    // Batches 0 and 1 are stored afresh by every attempt (the node keeps no
    // acknowledgement), batch 2 always fails: no attempt gets further than
    // the first.
    let node = serve(Flaky { per_stream: usize::MAX, fails_from: 2, remembers: false, ..Flaky::new(0) }).await;
    let (header, records) = extract(20);
    let mut attempts = 0;
    let mut events = |event: UploadEvent| {
        if event == UploadEvent::Attempt {
            attempts += 1;
        }
    };
    let error = braid_client::upload(&node, &header, records.clone(), 5, 2, &mut events).await.expect_err("batch 2 is never stored");
    let text = format!("{error:#}");
    assert!(text.contains("gave up after 3 attempts in a row without progress"), "{text}");
    // The first attempt got two batches further and then failed (the
    // first of the three failures); the two retries got no further.
    assert_eq!(attempts, 3);
}
