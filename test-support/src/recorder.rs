//! A `metrics` recorder for tests that read ssekit's metrics (feature
//! `metrics`): [`install`] makes it the process's recorder once, and
//! [`Since`] reads what changed from a moment on.
//!
//! Series are named `name{label=value,...}`, labels sorted by name:
//! `ssekit_streams_open{adapter=axum}`, `ssekit_hub_topics{}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// What the recorder holds: counters and gauges (a gauge's `f64` as bits),
/// and every histogram sample.
#[derive(Default)]
struct Store {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
    samples: Mutex<HashMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        lock(&self.0).push(value);
    }
}

static STORE: LazyLock<Arc<Store>> = LazyLock::new(Arc::default);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed test elsewhere must not fail every later look.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn series(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}={}", label.key(), label.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct StoreRecorder(Arc<Store>);

impl Recorder for StoreRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(lock(&self.0.values).entry(series(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(lock(&self.0.values).entry(series(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(
            lock(&self.0.samples)
                .entry(series(key))
                .or_default()
                .clone(),
        )
    }
}

/// Makes this recorder the process's, once (later calls do nothing).
///
/// # Panics
///
/// When another recorder was installed first.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        metrics::set_global_recorder(StoreRecorder(STORE.clone()))
            .expect("no other recorder in this test binary");
    });
}

/// A counter's value now (0 if never registered).
#[must_use]
pub fn counter(series: &str) -> u64 {
    lock(&STORE.values)
        .get(series)
        .map_or(0, |value| value.load(Ordering::SeqCst))
}

/// A gauge's value now (0 if never registered).
#[must_use]
pub fn gauge(series: &str) -> f64 {
    f64::from_bits(
        lock(&STORE.values)
            .get(series)
            .map_or(0, |value| value.load(Ordering::SeqCst)),
    )
}

/// A histogram's samples so far.
#[must_use]
pub fn samples(series: &str) -> Vec<f64> {
    lock(&STORE.samples)
        .get(series)
        .map_or_else(Vec::new, |samples| lock(&samples.0).clone())
}

/// Every series at one moment, to read what changed since.
pub struct Since {
    values: HashMap<String, u64>,
    samples: HashMap<String, usize>,
}

impl Since {
    /// Now.
    #[must_use]
    pub fn now() -> Self {
        let values = lock(&STORE.values)
            .iter()
            .map(|(series, value)| (series.clone(), value.load(Ordering::SeqCst)))
            .collect();
        let samples = lock(&STORE.samples)
            .iter()
            .map(|(series, samples)| (series.clone(), lock(&samples.0).len()))
            .collect();
        Self { values, samples }
    }

    /// What a counter counted since.
    #[must_use]
    pub fn counter(&self, series: &str) -> u64 {
        counter(series) - self.values.get(series).copied().unwrap_or(0)
    }

    /// How far a gauge moved since.
    #[must_use]
    pub fn gauge(&self, series: &str) -> f64 {
        let before = self.values.get(series).copied().unwrap_or(0);
        gauge(series) - f64::from_bits(before)
    }

    /// A histogram's samples since.
    #[must_use]
    pub fn samples(&self, series: &str) -> Vec<f64> {
        let skip = self.samples.get(series).copied().unwrap_or(0);
        samples(series).into_iter().skip(skip).collect()
    }
}
