//! Live server metrics: a sampler publishes CPU, memory and load once a second
//! to a hub topic; every `GET /dashboard/stream` subscribes to it.
//!
//! ssekit's own metrics (feature `metrics`) go to a Prometheus recorder:
//! `GET /metrics` answers them in Prometheus's text format, and each sample
//! also carries two of them, the streams open and the frames sent per
//! second, read back from that same text.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use ssekit::hub::{Hub, HubConfig};
use ssekit::{Event, SsePublisher};

use crate::{App, JsonReply};

const TOPIC: &str = "metrics";

/// The dashboard application.
#[derive(Clone)]
pub struct Dashboard {
    hub: Hub,
    /// `None` when another recorder was installed first (in a program
    /// embedding the app): `/metrics` then says so.
    prometheus: Option<PrometheusHandle>,
}

#[derive(Serialize)]
struct Sample {
    cpu_percent: f64,
    memory_percent: f64,
    load1: f64,
    viewers: usize,
    /// `ssekit_streams_open`, all adapters.
    open_streams: f64,
    /// `ssekit_frames_sent_total`, all adapters, per second since the last
    /// sample.
    frames_per_second: f64,
    unix_ms: u128,
}

/// The process's Prometheus recorder, installed by the first call (before
/// any hub or stream is made, so that they report to it); `None` if
/// another recorder was installed first.
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().install_recorder().ok()?;
            ssekit::metrics::describe();
            Some(handle)
        })
        .clone()
}

/// The sum of every series of `name` in Prometheus text (all label sets).
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

impl Dashboard {
    /// Starts the sampler (needs a Tokio runtime). The last 60 samples are kept,
    /// so a new page draws the last minute at once.
    pub fn start(interval: Duration) -> Self {
        let prometheus = prometheus();
        let hub: Hub =
            Hub::with_config(HubConfig::default().with_history(60).with_ids_from_clock());
        let sampler = hub.clone();
        let figures = prometheus.clone();
        tokio::spawn(async move {
            let mut cpu = CpuTimes::read();
            let mut frames_before = None;
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let (open_streams, frames) = figures.as_ref().map_or((0.0, 0.0), |handle| {
                    // Drains histograms into their summaries, as the
                    // exporter asks of handles that render.
                    handle.run_upkeep();
                    let text = handle.render();
                    (
                        sum(&text, ssekit::metrics::STREAMS_OPEN),
                        sum(&text, ssekit::metrics::FRAMES_SENT),
                    )
                });
                let frames_per_second = frames_before.map_or(0.0, |before: f64| {
                    (frames - before) / interval.as_secs_f64()
                });
                frames_before = Some(frames);
                let now = CpuTimes::read();
                let sample = Sample {
                    cpu_percent: now.busy_percent_since(&cpu),
                    memory_percent: memory_percent(),
                    load1: load1(),
                    viewers: sampler.subscriber_count(TOPIC),
                    open_streams,
                    frames_per_second,
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
        Self { hub, prometheus }
    }
}

impl App for Dashboard {
    const PAGE: &'static str = include_str!("../../pages/dashboard.html");
    const STREAM: &'static str = "/dashboard/stream";
    const POST: Option<&'static str> = None;
    const TEXT: Option<&'static str> = Some("/metrics");
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

    fn text(&self) -> String {
        match &self.prometheus {
            Some(handle) => handle.render(),
            None => "# another metrics recorder was installed first\n".to_owned(),
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn sums_every_series_of_a_name_and_no_other() {
        let text = "# TYPE ssekit_streams_open gauge\n\
                    ssekit_streams_open{adapter=\"axum\"} 2\n\
                    ssekit_streams_open{adapter=\"warp\"} 1\n\
                    ssekit_streams_opened_total{adapter=\"axum\"} 9\n\
                    ssekit_hub_topics 4\n";
        assert_eq!(super::sum(text, "ssekit_streams_open"), 3.0);
        assert_eq!(super::sum(text, "ssekit_hub_topics"), 4.0);
        assert_eq!(super::sum(text, "ssekit_nothing"), 0.0);
    }
}
