//! Clients: reqwest for well-behaved readers, and a raw HTTP/1.1 client over a
//! socket the test controls, for misbehaving ones (stalled with a small receive
//! buffer, reset, half-closed, unplugged).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ssekit::decode::{Decoded, Decoder, MessageEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout_at, Instant};

use crate::netns::RemoteHost;

/// A reqwest client for SSE over HTTP/1.1 that never reuses connections, so
/// dropping a response closes its connection, as a browser tab closing does.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(0)
        .connect_timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client always builds")
}

/// The end of a stream as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The body ended as HTTP says it should (the last chunk of a chunked body).
    Clean,
    /// The connection failed or closed mid-body.
    Broken(String),
}

/// Decoded items from a body, fed chunk by chunk, then how the body ended.
#[derive(Debug, Default)]
struct Items {
    decoder: Decoder,
    pending: VecDeque<Decoded>,
    ended: Option<End>,
}

impl Items {
    /// What a reader can return without reading more: an item decoded
    /// earlier, or the end once every item is out.
    fn ready(&mut self) -> Option<Next> {
        match self.pending.pop_front() {
            Some(item) => Some(Next::Item(item)),
            None => self.ended.clone().map(Next::End),
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut out = Vec::new();
        self.decoder
            .feed_into(chunk, &mut out)
            .map_err(|e| e.to_string())?;
        self.pending.extend(out);
        Ok(())
    }
}

/// What reading the next item gave.
#[derive(Debug)]
pub enum Next {
    /// An event, a comment or a retry.
    Item(Decoded),
    /// The body ended.
    End(End),
}

impl Next {
    /// For `next_event`: the event, `None` for a comment or retry (read on),
    /// or an error at the end of the body.
    fn into_event(self) -> Result<Option<MessageEvent>, String> {
        match self {
            Next::Item(Decoded::Event(event)) => Ok(Some(event)),
            Next::Item(_) => Ok(None),
            Next::End(end) => Err(format!("the body ended ({end:?}) before an event")),
        }
    }
}

/// A reqwest response read through the WHATWG decoder.
pub struct SseReader {
    response: reqwest::Response,
    items: Items,
}

impl SseReader {
    /// Reads `response`'s body.
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            items: Items::default(),
        }
    }

    /// The next decoded item or the end of the body; `Err` when nothing came
    /// before `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Result<Next, String> {
        loop {
            if let Some(ready) = self.items.ready() {
                return Ok(ready);
            }
            let chunk = timeout_at(deadline, self.response.chunk())
                .await
                .map_err(|_| "nothing arrived before the deadline".to_owned())?;
            match chunk {
                Ok(Some(chunk)) => self.items.feed(&chunk)?,
                Ok(None) => self.items.ended = Some(End::Clean),
                Err(error) => self.items.ended = Some(End::Broken(error.to_string())),
            }
        }
    }

    /// The next event, skipping comments and retries.
    pub async fn next_event(&mut self, deadline: Instant) -> Result<MessageEvent, String> {
        loop {
            if let Some(event) = self.next(deadline).await?.into_event()? {
                return Ok(event);
            }
        }
    }
}

/// How a [`RawClient`] sets up its socket.
#[derive(Debug, Clone, Default)]
pub struct RawOptions {
    /// `SO_RCVBUF`, set before connecting so the advertised window stays small.
    pub recv_buffer: Option<u32>,
    /// Extra request header lines, e.g. `"Last-Event-ID: 7"`.
    pub headers: Vec<String>,
    /// Connect from this host rather than from loopback.
    pub from: Option<Arc<RemoteHost>>,
}

/// An HTTP/1.1 client on a plain socket: it writes a `GET`, and reads only
/// when asked to, so a test decides exactly how the client misbehaves.
pub struct RawClient {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Bytes of the current chunk still to come; `None` between chunks.
    chunk_left: Option<usize>,
    items: Items,
}

impl RawClient {
    /// Connects to `addr` and sends `GET path`. Reads nothing yet.
    pub async fn get(addr: SocketAddr, path: &str, options: &RawOptions) -> std::io::Result<Self> {
        let socket = match &options.from {
            Some(host) => host.socket()?,
            None => TcpSocket::new_v4()?,
        };
        if let Some(size) = options.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        let mut stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for header in &options.headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        Ok(Self {
            stream,
            buffer: Vec::new(),
            chunk_left: None,
            items: Items::default(),
        })
    }

    /// Reads the response head; returns the status code. The body must be
    /// chunked, as every framework sends a streaming body over HTTP/1.1.
    pub async fn read_head(&mut self, deadline: Instant) -> Result<u16, String> {
        let end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if !self.fill(deadline).await? {
                return Err("the connection closed before the response head".into());
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        self.buffer.drain(..end + 4);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not an HTTP response head: {head:?}"))?;
        let chunked = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("transfer-encoding:") && line.contains("chunked")
        });
        if status == 200 && !chunked {
            return Err(format!("expected a chunked body: {head:?}"));
        }
        Ok(status)
    }

    /// The next decoded item or the end of the body.
    pub async fn next(&mut self, deadline: Instant) -> Result<Next, String> {
        loop {
            if let Some(ready) = self.items.ready() {
                return Ok(ready);
            }
            self.dechunk()?;
            if self.items.ended.is_some() || !self.items.pending.is_empty() {
                continue;
            }
            match self.fill_raw(deadline).await {
                Ok(Some(true)) => {}
                Ok(Some(false)) => self.items.ended = Some(End::Broken("closed mid-body".into())),
                Ok(None) => return Err("nothing arrived before the deadline".into()),
                Err(error) => self.items.ended = Some(End::Broken(format!("read failed: {error}"))),
            }
        }
    }

    /// The next event, skipping comments and retries.
    pub async fn next_event(&mut self, deadline: Instant) -> Result<MessageEvent, String> {
        loop {
            if let Some(event) = self.next(deadline).await?.into_event()? {
                return Ok(event);
            }
        }
    }

    /// Closes with `SO_LINGER` 0: the kernel sends RST instead of FIN, as a
    /// crashed client or a NAT dropping state does.
    pub fn reset(self) {
        self.stream
            .set_zero_linger()
            .expect("SO_LINGER on a connected socket");
        drop(self.stream);
    }

    /// Shuts down the writing side only (FIN), keeping the reading side open.
    pub async fn half_close(&mut self) -> std::io::Result<()> {
        self.stream.shutdown().await
    }

    /// Decodes whatever whole chunk parts the buffer holds.
    fn dechunk(&mut self) -> Result<(), String> {
        loop {
            match self.chunk_left {
                Some(0) => {
                    if self.buffer.len() < 2 {
                        return Ok(());
                    }
                    if &self.buffer[..2] != b"\r\n" {
                        return Err("a chunk not followed by CRLF".into());
                    }
                    self.buffer.drain(..2);
                    self.chunk_left = None;
                }
                Some(left) => {
                    if self.buffer.is_empty() {
                        return Ok(());
                    }
                    let take = left.min(self.buffer.len());
                    self.items.feed(&self.buffer[..take])?;
                    self.buffer.drain(..take);
                    self.chunk_left = Some(left - take);
                }
                None => {
                    let Some(line_end) = find(&self.buffer, b"\r\n") else {
                        return Ok(());
                    };
                    let line = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| format!("bad chunk size line {line:?}"))?;
                    self.buffer.drain(..line_end + 2);
                    if size == 0 {
                        // Trailers are not used by SSE: the last chunk is the end.
                        self.items.ended = Some(End::Clean);
                        return Ok(());
                    }
                    self.chunk_left = Some(size);
                }
            }
        }
    }

    /// Reads more bytes; `Ok(false)` at EOF.
    async fn fill(&mut self, deadline: Instant) -> Result<bool, String> {
        match self.fill_raw(deadline).await {
            Ok(Some(more)) => Ok(more),
            Ok(None) => Err("nothing arrived before the deadline".into()),
            Err(error) => Err(format!("read failed: {error}")),
        }
    }

    /// Reads more bytes: `Some(false)` at EOF, `None` past the deadline.
    async fn fill_raw(&mut self, deadline: Instant) -> std::io::Result<Option<bool>> {
        let mut chunk = [0u8; 16 * 1024];
        let Ok(read) = timeout_at(deadline, self.stream.read(&mut chunk)).await else {
            return Ok(None);
        };
        let read = read?;
        self.buffer.extend_from_slice(&chunk[..read]);
        Ok(Some(read > 0))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
