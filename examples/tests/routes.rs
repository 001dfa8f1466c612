//! Every framework mounts an app's routes with its own router and JSON
//! extractor, and they answer alike: the page, the stream, the action, a
//! malformed action refused with a 4xx, an unknown path 404.

use ssekit_examples::apps::chat::Chat;
use ssekit_examples::Framework;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framework_routes_the_chat_alike() {
    let client = reqwest::Client::new();
    for framework in Framework::ALL {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ssekit_examples::serve(
            Chat::new(),
            framework,
            listener,
            async move {
                let _ = stopped.await;
            },
        ));

        // Rocket binds its own socket once it has ignited: wait for it.
        let mut page = client.get(format!("{base}/")).send().await;
        for _ in 0..100 {
            if page.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            page = client.get(format!("{base}/")).send().await;
        }
        let page = page.unwrap_or_else(|e| panic!("{framework}: not serving: {e}"));
        assert_eq!(page.status(), 200, "{framework}: the page");
        let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{framework}: {content_type}"
        );

        let stream = client
            .get(format!("{base}/chat/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "{framework}: the stream");
        assert_eq!(
            stream.headers()["content-type"],
            "text/event-stream",
            "{framework}"
        );

        let sent = client
            .post(format!("{base}/chat/send"))
            .json(&serde_json::json!({ "user": "ann", "text": "hi" }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200, "{framework}: the action");
        let reply: serde_json::Value = sent.json().await.unwrap();
        assert_eq!(reply["delivered"], 1, "{framework}: {reply}");

        let malformed = client
            .post(format!("{base}/chat/send"))
            .header("content-type", "application/json")
            .body("{\"user\":")
            .send()
            .await
            .unwrap();
        assert!(
            malformed.status().is_client_error(),
            "{framework}: {}",
            malformed.status()
        );

        let invalid = client
            .post(format!("{base}/chat/send"))
            .json(&serde_json::json!({ "user": "", "text": "hi" }))
            .send()
            .await
            .unwrap();
        assert_eq!(invalid.status(), 400, "{framework}: the app's own check");

        let unknown = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(unknown.status(), 404, "{framework}: an unknown path");

        drop(stream);
        let _ = stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(20), server)
            .await
            .unwrap_or_else(|_| panic!("{framework}: no graceful shutdown within 20 s"))
            .unwrap()
            .unwrap();
    }
}
