//! What ssekit reports through the [`metrics`](https://docs.rs/metrics)
//! facade, and the `tracing` span of each stream (feature `metrics`).
//!
//! Install any `metrics` recorder (Prometheus, StatsD, OpenTelemetry …)
//! **before** building hubs and serving: a hub takes its handles when it is
//! made, and a stream when it opens, so what was made before the recorder
//! reports nowhere. [`describe`] gives each metric its help text and unit.
//!
//! ```
//! // With `ssekit = { version = "0.1", features = ["metrics"] }` and any
//! // recorder installed first (here none: the calls below are no-ops):
//! ssekit::metrics::describe();
//! let hub: ssekit::hub::Hub = ssekit::hub::Hub::new();
//! hub.publish("news", ssekit::Event::message("hi")); // ssekit_hub_events_published_total + 1
//! ```
//!
//! # The metrics
//!
//! Every name starts with `ssekit_`. Labels take a few fixed values only:
//! never a topic, a path, an id or anything else from a client, so a flood
//! of topics or of clients never grows the recorder.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `ssekit_streams_open` | gauge | `adapter` | streams open now: from the handler's `publish` until the body ends or is dropped |
//! | `ssekit_streams_opened_total` | counter | `adapter`, `resumed` (`true`, `false`) | streams opened; `resumed` when the request carried a `Last-Event-ID` |
//! | `ssekit_streams_closed_total` | counter | `adapter`, `reason` | streams closed, by why: `ended` (the source ended, including a hub's lag disconnect and shutdown), `shutdown` (a [`Shutdown`](crate::Shutdown) of the publish options), `failed` (the source failed or panicked), `disconnected` (the framework dropped the body first: the client left) |
//! | `ssekit_frames_sent_total` | counter | `adapter` | frames handed to the framework: events and comments from the source (gap notices too), a shutdown's or failure's last event; not the retry hint nor keep-alive comments |
//! | `ssekit_bytes_sent_total` | counter | `adapter` | body bytes handed to the framework, everything included (retry hint, keep-alives) |
//! | `ssekit_hub_topics` | gauge | | topics all hubs of the process hold (with subscribers, or idle and kept for their history) |
//! | `ssekit_hub_events_published_total` | counter | | events published to a hub topic (not those refused with [`HubFull`](crate::hub::HubFull)) |
//! | `ssekit_hub_lag_disconnects_total` | counter | | subscribers disconnected for falling behind under [`LagPolicy::Disconnect`](crate::hub::LagPolicy::Disconnect) |
//! | `ssekit_gap_notices_total` | counter | `reason` (`unknown`, `expired`, `lagged`, `full`, `other`) | gap events made, by the hub and by backplanes (through [`HubConfig::gap_notice`](crate::hub::HubConfig::gap_notice)) |
//! | `ssekit_hub_resumes_total` | counter | | hub subscriptions made with a last event id (the client's `Last-Event-ID`, or one the handler passes) |
//! | `ssekit_hub_replay_events` | histogram | | for each resume the hub could place in its history, the events it replayed (0 when the client missed nothing); an id it cannot place counts a gap notice instead |
//! | `ssekit_stream_limit_refusals_total` | counter | `cap` (`global`, `topic`) | streams refused by [`StreamLimits`](crate::StreamLimits) |
//! | `ssekit_backplane_events_published_total` | counter | `backplane` (`redis`, `nats`, …) | events a backplane's broker acknowledged |
//! | `ssekit_backplane_publish_failures_total` | counter | `backplane` | publishes that failed (broker down, timeout, refused) |
//! | `ssekit_backplane_resumes_total` | counter | `backplane` | backplane subscriptions made with a last event id the backplane could place |
//! | `ssekit_backplane_replay_events` | histogram | `backplane` | for each such resume, the events replayed from the broker's history, in whole pages (a client that leaves mid-page counts its page; recorded when the replay is dropped, with its subscription) |
//!
//! `adapter` is the adapter's [`Adapter::NAME`](crate::adapter::Adapter::NAME):
//! `axum`, `actix`, `warp`, `poem`, `hyper`, `rocket`, `salvo`, or what a
//! third-party adapter names itself. Only streams published through an
//! [`SsePublisher`](crate::SsePublisher) are counted (204, 503 and refusals
//! are not streams).
//!
//! # The span
//!
//! Each stream has a `tracing` span `sse_stream` (level `INFO`) with the
//! fields `adapter` and `resumed` when it opens, and `reason`, `frames` and
//! `bytes` (as in the metrics above) recorded when it closes; a `DEBUG`
//! event marks each end, and the body's warnings about the stream (its
//! source failed; polled outside a Tokio runtime) are logged inside it.
//!
//! # Cost
//!
//! Without the feature none of this is compiled. With it, a stream takes its
//! handles once when it opens (one look-up in the recorder per metric), and
//! adds to its counters once per chunk written, not per event; a hub takes
//! its handles once; nothing allocates per event. Each stream holds one
//! more heap block, its handles and span: 160 bytes (the bench crate's
//! `allocs_per_stream`: 4 blocks and 651 bytes per idle hub stream on axum,
//! against 3 and 491 without the feature).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// `ssekit_streams_open`: gauge, label `adapter`.
pub const STREAMS_OPEN: &str = "ssekit_streams_open";
/// `ssekit_streams_opened_total`: counter, labels `adapter`, `resumed`.
pub const STREAMS_OPENED: &str = "ssekit_streams_opened_total";
/// `ssekit_streams_closed_total`: counter, labels `adapter`, `reason`.
pub const STREAMS_CLOSED: &str = "ssekit_streams_closed_total";
/// `ssekit_frames_sent_total`: counter, label `adapter`.
pub const FRAMES_SENT: &str = "ssekit_frames_sent_total";
/// `ssekit_bytes_sent_total`: counter, label `adapter`.
pub const BYTES_SENT: &str = "ssekit_bytes_sent_total";
/// `ssekit_hub_topics`: gauge.
pub const HUB_TOPICS: &str = "ssekit_hub_topics";
/// `ssekit_hub_events_published_total`: counter.
pub const HUB_EVENTS_PUBLISHED: &str = "ssekit_hub_events_published_total";
/// `ssekit_hub_lag_disconnects_total`: counter.
pub const HUB_LAG_DISCONNECTS: &str = "ssekit_hub_lag_disconnects_total";
/// `ssekit_gap_notices_total`: counter, label `reason`.
pub const GAP_NOTICES: &str = "ssekit_gap_notices_total";
/// `ssekit_hub_resumes_total`: counter.
pub const HUB_RESUMES: &str = "ssekit_hub_resumes_total";
/// `ssekit_hub_replay_events`: histogram.
pub const HUB_REPLAY_EVENTS: &str = "ssekit_hub_replay_events";
/// `ssekit_stream_limit_refusals_total`: counter, label `cap`.
pub const STREAM_LIMIT_REFUSALS: &str = "ssekit_stream_limit_refusals_total";
/// `ssekit_backplane_events_published_total`: counter, label `backplane`.
pub const BACKPLANE_EVENTS_PUBLISHED: &str = "ssekit_backplane_events_published_total";
/// `ssekit_backplane_publish_failures_total`: counter, label `backplane`.
pub const BACKPLANE_PUBLISH_FAILURES: &str = "ssekit_backplane_publish_failures_total";
/// `ssekit_backplane_resumes_total`: counter, label `backplane`.
pub const BACKPLANE_RESUMES: &str = "ssekit_backplane_resumes_total";
/// `ssekit_backplane_replay_events`: histogram, label `backplane`.
pub const BACKPLANE_REPLAY_EVENTS: &str = "ssekit_backplane_replay_events";

/// Gives every metric above its help text and unit, in the recorder
/// installed now (exporters such as Prometheus print them). Call it once,
/// after installing the recorder; calling it again changes nothing.
pub fn describe() {
    describe_gauge!(STREAMS_OPEN, "SSE streams open now");
    describe_counter!(STREAMS_OPENED, "SSE streams opened");
    describe_counter!(STREAMS_CLOSED, "SSE streams closed, by reason");
    describe_counter!(
        FRAMES_SENT,
        "SSE frames (events, comments) handed to the framework"
    );
    describe_counter!(
        BYTES_SENT,
        Unit::Bytes,
        "SSE body bytes handed to the framework"
    );
    describe_gauge!(HUB_TOPICS, "topics held by the process's hubs");
    describe_counter!(HUB_EVENTS_PUBLISHED, "events published to hub topics");
    describe_counter!(
        HUB_LAG_DISCONNECTS,
        "hub subscribers disconnected for falling behind"
    );
    describe_counter!(GAP_NOTICES, "gap events sent, by reason");
    describe_counter!(HUB_RESUMES, "hub subscriptions with a last event id");
    describe_histogram!(HUB_REPLAY_EVENTS, "events replayed from history per resume");
    describe_counter!(
        BACKPLANE_EVENTS_PUBLISHED,
        "events a backplane's broker acknowledged"
    );
    describe_counter!(
        BACKPLANE_PUBLISH_FAILURES,
        "backplane publishes that failed"
    );
    describe_counter!(
        BACKPLANE_RESUMES,
        "backplane subscriptions with a last event id"
    );
    describe_histogram!(
        BACKPLANE_REPLAY_EVENTS,
        "events replayed from a backplane's history per resume"
    );
    describe_counter!(
        STREAM_LIMIT_REFUSALS,
        "streams refused by a stream limit, by cap"
    );
}
