//! Job progress: `POST /jobs` starts a job, `GET /jobs/stream?id=N` follows it
//! (several pages may watch one job, and a reconnecting page resumes), ending
//! with a `complete` event. After that, a reconnect is answered 204.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use ssekit::hub::Hub;
use ssekit::{Event, SsePublisher};

use crate::{App, JsonReply};

/// How long a finished job's events are kept for late watchers.
const KEEP_FINISHED: Duration = Duration::from_secs(60);
const MAX_STEPS: u32 = 1000;

/// The job-progress application.
#[derive(Clone)]
pub struct Progress {
    hub: Hub,
    next_job: Arc<AtomicU64>,
    /// Job id → id of its final event, once finished.
    finished: Arc<Mutex<HashMap<String, String>>>,
    step: Duration,
}

/// What `POST /jobs` takes.
#[derive(Deserialize, Default)]
pub struct JobRequest {
    /// How many steps the job takes (default 20).
    pub steps: Option<u32>,
}

impl Progress {
    /// Jobs advance one step every `step`.
    pub fn new(step: Duration) -> Self {
        Self {
            hub: Hub::new(),
            next_job: Arc::new(AtomicU64::new(1)),
            finished: Arc::new(Mutex::new(HashMap::new())),
            step,
        }
    }

    fn start(&self, steps: u32) -> String {
        let job = self.next_job.fetch_add(1, Ordering::Relaxed).to_string();
        let (hub, finished, step, id) = (
            self.hub.clone(),
            self.finished.clone(),
            self.step,
            job.clone(),
        );
        tokio::spawn(async move {
            for done in 1..=steps {
                tokio::time::sleep(step).await;
                let percent = done * 100 / steps;
                let data = serde_json::json!({ "step": done, "steps": steps, "percent": percent });
                if let Ok(event) = Event::json(&data).map(|e| e.with_event("progress")) {
                    hub.publish(&id, event);
                }
            }
            let complete = Event::json(&serde_json::json!({ "result": format!("job {id} done") }))
                .map(|e| e.with_event("complete"));
            if let Ok(event) = complete {
                if let Some(last) = hub.publish(&id, event).id {
                    finished
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id.clone(), last);
                }
            }
            tokio::time::sleep(KEEP_FINISHED).await;
            hub.remove_topic(&id);
            finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
        job
    }
}

impl App for Progress {
    const PAGE: &'static str = include_str!("../../pages/progress.html");
    const STREAM: &'static str = "/jobs/stream";
    const POST: Option<&'static str> = Some("/jobs");
    type Request = JobRequest;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        let Some(job) = publisher.request().query_param("id") else {
            return publisher.no_content();
        };
        let final_id = self
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&job)
            .cloned();
        if final_id.is_some() && final_id.as_deref() == publisher.last_event_id() {
            return publisher.no_content(); // it saw the end: stop reconnecting
        }
        // A first connection replays the job from its start.
        let resume_from = publisher.last_event_id().unwrap_or("0").to_owned();
        publisher.publish(self.hub.subscribe(&job, Some(&resume_from)))
    }

    async fn post(&self, request: JobRequest) -> JsonReply {
        let steps = request.steps.unwrap_or(20).clamp(1, MAX_STEPS);
        let job = self.start(steps);
        JsonReply::ok(serde_json::json!({ "id": job, "steps": steps }))
    }

    fn shutdown(&self) {
        self.hub.shutdown();
    }
}
