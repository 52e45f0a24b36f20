//! Several workers (`server.workers`), each a thread with its own runtime accepting on the
//! same sockets: connections spread over them, the upstream promise holds across them
//! (each worker pools its own upstream connections), and a shutdown drains what every
//! worker holds before the server returns.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use sealgate_testkit::*;

/// Connections accepted by each worker, from `/metrics`.
async fn accepted_by_worker(app: &TestApp, workers: usize) -> Vec<f64> {
    let text = metrics_text(app).await;
    (0..workers)
        .map(|w| {
            metric(
                &text,
                &format!("sealgate_worker_connections_total{{worker=\"{w}\"}}"),
            )
        })
        .collect()
}

/// Three workers, with the broken upstream's attacks beside sealed and plain victims: no
/// victim reads another's answer, and more than one worker served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_three_workers_no_answer_crosses_and_the_workers_share_the_connections() {
    let upstream = spawn_broken_upstream().await;
    let app = Arc::new(
        spawn_app(
            ConfigBuilder::new(upstream.addr)
                .with(|f| f.server.workers = Some(3))
                .build(),
        )
        .await,
    );
    crate::upstreams::victims_beside_attackers(&app, 12).await;
    let accepted = accepted_by_worker(&app, 3).await;
    let serving = accepted.iter().filter(|&&n| n > 0.0).count();
    eprintln!("connections accepted by worker: {accepted:?}");
    assert!(
        serving >= 2,
        "one worker took every connection: {accepted:?}"
    );
    assert!(accepted.iter().sum::<f64>() >= 12.0 * 48.0, "{accepted:?}");
}

/// Requests in flight on every worker when the shutdown comes all finish with their
/// answers, and the server returns once every worker has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_drains_the_requests_every_worker_holds() {
    let upstream = spawn_upstream(Behaviour::Slow(400)).await;
    let mut app = spawn_app(
        ConfigBuilder::new(upstream.addr)
            .with(|f| f.server.workers = Some(3))
            .build(),
    )
    .await;
    let mut calls = tokio::task::JoinSet::new();
    for k in 0..24 {
        // A few at a time, so every worker is waiting on the socket for some of them.
        if k % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A client of its own each: a connection of its own each.
        let url = app.url(&format!("/plain/slow/{k}"));
        calls.spawn(async move {
            send(
                http::Request::get(url)
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
        });
    }
    // Every request reaches the upstream before the shutdown begins.
    for _ in 0..100 {
        if upstream.requests().len() == 24 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.requests().len(), 24, "all in flight");
    let accepted = accepted_by_worker(&app, 3).await;
    app.begin_shutdown();
    while let Some(reply) = calls.join_next().await {
        let reply = reply.unwrap();
        assert_eq!(reply.status, 200, "an in-flight request finishes");
        assert_eq!(&reply.body[..], b"ok");
    }
    let stopped = app.stopped.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server returns once its workers end")
        .unwrap()
        .unwrap();
    eprintln!("connections accepted by worker: {accepted:?}");
    assert!(
        accepted.iter().filter(|&&n| n > 0.0).count() >= 2,
        "the requests were held by more than one worker: {accepted:?}"
    );
}
