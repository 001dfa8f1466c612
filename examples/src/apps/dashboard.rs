//! Live server metrics: a sampler publishes CPU, memory and load once a second
//! to a hub topic; every `GET /dashboard/stream` subscribes to it.

use std::time::Duration;

use serde::Serialize;
use ssekit::hub::{Hub, HubConfig};
use ssekit::{Event, SsePublisher};

use crate::{App, JsonReply};

const TOPIC: &str = "metrics";

/// The dashboard application.
#[derive(Clone)]
pub struct Dashboard {
    hub: Hub,
}

#[derive(Serialize)]
struct Sample {
    cpu_percent: f64,
    memory_percent: f64,
    load1: f64,
    viewers: usize,
    unix_ms: u128,
}

impl Dashboard {
    /// Starts the sampler (needs a Tokio runtime). The last 60 samples are kept,
    /// so a new page draws the last minute at once.
    pub fn start(interval: Duration) -> Self {
        let hub: Hub =
            Hub::with_config(HubConfig::default().with_history(60).with_ids_from_clock());
        let sampler = hub.clone();
        tokio::spawn(async move {
            let mut cpu = CpuTimes::read();
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let now = CpuTimes::read();
                let sample = Sample {
                    cpu_percent: now.busy_percent_since(&cpu),
                    memory_percent: memory_percent(),
                    load1: load1(),
                    viewers: sampler.subscriber_count(TOPIC),
                    unix_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis()),
                };
                cpu = now;
                if let Ok(event) = Event::json(&sample) {
                    sampler.publish(TOPIC, event);
                }
            }
        });
        Self { hub }
    }
}

impl App for Dashboard {
    const PAGE: &'static str = include_str!("../../pages/dashboard.html");
    const STREAM: &'static str = "/dashboard/stream";
    const POST: Option<&'static str> = None;
    type Request = serde_json::Value;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        // A new page (no Last-Event-ID) starts from the whole minute of history.
        let resume_from = publisher.last_event_id().unwrap_or("0").to_owned();
        publisher.publish(self.hub.subscribe(TOPIC, Some(&resume_from)))
    }

    async fn post(&self, _request: serde_json::Value) -> JsonReply {
        JsonReply::error(http::StatusCode::NOT_FOUND, "not found")
    }

    fn shutdown(&self) {
        self.hub.shutdown();
    }
}

/// Aggregate CPU times from `/proc/stat` (zeros where it cannot be read).
#[derive(Default)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        Self {
            busy: total - idle.min(total),
            total,
        }
    }

    fn busy_percent_since(&self, before: &CpuTimes) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return 0.0;
        }
        100.0 * self.busy.saturating_sub(before.busy) as f64 / total as f64
    }
}

fn memory_percent() -> f64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(total), Some(available)) if total > 0.0 => 100.0 * (total - available) / total,
        _ => 0.0,
    }
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
