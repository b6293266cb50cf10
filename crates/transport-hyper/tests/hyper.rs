//! What only the async transport has: cancellation of pending futures, HTTP/2 multiplexing,
//! connection reuse, and many concurrent streams; against the local Messages server.

use std::time::{Duration, Instant};

use messages_test_server::{ClosedBy, Fault, Generate, HttpVersions, Reply, Server};
use transport_hyper::{Client, ClientConfig, MessageParam, MessageParams, Timeouts};

fn config(server: &Server) -> ClientConfig {
    let mut timeouts = Timeouts::default();
    timeouts.idle = Duration::from_secs(5);
    ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(server.base_url())
        .timeouts(timeouts)
}

fn params(model: &str) -> MessageParams {
    MessageParams::new(model, 256).message(MessageParam::user("Hello"))
}

const CLOSE_WITHIN: Duration = Duration::from_millis(100);

async fn assert_closed_within_limit(server: &Server, exit: Instant) {
    let closed = server
        .wait_all_closed_async(Duration::from_secs(2))
        .await
        .expect("the server saw the close");
    let latency = closed.saturating_duration_since(exit);
    eprintln!("close latency: {latency:?}");
    assert!(latency < CLOSE_WITHIN, "closed {latency:?} after exit");
    assert!(
        server
            .connections()
            .iter()
            .all(|c| c.closed_by == Some(ClosedBy::Client))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_pending_enter_closes_the_connection() {
    let server = Server::start();
    server.enqueue(Reply::silence());
    let client = Client::new(config(&server));
    let manager = client.messages().stream(params("claude-test"));
    let pending = tokio::time::timeout(Duration::from_millis(200), manager.enter()).await;
    let cancelled = Instant::now();
    assert!(pending.is_err(), "enter is still waiting for the head");
    assert_eq!(server.request_count(), 1);
    assert_closed_within_limit(&server, cancelled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_task_pending_in_next_closes_the_connection() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(4)));
    let client = Client::new(config(&server));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut stream = client
            .messages()
            .stream(params("claude-test"))
            .enter()
            .await
            .unwrap();
        for _ in 0..4 {
            stream.next().await.unwrap().unwrap();
        }
        tx.send(()).unwrap();
        // Pending forever: the server stalls and the idle deadline is far.
        stream.next().await
    });
    rx.await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    task.abort();
    let aborted = Instant::now();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_closed_within_limit(&server, aborted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_next_loses_nothing() {
    // Events every 30 ms; a 5 ms timeout cancels most calls to `next`. The events that do
    // come, in order, still make the whole message.
    let spec = Generate::text(8);
    let server = Server::start();
    server.enqueue(Reply::generated(spec.clone()).pace_events(Duration::from_millis(30)));
    let client = Client::new(config(&server));
    let mut stream = client
        .messages()
        .stream(params("claude-test"))
        .enter()
        .await
        .unwrap();
    let (mut events, mut cancelled) = (0, 0);
    loop {
        match tokio::time::timeout(Duration::from_millis(5), stream.next()).await {
            Err(_) => cancelled += 1,
            Ok(Some(event)) => {
                event.unwrap();
                events += 1;
            }
            Ok(None) => break,
        }
    }
    assert!(cancelled > 10, "{cancelled} cancellations");
    assert_eq!(events, 8 + 6);
    let message = stream.final_message().await.unwrap();
    assert_eq!(message.to_json(), spec.expected_message("claude-test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_connections_are_reused_between_streams() {
    let server = Server::builder().http(HttpVersions::Http1).start();
    let client = Client::new(config(&server));
    for _ in 0..3 {
        let text = client
            .messages()
            .stream(params("claude-test"))
            .enter()
            .await
            .unwrap()
            .final_text()
            .await
            .unwrap();
        assert_eq!(text.len(), 12 * 16);
        // hyper's pool races a new connection against the release of the idle one, so give the
        // connection task a moment to put it back before the next request.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.connection_count(), 1, "one pooled connection");
}

async fn concurrent_streams(client: &Client, count: usize, spec: &Generate) -> Duration {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let client = client.clone();
        let model = format!("claude-test-{i}");
        tasks.spawn(async move {
            let message = client
                .messages()
                .stream(params(&model))
                .enter()
                .await
                .unwrap()
                .final_message()
                .await
                .unwrap();
            (model, message)
        });
    }
    let mut done = 0;
    while let Some(result) = tasks.join_next().await {
        let (model, message) = result.unwrap();
        assert_eq!(message.to_json(), spec.expected_message(&model), "{model}");
        done += 1;
    }
    assert_eq!(done, count);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_streams_end_with_the_right_messages() {
    let spec = Generate::text(50).citations(2).tool_use(2_000);
    let server = Server::builder()
        .default_reply(Reply::generated(spec.clone()))
        .start();
    let client = Client::new(config(&server));
    let elapsed = concurrent_streams(&client, 200, &spec).await;
    eprintln!(
        "200 concurrent streams over HTTP/1.1: {elapsed:?} on {} connections",
        server.connection_count()
    );
    assert_eq!(server.request_count(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_carries_many_concurrent_streams_on_one_connection() {
    let spec = Generate::text(50).thinking(3);
    let server = Server::builder()
        .http(HttpVersions::Http2)
        .default_reply(Reply::generated(spec.clone()).pace_events(Duration::from_millis(1)))
        .start();
    let client = Client::builder(config(&server))
        .http2_prior_knowledge()
        .build();
    // One stream first, so that the pool holds the connection the others will share.
    concurrent_streams(&client, 1, &spec).await;
    let elapsed = concurrent_streams(&client, 100, &spec).await;
    eprintln!("100 concurrent HTTP/2 streams on one connection: {elapsed:?}");
    assert_eq!(server.connection_count(), 1);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.version == http::Version::HTTP_2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_one_http2_stream_resets_it_and_spares_the_others() {
    let server = Server::builder().http(HttpVersions::Http2).start();
    server
        .enqueue(Reply::generated(Generate::text(5)).fault(Fault::StallAfterEvents(3)))
        .enqueue(Reply::generated(Generate::text(40)).pace_events(Duration::from_millis(2)));
    let client = Client::builder(config(&server))
        .http2_prior_knowledge()
        .build();
    let mut stalled = client
        .messages()
        .stream(params("claude-test"))
        .enter()
        .await
        .unwrap();
    stalled.next().await.unwrap().unwrap();
    let other = client.messages().stream(params("claude-test"));
    let other = tokio::spawn(async move { other.enter().await.unwrap().final_text().await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let dropped = Instant::now();
    drop(stalled);
    let ended = server
        .wait_for_async(Duration::from_secs(2), |o| o.requests[0].response_ended_at)
        .await
        .expect("the server saw the stream end");
    let latency = ended.saturating_duration_since(dropped);
    eprintln!("HTTP/2 stream reset latency: {latency:?}");
    assert!(latency < CLOSE_WITHIN, "{latency:?}");
    assert!(!server.requests()[0].response_complete);
    assert_eq!(other.await.unwrap().unwrap().len(), 40 * 16);
    assert_eq!(server.connection_count(), 1);
    assert_eq!(
        server.connections()[0].closed_at,
        None,
        "the connection stays up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_negotiates_http2_by_alpn() {
    let server = Server::builder().tls().start();
    let client = Client::with_root_certificates(
        config(&server),
        &[server.certificate_der().unwrap().to_vec()],
    );
    let text = client
        .messages()
        .stream(params("claude-test"))
        .enter()
        .await
        .unwrap()
        .final_text()
        .await
        .unwrap();
    assert_eq!(text.len(), 12 * 16);
    assert_eq!(server.requests()[0].version, http::Version::HTTP_2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_works_with_stream_combinators() {
    use futures_core::Stream;
    let server = Server::start();
    let client = Client::new(config(&server));
    let mut text = client
        .messages()
        .stream(params("claude-test"))
        .enter()
        .await
        .unwrap()
        .text_stream();
    let mut deltas = Vec::new();
    // Poll through the `Stream` trait, as `StreamExt` does.
    while let Some(delta) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut text).poll_next(cx)).await
    {
        deltas.push(delta.unwrap());
    }
    assert_eq!(deltas.len(), 12);
    let message = text.final_message().await.unwrap();
    assert_eq!(deltas.concat(), message.text());
}
