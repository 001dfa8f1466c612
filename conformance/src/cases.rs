//! The cases. Each talks to the server over real HTTP and judges what arrives
//! with the WHATWG decoder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};

use crate::client::{client, describe, first_difference, EventReader};
use crate::raw;
use crate::routes::{FLOOD_EVENT_BYTES, INJECTION, LIMITED_STREAMS};
use crate::script;
use crate::Config;

/// How long a server may take to notice a client that disconnected.
pub const DISCONNECT_BOUND: Duration = Duration::from_secs(5);
/// How long any single expected arrival may take.
const STEP: Duration = Duration::from_secs(5);

/// What a case returns when it passes: an optional measured detail.
pub(crate) type CaseOutcome = Result<Option<String>, String>;

pub(crate) struct Ctx<'a> {
    pub(crate) base: &'a str,
    pub(crate) config: &'a Config,
}

impl Ctx<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get(&self, path: &str) -> Result<Response, String> {
        self.get_with(&client(false, false), path, HeaderMap::new())
            .await
    }

    async fn get_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        headers: HeaderMap,
    ) -> Result<Response, String> {
        let request = client
            .get(self.url(path))
            .header("accept", "text/event-stream")
            .headers(headers)
            .send();
        tokio::time::timeout(STEP, request)
            .await
            .map_err(|_| format!("no response head for {path} within {STEP:?}"))?
            .map_err(|e| format!("GET {path} failed: {}", describe(e)))
    }

    async fn get_ok(&self, path: &str) -> Result<EventReader, String> {
        let response = self.get(path).await?;
        expect_status(&response, StatusCode::OK)?;
        Ok(EventReader::new(response))
    }
}

fn expect_status(response: &Response, status: StatusCode) -> Result<(), String> {
    if response.status() == status {
        Ok(())
    } else {
        Err(format!("status {} (expected {status})", response.status()))
    }
}

fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) async fn head(ctx: &Ctx<'_>) -> CaseOutcome {
    let response = ctx.get("/script").await?;
    expect_status(&response, StatusCode::OK)?;
    let headers = response.headers().clone();
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if get("content-type") != "text/event-stream" {
        return Err(format!(
            "Content-Type is {:?}, expected \"text/event-stream\"",
            get("content-type")
        ));
    }
    if !get("cache-control")
        .split(',')
        .any(|d| matches!(d.trim(), "no-cache" | "no-store"))
    {
        return Err(format!(
            "Cache-Control is {:?}, expected no-cache",
            get("cache-control")
        ));
    }
    if get("x-accel-buffering") != "no" {
        return Err("X-Accel-Buffering: no is missing (nginx would buffer the stream)".into());
    }
    if headers.contains_key("content-length") {
        return Err("a Content-Length makes the stream finite".into());
    }
    if !matches!(get("content-encoding"), "" | "identity") {
        return Err(format!(
            "uncompressed request got Content-Encoding {:?}",
            get("content-encoding")
        ));
    }
    EventReader::new(response).read_to_end(STEP).await?;
    Ok(None)
}

pub(crate) async fn script_bytes(ctx: &Ctx<'_>) -> CaseOutcome {
    expect_script_bytes(ctx.get_ok("/script").await?).await
}

/// Reads the whole `/script` body and compares it byte for byte.
async fn expect_script_bytes(mut reader: EventReader) -> CaseOutcome {
    reader.read_to_end(STEP).await?;
    if reader.raw() != script::SCRIPT_BYTES.as_bytes() {
        return Err(first_difference(
            script::SCRIPT_BYTES.as_bytes(),
            reader.raw(),
        ));
    }
    Ok(None)
}

pub(crate) async fn script_events(ctx: &Ctx<'_>) -> CaseOutcome {
    let mut reader = ctx.get_ok("/script").await?;
    let events = reader.read_to_end(STEP).await?;
    let expected = script::script_expected();
    if events != expected {
        let at = events
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(events.len().min(expected.len()));
        return Err(format!(
            "event {at} differs: expected {:?}, got {:?} ({} events, expected {})",
            expected.get(at),
            events.get(at),
            events.len(),
            expected.len()
        ));
    }
    if reader.decoder().retry() != Some(Duration::from_millis(1000)) {
        return Err(format!(
            "reconnection time {:?}, expected 1000 ms",
            reader.decoder().retry()
        ));
    }
    if reader.decoder().last_event_id() != "" {
        return Err("the empty id did not reset the last event id".into());
    }
    Ok(None)
}

pub(crate) async fn head_before_first_event(ctx: &Ctx<'_>) -> CaseOutcome {
    let token = token();
    let started = Instant::now();
    // The handler produces nothing until the gate opens, so a head arriving at
    // all proves it was flushed ahead of any event.
    let mut reader = ctx
        .get_ok(&format!("/lockstep?token={token}&count=1"))
        .await?;
    let head_after = started.elapsed();
    ctx.get_ok(&format!("/gate?token={token}"))
        .await?
        .read_to_end(STEP)
        .await?;
    let event = reader.next_event(STEP).await?;
    if event.data != "1" {
        return Err(format!("expected event 1, got {:?}", event.data));
    }
    Ok(Some(format!("head after {} ms", head_after.as_millis())))
}

/// Each event must arrive while the handler is still waiting to produce the
/// next one; a server or middleware that buffers stalls here.
async fn lockstep(ctx: &Ctx<'_>, stream_client: &reqwest::Client, prefix: &str) -> CaseOutcome {
    let token = token();
    let count = 3;
    let response = ctx
        .get_with(
            stream_client,
            &format!("{prefix}/lockstep?token={token}&count={count}"),
            HeaderMap::new(),
        )
        .await?;
    expect_status(&response, StatusCode::OK)?;
    let mut reader = EventReader::new(response);
    for n in 1..=count {
        ctx.get_ok(&format!("/gate?token={token}"))
            .await?
            .read_to_end(STEP)
            .await?;
        let event = reader
            .next_event(STEP)
            .await
            .map_err(|e| format!("event {n} was produced but not delivered: {e}"))?;
        if event.data != n.to_string() {
            return Err(format!("expected event {n}, got {:?}", event.data));
        }
    }
    let rest = reader.read_to_end(STEP).await?;
    if !rest.is_empty() {
        return Err(format!("unexpected events after the last: {rest:?}"));
    }
    Ok(None)
}

pub(crate) async fn event_by_event(ctx: &Ctx<'_>) -> CaseOutcome {
    lockstep(ctx, &client(false, false), "").await
}

pub(crate) async fn compression(ctx: &Ctx<'_>) -> CaseOutcome {
    let prefix = ctx.config.compressed_prefix.as_deref().unwrap_or_default();
    // What the middleware does to an SSE response, seen without decompressing.
    let mut accept_gzip = HeaderMap::new();
    accept_gzip.insert("accept-encoding", HeaderValue::from_static("gzip"));
    let probe = ctx
        .get_with(
            &client(false, false),
            &format!("{prefix}/count?n=1"),
            accept_gzip,
        )
        .await?;
    let encoding = probe
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    drop(probe);
    lockstep(ctx, &client(false, true), prefix).await?;
    Ok(Some(format!("Content-Encoding: {encoding}")))
}

pub(crate) async fn keep_alive(ctx: &Ctx<'_>) -> CaseOutcome {
    let mut reader = ctx.get_ok("/keep-alive").await?;
    let started = Instant::now();
    let mut comments = 0;
    while comments < 3 {
        match reader.next_item(STEP).await? {
            Some(ssekit::decode::Decoded::Comment(_)) => comments += 1,
            Some(ssekit::decode::Decoded::Event(event)) => {
                return Err(format!("an idle stream dispatched an event: {event:?}"))
            }
            Some(_) => {}
            None => return Err("the idle stream ended".into()),
        }
    }
    Ok(Some(format!(
        "3 keep-alive comments in {} ms",
        started.elapsed().as_millis()
    )))
}

pub(crate) async fn client_disconnect(ctx: &Ctx<'_>) -> CaseOutcome {
    let token = token();
    let mut reader = ctx.get_ok(&format!("/disconnect?token={token}")).await?;
    let first = reader.next_event(STEP).await?;
    if first.data != "connected" {
        return Err(format!("expected \"connected\", got {:?}", first.data));
    }
    drop(reader); // closes the connection: this client uses no pool
    let gone_at = Instant::now();
    let mut report = ctx
        .get_ok(&format!("/disconnect-report?token={token}"))
        .await?;
    let verdict = report.next_event(Duration::from_secs(15)).await?;
    let noticed = gone_at.elapsed();
    if verdict.data != "closed" {
        return Err("the handler's closed() did not fire within 10 s of the disconnect".into());
    }
    if noticed > DISCONNECT_BOUND {
        return Err(format!(
            "disconnect noticed after {} ms (bound {DISCONNECT_BOUND:?})",
            noticed.as_millis()
        ));
    }
    Ok(Some(format!("noticed within {} ms", noticed.as_millis())))
}

pub(crate) async fn clean_end(ctx: &Ctx<'_>) -> CaseOutcome {
    let mut reader = ctx.get_ok("/count?n=5").await?;
    let events = reader.read_to_end(STEP).await?;
    let ids: Vec<_> = events.iter().map(|e| e.last_event_id.as_str()).collect();
    if ids != ["1", "2", "3", "4", "5"] {
        return Err(format!("expected ids 1..=5, got {ids:?}"));
    }
    if reader.decoder().is_mid_event() {
        return Err("the body ended in the middle of an event".into());
    }
    Ok(None)
}

async fn echoed_last_event_id(ctx: &Ctx<'_>, value: &[u8]) -> Result<Option<String>, String> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
    headers.insert("last-event-id", value);
    let response = ctx
        .get_with(&client(false, false), "/last-event-id", headers)
        .await?;
    expect_status(&response, StatusCode::OK)?;
    let event = EventReader::new(response).next_event(STEP).await?;
    match event.event_type.as_str() {
        "last-event-id" => Ok(Some(event.data)),
        "no-last-event-id" => Ok(None),
        other => Err(format!("unexpected event type {other:?}")),
    }
}

pub(crate) async fn last_event_id(ctx: &Ctx<'_>) -> CaseOutcome {
    let id = "abc-é-42";
    match echoed_last_event_id(ctx, id.as_bytes()).await? {
        Some(seen) if seen == id => Ok(None),
        other => Err(format!("handler saw {other:?}, expected {id:?}")),
    }
}

pub(crate) async fn last_event_id_invalid(ctx: &Ctx<'_>) -> CaseOutcome {
    let too_long = vec![b'9'; 2048];
    if let Some(seen) = echoed_last_event_id(ctx, &too_long).await? {
        return Err(format!(
            "a 2 KiB Last-Event-ID reached the handler ({} bytes)",
            seen.len()
        ));
    }
    if let Some(seen) = echoed_last_event_id(ctx, b"\xff\xfe id").await? {
        return Err(format!(
            "a non-UTF-8 Last-Event-ID reached the handler as {seen:?}"
        ));
    }
    // A 1 MiB header may be refused by the server (431) or its connection
    // closed; either way the server must keep serving.
    let huge = HeaderValue::from_bytes(&vec![b'7'; 1 << 20]).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    headers.insert("last-event-id", huge);
    let outcome = match ctx
        .get_with(&client(false, false), "/last-event-id", headers)
        .await
    {
        Ok(response) => format!("1 MiB header: status {}", response.status().as_u16()),
        Err(e) => format!("1 MiB header: {e}"),
    };
    match echoed_last_event_id(ctx, b"after-huge").await? {
        Some(seen) if seen == "after-huge" => Ok(Some(outcome)),
        other => Err(format!(
            "after a 1 MiB header the server answered {other:?}"
        )),
    }
}

pub(crate) async fn large_event(ctx: &Ctx<'_>) -> CaseOutcome {
    let mut reader = ctx.get_ok("/large").await?;
    let events = reader.read_to_end(Duration::from_secs(30)).await?;
    let expected = script::large_data("\n");
    match events.as_slice() {
        [event] if event.data == expected => {
            Ok(Some(format!("{} bytes on the wire", reader.raw().len())))
        }
        [event] => Err(first_difference(expected.as_bytes(), event.data.as_bytes())),
        other => Err(format!("expected 1 event, got {}", other.len())),
    }
}

pub(crate) async fn concurrent_streams(ctx: &Ctx<'_>) -> CaseOutcome {
    let streams = ctx.config.concurrent_streams;
    let events = 20;
    let http = client(false, false);
    let started = Instant::now();
    let results = join_all((0..streams).map(|_| {
        let http = http.clone();
        async move {
            let response = ctx
                .get_with(&http, &format!("/count?n={events}"), HeaderMap::new())
                .await?;
            expect_status(&response, StatusCode::OK)?;
            let seen = EventReader::new(response)
                .read_to_end(Duration::from_secs(60))
                .await?;
            let in_order = seen
                .iter()
                .enumerate()
                .all(|(i, e)| e.data == (i + 1).to_string());
            if seen.len() == events && in_order {
                Ok(())
            } else {
                Err(format!(
                    "a stream got {} events (in order: {in_order})",
                    seen.len()
                ))
            }
        }
    }))
    .await;
    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if let Some(first) = failed.first() {
        return Err(format!(
            "{} of {streams} streams failed; first: {first}",
            failed.len()
        ));
    }
    Ok(Some(format!(
        "{streams} streams × {events} events in {} ms",
        started.elapsed().as_millis()
    )))
}

pub(crate) async fn stalled_reader(ctx: &Ctx<'_>) -> CaseOutcome {
    let token = token();
    // Open the stream and never read its body.
    let stalled = ctx.get(&format!("/flood?token={token}")).await?;
    expect_status(&stalled, StatusCode::OK)?;
    let sent = || async {
        let mut report = ctx.get_ok(&format!("/flood-report?token={token}")).await?;
        let event = report.next_event(STEP).await?;
        event
            .data
            .parse::<u64>()
            .map_err(|e| format!("bad flood report {:?}: {e}", event.data))
    };
    let mut previous = sent().await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = sent().await?;
        if now == previous && now > 0 {
            drop(stalled);
            let in_flight_kib = now * FLOOD_EVENT_BYTES as u64 / 1024;
            return Ok(Some(format!(
                "producer held back after {now} events (~{in_flight_kib} KiB in queue and socket buffers)"
            )));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the server kept producing for a stalled reader: {now} events and counting"
            ));
        }
        previous = now;
    }
}

pub(crate) async fn http2(ctx: &Ctx<'_>) -> CaseOutcome {
    let response = ctx
        .get_with(&client(true, false), "/script", HeaderMap::new())
        .await?;
    expect_status(&response, StatusCode::OK)?;
    if response.version() != reqwest::Version::HTTP_2 {
        return Err(format!("answered with {:?}", response.version()));
    }
    for name in &ssekit::adapter::HOP_BY_HOP {
        if response.headers().contains_key(name) {
            return Err(format!("hop-by-hop header {name} over HTTP/2"));
        }
    }
    expect_script_bytes(EventReader::new(response)).await
}

pub(crate) async fn no_content(ctx: &Ctx<'_>) -> CaseOutcome {
    let response = ctx.get("/no-content").await?;
    expect_status(&response, StatusCode::NO_CONTENT)?;
    let body = tokio::time::timeout(STEP, response.bytes())
        .await
        .map_err(|_| "the 204 body did not end".to_owned())?
        .map_err(|e| e.to_string())?;
    if !body.is_empty() {
        return Err(format!("204 with a {} byte body", body.len()));
    }
    Ok(None)
}

pub(crate) async fn method_not_get(ctx: &Ctx<'_>) -> CaseOutcome {
    let http = client(false, false);
    let mut answers = Vec::new();
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let request = http
            .request(method.clone(), ctx.url("/script"))
            .header("accept", "text/event-stream")
            .body("x")
            .send();
        let response = tokio::time::timeout(STEP, request)
            .await
            .map_err(|_| format!("no response head for {method} /script within {STEP:?}"))?
            .map_err(|e| format!("{method} /script failed: {}", describe(e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(format!("{method} /script answered {status}"));
        }
        // A server may route every method to the handler; worth knowing.
        let served = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let note = if served { " (the stream)" } else { "" };
        answers.push(format!("{method} {}{note}", status.as_u16()));
    }
    // Still serving: a whole stream, judged here only by its clean end (its
    // bytes are the `script-bytes` case's business).
    ctx.get_ok("/script")
        .await?
        .read_to_end(STEP)
        .await
        .map_err(|e| format!("GET /script after {}: {e}", answers.join(", ")))?;
    Ok(Some(answers.join(", ")))
}

pub(crate) async fn last_event_id_hostile(ctx: &Ctx<'_>) -> CaseOutcome {
    let hostile = [
        ("a lone CR", b"12\r34".to_vec()),
        ("a NUL", b"12\x0034".to_vec()),
        ("1 MiB", vec![b'7'; 1 << 20]),
    ];
    let mut answers = Vec::new();
    for (what, value) in hostile {
        let response = raw::get(ctx.base, "/last-event-id", ("Last-Event-ID", &value), STEP)
            .await
            .map_err(|e| format!("Last-Event-ID with {what}: {e}"))?;
        match response.status {
            400 | 431 => {}
            200 => {
                let events = ssekit::decode::events(&response.body).map_err(|e| e.to_string())?;
                match events.as_slice() {
                    [event] if event.event_type == "no-last-event-id" => {}
                    other => {
                        return Err(format!(
                            "Last-Event-ID with {what} reached the handler: {other:?}"
                        ))
                    }
                }
            }
            other => {
                return Err(format!(
                    "Last-Event-ID with {what}: status {other} (expected 400, 431, or 200 with no-last-event-id)"
                ))
            }
        }
        answers.push(format!("{what}: {}", response.status));
        match echoed_last_event_id(ctx, b"after-hostile").await {
            Ok(Some(seen)) if seen == "after-hostile" => {}
            other => {
                return Err(format!(
                    "after a Last-Event-ID with {what} the server answered {other:?}"
                ))
            }
        }
    }
    Ok(Some(answers.join(", ")))
}

/// Reads a stream that fails after its second event: exactly events 1 and 2,
/// then a clean end of body (a reset would fail the read).
async fn expect_two_then_end(ctx: &Ctx<'_>, path: &str) -> Result<(), String> {
    let mut reader = ctx.get_ok(path).await?;
    let events = reader.read_to_end(STEP).await?;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.data.as_str(), e.last_event_id.as_str()))
        .collect();
    if seen != [("1", "1"), ("2", "2")] {
        return Err(format!("{path}: expected events 1 and 2, got {seen:?}"));
    }
    if reader.decoder().is_mid_event() {
        return Err(format!("{path}: the body ended in the middle of an event"));
    }
    Ok(())
}

/// A failing source ends its own stream cleanly and nothing else: a stream
/// open across the failure and one started with it both complete.
async fn source_failure(ctx: &Ctx<'_>, path: &str) -> Result<(), String> {
    let token = token();
    let mut bystander = ctx
        .get_ok(&format!("/lockstep?token={token}&count=2"))
        .await?;
    let open_gate = || async {
        ctx.get_ok(&format!("/gate?token={token}"))
            .await?
            .read_to_end(STEP)
            .await
    };
    open_gate().await?;
    bystander.next_event(STEP).await?;
    let (failing, count) = tokio::join!(expect_two_then_end(ctx, path), async {
        let events = ctx.get_ok("/count?n=5").await?.read_to_end(STEP).await?;
        if events.len() == 5 {
            Ok(())
        } else {
            Err(format!(
                "a concurrent /count?n=5 got {} events",
                events.len()
            ))
        }
    });
    failing?;
    count?;
    open_gate().await?;
    let last = bystander
        .next_event(STEP)
        .await
        .map_err(|e| format!("a stream open across the failure: {e}"))?;
    if last.data != "2" {
        return Err(format!(
            "a stream open across the failure got {:?}",
            last.data
        ));
    }
    bystander.read_to_end(STEP).await?;
    Ok(())
}

pub(crate) async fn source_error(ctx: &Ctx<'_>) -> CaseOutcome {
    source_failure(ctx, "/fail-mid-stream").await?;
    Ok(None)
}

pub(crate) async fn source_panic(ctx: &Ctx<'_>) -> CaseOutcome {
    source_failure(ctx, "/panic-mid-stream").await?;
    // More panics than a server has worker threads: none may be lost.
    for _ in 0..4 {
        expect_two_then_end(ctx, "/panic-mid-stream").await?;
    }
    expect_script_bytes(ctx.get_ok("/script").await?)
        .await
        .map_err(|e| format!("after the panics: {e}"))
}

pub(crate) async fn injection(ctx: &Ctx<'_>) -> CaseOutcome {
    let mut reader = ctx.get_ok("/injection").await?;
    let events = reader.read_to_end(STEP).await?;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.data.as_str()))
        .collect();
    let data = format!("x{INJECTION}");
    let expected = [
        ("rejected", "event"),
        ("rejected", "id"),
        ("message", data.as_str()),
    ];
    if seen != expected {
        return Err(format!("expected {expected:?}, got {seen:?}"));
    }
    Ok(None)
}

pub(crate) async fn stream_limit(ctx: &Ctx<'_>) -> CaseOutcome {
    let path = format!("/limited?token={}", token());
    let admitted = |mut reader: EventReader| async move {
        let event = reader.next_event(STEP).await?;
        if event.data == "admitted" {
            Ok(reader)
        } else {
            Err(format!("expected \"admitted\", got {:?}", event.data))
        }
    };
    let mut open = Vec::new();
    for n in 1..=LIMITED_STREAMS {
        let reader = ctx.get_ok(&path).await?;
        open.push(
            admitted(reader)
                .await
                .map_err(|e| format!("stream {n}: {e}"))?,
        );
    }
    let refused = ctx.get(&path).await?;
    expect_status(&refused, StatusCode::SERVICE_UNAVAILABLE).map_err(|e| {
        format!(
            "stream {} of a cap of {LIMITED_STREAMS}: {e}",
            LIMITED_STREAMS + 1
        )
    })?;
    let retry_after = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let valid = !retry_after.is_empty() && retry_after.bytes().all(|b| b.is_ascii_digit())
        || retry_after.ends_with(" GMT");
    if !valid {
        return Err(format!("503 with Retry-After {retry_after:?}"));
    }
    drop(refused);
    // The cap is per topic (token): another one is not held back.
    let other = ctx.get_ok(&format!("/limited?token={}", token())).await?;
    drop(
        admitted(other)
            .await
            .map_err(|e| format!("another token: {e}"))?,
    );

    drop(open.remove(0));
    let left_at = Instant::now();
    // The slot is free once the server notices the client left.
    loop {
        let response = ctx.get(&path).await?;
        if response.status() == StatusCode::OK {
            admitted(EventReader::new(response)).await?;
            break;
        }
        expect_status(&response, StatusCode::SERVICE_UNAVAILABLE)?;
        if left_at.elapsed() > DISCONNECT_BOUND {
            return Err(format!(
                "still 503 {} ms after a stream closed",
                left_at.elapsed().as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Some(format!(
        "Retry-After: {retry_after}; a slot was free {} ms after a client left",
        left_at.elapsed().as_millis()
    )))
}

pub(crate) async fn private(ctx: &Ctx<'_>) -> CaseOutcome {
    use crate::routes::{
        PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
    };

    let refused = ctx.get("/private").await?;
    expect_status(&refused, StatusCode::UNAUTHORIZED)?;
    let header = |response: &Response, name: &str| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
    };
    if header(&refused, "www-authenticate") != [PRIVATE_CHALLENGE] {
        return Err(format!(
            "401 with WWW-Authenticate {:?}",
            header(&refused, "www-authenticate")
        ));
    }
    let content_type = header(&refused, "content-type");
    if !content_type.iter().any(|t| t.starts_with("text/plain")) {
        return Err(format!("401 with Content-Type {content_type:?}"));
    }
    let body = tokio::time::timeout(STEP, refused.bytes())
        .await
        .map_err(|_| "the 401 body did not end".to_owned())?
        .map_err(|e| e.to_string())?;
    if body != PRIVATE_REFUSAL.as_bytes() {
        return Err(format!(
            "401 body {:?}, expected {PRIVATE_REFUSAL:?}",
            String::from_utf8_lossy(&body)
        ));
    }

    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        PRIVATE_AUTHORIZATION.parse().expect("a valid header value"),
    );
    let admitted = ctx
        .get_with(&client(false, false), "/private", headers)
        .await?;
    expect_status(&admitted, StatusCode::OK)?;
    let cookies = header(&admitted, "set-cookie");
    if cookies != PRIVATE_COOKIES {
        return Err(format!(
            "Set-Cookie {cookies:?}, expected {PRIVATE_COOKIES:?}"
        ));
    }
    let event = EventReader::new(admitted).next_event(STEP).await?;
    if event.data != "welcome" {
        return Err(format!("expected \"welcome\", got {:?}", event.data));
    }
    Ok(None)
}
