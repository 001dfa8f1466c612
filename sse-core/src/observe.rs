//! The metrics and spans of the `metrics` feature (listed in
//! [`crate::metrics`]) as the rest of the crate calls them. Without the
//! feature every type here is empty and every call does nothing, so the
//! callers need no `cfg` of their own and nothing of it is compiled in.

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

#[cfg(feature = "metrics")]
// Without `hub`, the hub's handles are left unused.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
mod on {
    use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

    use crate::metrics::{
        BACKPLANE_EVENTS_PUBLISHED, BACKPLANE_PUBLISH_FAILURES, BACKPLANE_REPLAY_EVENTS,
        BACKPLANE_RESUMES, BYTES_SENT, FRAMES_SENT, GAP_NOTICES, HUB_EVENTS_PUBLISHED,
        HUB_LAG_DISCONNECTS, HUB_REPLAY_EVENTS, HUB_RESUMES, HUB_TOPICS, STREAMS_CLOSED,
        STREAMS_OPEN, STREAMS_OPENED, STREAM_LIMIT_REFUSALS,
    };

    /// One stream's metrics and span; nothing for bodies that are not
    /// streams (204, refusals).
    pub(crate) struct StreamObserver(Option<Box<Observed>>);

    /// Boxed: the body of an idle stream stays small, and bodies that are
    /// not streams pay a pointer.
    struct Observed {
        adapter: &'static str,
        open: Gauge,
        frames: Counter,
        bytes: Counter,
        span: tracing::Span,
        /// Frames put in the chunk being built, added to `frames` when it
        /// goes out: one atomic add per chunk, not per frame.
        pending_frames: u64,
        sent_frames: u64,
        sent_bytes: u64,
        /// Whether what the body carries (see `Streaming::carry`) is a
        /// frame: not at first (the retry hint, if any), nor a keep-alive
        /// comment kept back.
        carry_is_frame: bool,
        reason: Option<&'static str>,
    }

    impl StreamObserver {
        /// Not a stream: nothing is counted.
        pub(crate) fn none() -> Self {
            Self(None)
        }

        /// A stream opening on `adapter`.
        pub(crate) fn open(adapter: &'static str, resumed: bool) -> Self {
            let open = gauge!(STREAMS_OPEN, "adapter" => adapter);
            open.increment(1.0);
            let resumed_label = if resumed { "true" } else { "false" };
            counter!(STREAMS_OPENED, "adapter" => adapter, "resumed" => resumed_label).increment(1);
            let span = tracing::info_span!(
                "sse_stream",
                adapter,
                resumed,
                reason = tracing::field::Empty,
                frames = tracing::field::Empty,
                bytes = tracing::field::Empty,
            );
            tracing::debug!(parent: &span, "SSE stream opened");
            Self(Some(Box::new(Observed {
                adapter,
                open,
                frames: counter!(FRAMES_SENT, "adapter" => adapter),
                bytes: counter!(BYTES_SENT, "adapter" => adapter),
                span,
                pending_frames: 0,
                sent_frames: 0,
                sent_bytes: 0,
                carry_is_frame: false,
                reason: None,
            })))
        }

        /// A frame went into the chunk being built.
        #[inline]
        pub(crate) fn frame(&mut self) {
            if let Some(observed) = &mut self.0 {
                observed.pending_frames += 1;
            }
        }

        /// The body now carries a frame (`is_frame`), or a keep-alive.
        #[inline]
        pub(crate) fn carry(&mut self, is_frame: bool) {
            if let Some(observed) = &mut self.0 {
                observed.carry_is_frame = is_frame;
            }
        }

        /// What the body carried went into the chunk being built.
        #[inline]
        pub(crate) fn carried(&mut self) {
            if let Some(observed) = &mut self.0 {
                if std::mem::take(&mut observed.carry_is_frame) {
                    observed.pending_frames += 1;
                }
            }
        }

        /// A chunk of `len` bytes went to the framework.
        #[inline]
        pub(crate) fn sent(&mut self, len: usize) {
            if let Some(observed) = &mut self.0 {
                let frames = std::mem::take(&mut observed.pending_frames);
                let len = len as u64;
                if frames > 0 {
                    observed.frames.increment(frames);
                }
                observed.bytes.increment(len);
                observed.sent_frames += frames;
                observed.sent_bytes += len;
            }
        }

        /// Runs `log` inside the stream's span, if it has one: a warning
        /// about the stream then names its adapter.
        pub(crate) fn in_span(&self, log: impl FnOnce()) {
            match &self.0 {
                Some(observed) => observed.span.in_scope(log),
                None => log(),
            }
        }

        /// Why the stream ends; the first reason given stands.
        #[inline]
        pub(crate) fn ending(&mut self, reason: &'static str) {
            if let Some(observed) = &mut self.0 {
                observed.reason.get_or_insert(reason);
            }
        }
    }

    impl Drop for Observed {
        fn drop(&mut self) {
            // Dropped before it ended: the framework let go of the body,
            // which it does when the client goes away.
            let reason = self.reason.unwrap_or("disconnected");
            // Counted closed before it leaves the gauge: whoever sees the
            // gauge go down then finds the reason counted.
            counter!(STREAMS_CLOSED, "adapter" => self.adapter, "reason" => reason).increment(1);
            self.open.decrement(1.0);
            self.span.record("reason", reason);
            self.span.record("frames", self.sent_frames);
            self.span.record("bytes", self.sent_bytes);
            tracing::debug!(
                parent: &self.span,
                reason,
                frames = self.sent_frames,
                bytes = self.sent_bytes,
                "SSE stream closed"
            );
        }
    }

    /// A hub's handles, taken when it is made.
    pub(crate) struct HubMetrics {
        published: Counter,
    }

    impl HubMetrics {
        pub(crate) fn new() -> Self {
            Self {
                published: counter!(HUB_EVENTS_PUBLISHED),
            }
        }

        #[inline]
        pub(crate) fn published(&self) {
            self.published.increment(1);
        }
    }

    /// A backplane's handles (`ssekit-redis`, `ssekit-nats`), labelled
    /// with its name.
    pub(crate) struct BackplaneHandles {
        published: Counter,
        failed: Counter,
        resumes: Counter,
        replay: Histogram,
    }

    impl BackplaneHandles {
        pub(crate) fn new(backplane: &'static str) -> Self {
            Self {
                published: counter!(BACKPLANE_EVENTS_PUBLISHED, "backplane" => backplane),
                failed: counter!(BACKPLANE_PUBLISH_FAILURES, "backplane" => backplane),
                resumes: counter!(BACKPLANE_RESUMES, "backplane" => backplane),
                replay: histogram!(BACKPLANE_REPLAY_EVENTS, "backplane" => backplane),
            }
        }

        #[inline]
        pub(crate) fn published(&self) {
            self.published.increment(1);
        }

        #[inline]
        pub(crate) fn failed(&self) {
            self.failed.increment(1);
        }

        #[inline]
        pub(crate) fn resumed(&self) {
            self.resumes.increment(1);
        }

        #[inline]
        pub(crate) fn replayed(&self, events: u64) {
            self.replay.record(events as f64);
        }
    }

    /// The topics gauge, as a hub's directory moves it.
    pub(crate) struct TopicGauge(Gauge);

    impl TopicGauge {
        pub(crate) fn new() -> Self {
            Self(gauge!(HUB_TOPICS))
        }

        #[inline]
        pub(crate) fn added(&self) {
            self.0.increment(1.0);
        }

        /// `count` topics went (one, or all that a dropped hub held).
        #[inline]
        pub(crate) fn removed(&self, count: usize) {
            if count > 0 {
                self.0.decrement(count as f64);
            }
        }
    }

    /// The events one resume replayed, recorded when its replay is done
    /// with (finished, cut short, or the subscriber gone).
    pub(crate) struct ReplayTally(u64);

    impl ReplayTally {
        pub(crate) fn new() -> Self {
            Self(0)
        }

        #[inline]
        pub(crate) fn add(&mut self, events: usize) {
            self.0 += events as u64;
        }
    }

    impl Drop for ReplayTally {
        fn drop(&mut self) {
            replay_events(self.0);
        }
    }

    /// A gap notice was made. `reason` comes from backplanes too: only the
    /// known reasons become labels, so the label stays bounded.
    pub(crate) fn gap_notice(reason: &str) {
        let reason = match reason {
            "unknown" => "unknown",
            "expired" => "expired",
            "lagged" => "lagged",
            "full" => "full",
            _ => "other",
        };
        counter!(GAP_NOTICES, "reason" => reason).increment(1);
    }

    pub(crate) fn lag_disconnect() {
        counter!(HUB_LAG_DISCONNECTS).increment(1);
    }

    pub(crate) fn resume() {
        counter!(HUB_RESUMES).increment(1);
    }

    pub(crate) fn replay_events(events: u64) {
        histogram!(HUB_REPLAY_EVENTS).record(events as f64);
    }

    /// `cap`: `global` or `topic`.
    pub(crate) fn limit_refused(cap: &'static str) {
        counter!(STREAM_LIMIT_REFUSALS, "cap" => cap).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::unused_self, dead_code)]
mod off {
    pub(crate) struct StreamObserver;

    impl StreamObserver {
        #[inline]
        pub(crate) fn none() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn frame(&mut self) {}
        #[inline]
        pub(crate) fn carry(&mut self, _is_frame: bool) {}
        #[inline]
        pub(crate) fn carried(&mut self) {}
        #[inline]
        pub(crate) fn sent(&mut self, _len: usize) {}
        #[inline]
        pub(crate) fn ending(&mut self, _reason: &'static str) {}
        #[inline]
        pub(crate) fn in_span(&self, log: impl FnOnce()) {
            log();
        }
    }

    pub(crate) struct HubMetrics;

    impl HubMetrics {
        #[inline]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn published(&self) {}
    }

    pub(crate) struct BackplaneHandles;

    impl BackplaneHandles {
        #[inline]
        pub(crate) fn new(_backplane: &'static str) -> Self {
            Self
        }
        #[inline]
        pub(crate) fn published(&self) {}
        #[inline]
        pub(crate) fn failed(&self) {}
        #[inline]
        pub(crate) fn resumed(&self) {}
        #[inline]
        pub(crate) fn replayed(&self, _events: u64) {}
    }

    pub(crate) struct TopicGauge;

    impl TopicGauge {
        #[inline]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn added(&self) {}
        #[inline]
        pub(crate) fn removed(&self, _count: usize) {}
    }

    pub(crate) struct ReplayTally;

    impl ReplayTally {
        #[inline]
        pub(crate) fn new() -> Self {
            Self
        }
        #[inline]
        pub(crate) fn add(&mut self, _events: usize) {}
    }

    #[inline]
    pub(crate) fn gap_notice(_reason: &str) {}
    #[inline]
    pub(crate) fn lag_disconnect() {}
    #[inline]
    pub(crate) fn resume() {}
    #[inline]
    pub(crate) fn replay_events(_events: u64) {}
    #[inline]
    pub(crate) fn limit_refused(_cap: &'static str) {}
}
