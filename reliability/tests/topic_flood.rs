//! A flood of distinct topic names over HTTP (a route `/publish/{topic}`, the
//! pattern of a notification per user): what the hub keeps stays within its
//! caps, whatever one client sends.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use ssekit::hub::{Hub, HubConfig};
use ssekit::Event;

const PUBLISHES: usize = 100_000;
const CLIENTS: usize = 8;
const MAX_TOPICS: usize = 10_000;
const MAX_HISTORY_BYTES: usize = 2 * 1024 * 1024;

async fn publish(State(hub): State<Hub>, Path(topic): Path<String>, body: String) -> StatusCode {
    hub.publish(&topic, Event::message(body));
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_publishes_to_distinct_topics_stay_within_the_caps() {
    let hub: Hub = Hub::with_config(
        HubConfig::new()
            .with_max_topics(MAX_TOPICS)
            .with_max_history_bytes(MAX_HISTORY_BYTES),
    );
    let app = Router::new()
        .route("/publish/{topic}", post(publish))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Arc::new(format!("http://{}", listener.local_addr().unwrap()));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Keep-alive connections, one per client task.
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let mut tasks = Vec::new();
    for task in 0..CLIENTS {
        let (client, base, hub) = (client.clone(), base.clone(), hub.clone());
        tasks.push(tokio::spawn(async move {
            let mut most_topics = 0;
            for n in (task..PUBLISHES).step_by(CLIENTS) {
                let response = client
                    .post(format!("{base}/publish/user-{n}"))
                    .body(format!("notification {n}"))
                    .send()
                    .await
                    .expect("the server answers");
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
                most_topics = most_topics.max(hub.topic_count());
                assert!(hub.history_bytes() <= MAX_HISTORY_BYTES + 1024);
            }
            most_topics
        }));
    }
    let mut most_topics = 0;
    for task in tasks {
        most_topics = most_topics.max(task.await.unwrap());
    }
    assert!(most_topics <= MAX_TOPICS, "{most_topics} topics at once");
    assert!(hub.topic_count() <= MAX_TOPICS);
    assert!(hub.history_bytes() <= MAX_HISTORY_BYTES);
    // Every topic kept is idle (no subscriber): all of them could be evicted.
    assert_eq!(hub.idle_topic_count(), hub.topic_count());
}
