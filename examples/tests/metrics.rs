//! The dashboard's `/metrics` over real HTTP on every framework: while a
//! page's stream is open, ssekit's metrics are there in Prometheus's text
//! format, counting that stream under the framework's adapter label, and
//! the samples the page charts carry the same figures.

use std::time::Duration;

use ssekit::decode::{Decoded, Decoder};
use ssekit_examples::apps::dashboard::Dashboard;
use ssekit_examples::Framework;

/// Generous: every wait here takes well under a second.
const PATIENCE: Duration = Duration::from_secs(20);

/// The value of the series `series` (name and labels, as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_exposes_its_metrics_while_a_stream_is_open() {
    let client = reqwest::Client::new();
    for framework in Framework::ALL {
        let adapter = framework.name();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ssekit_examples::serve(
            Dashboard::start(Duration::from_millis(50)),
            framework,
            listener,
            async move {
                let _ = stopped.await;
            },
        ));

        // Rocket binds its own socket once it has ignited: wait for it.
        let mut stream = client.get(format!("{base}/dashboard/stream")).send().await;
        let start = tokio::time::Instant::now();
        while stream.is_err() && start.elapsed() < PATIENCE {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stream = client.get(format!("{base}/dashboard/stream")).send().await;
        }
        let mut stream = stream.unwrap_or_else(|e| panic!("{framework}: not serving: {e}"));
        assert_eq!(stream.status(), 200, "{framework}: the stream");

        // A sample taken while this stream is open counts it.
        let mut decoder = Decoder::new();
        let sample = tokio::time::timeout(PATIENCE, async {
            loop {
                let chunk = stream.chunk().await.unwrap().expect("the stream goes on");
                for decoded in decoder.feed(&chunk).unwrap() {
                    if let Decoded::Event(event) = decoded {
                        let sample: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                        if sample["open_streams"].as_f64() >= Some(1.0) {
                            return sample;
                        }
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{framework}: no sample counting the open stream"));
        assert!(
            sample["frames_per_second"].as_f64().is_some(),
            "{framework}: {sample}"
        );

        let response = client.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{framework}: /metrics");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("text/plain"),
            "{framework}: {content_type}"
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains("# HELP ssekit_streams_open SSE streams open now"),
            "{framework}: described\n{text}"
        );
        let series = |name: &str| format!("{name}{{adapter=\"{adapter}\"}}");
        assert_eq!(
            value(&text, &series("ssekit_streams_open")),
            Some(1.0),
            "{framework}: the one stream open\n{text}"
        );
        let opened =
            format!("ssekit_streams_opened_total{{adapter=\"{adapter}\",resumed=\"false\"}}");
        assert_eq!(value(&text, &opened), Some(1.0), "{framework}\n{text}");
        let frames = value(&text, &series("ssekit_frames_sent_total")).unwrap_or(0.0);
        assert!(frames >= 1.0, "{framework}: the samples sent\n{text}");
        let bytes = value(&text, &series("ssekit_bytes_sent_total")).unwrap_or(0.0);
        assert!(bytes > frames, "{framework}: their bytes\n{text}");
        let published = value(&text, "ssekit_hub_events_published_total").unwrap_or(0.0);
        assert!(
            published >= 1.0,
            "{framework}: the samples published\n{text}"
        );

        drop(stream);
        let _ = stop.send(());
        tokio::time::timeout(PATIENCE, server)
            .await
            .unwrap_or_else(|_| panic!("{framework}: no graceful shutdown in time"))
            .unwrap()
            .unwrap();
    }
}
