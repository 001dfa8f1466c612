//! A loopback HTTP/1.1 server that answers each connection with a script of
//! raw bytes, and records what each request was.

#![allow(dead_code)] // each test file uses a part

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One thing a connection does.
#[derive(Debug, Clone)]
pub enum Step {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Writes these bytes one at a time, each in its own TCP segment.
    Trickle(Vec<u8>),
    /// Waits.
    Sleep(Duration),
    /// Writes `chunk` for ever (until the client goes).
    Endless(Vec<u8>),
    /// Keeps the connection open, sending nothing, until the client goes.
    Hold,
}

/// What a client sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct RawServer {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<Request>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    pub fn url(&self) -> String {
        format!("http://{}/stream", self.addr)
    }

    /// Serves the scripts in order, one per connection; connections beyond
    /// them get the last one again.
    pub async fn start(scripts: Vec<Vec<Step>>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, requests) = mpsc::unbounded_channel();
        let scripts = Arc::new(Mutex::new(VecDeque::from(scripts)));
        let task = tokio::spawn(async move {
            let mut last: Vec<Step> = Vec::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let script = {
                    let mut scripts = scripts.lock().unwrap();
                    match scripts.pop_front() {
                        Some(script) => {
                            last = script.clone();
                            script
                        }
                        None => last.clone(),
                    }
                };
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, script, sender).await;
                });
            }
        });
        RawServer {
            addr,
            requests,
            task,
        }
    }

    /// The next request, within a generous bound.
    pub async fn request(&mut self) -> Request {
        tokio::time::timeout(Duration::from_secs(20), self.requests.recv())
            .await
            .expect("a request within 20 s")
            .expect("the server runs")
    }
}

/// A response head and body sent whole, the connection closed after.
pub fn response(status: &str, headers: &[&str], body: &[u8]) -> Vec<Step> {
    let mut bytes = format!("HTTP/1.1 {status}\r\nconnection: close\r\n").into_bytes();
    for header in headers {
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    vec![Step::Write(bytes)]
}

/// An event-stream head (no length: the body ends when the connection does).
pub fn stream_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n".to_vec()
}

/// An event stream whose body is `body`, ended by closing the connection.
pub fn stream(body: &[u8]) -> Vec<Step> {
    let mut bytes = stream_head();
    bytes.extend_from_slice(body);
    vec![Step::Write(bytes)]
}

async fn serve(
    mut stream: TcpStream,
    script: Vec<Step>,
    requests: mpsc::UnboundedSender<Request>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let request = read_request(&mut stream).await?;
    let _ = requests.send(request);
    for step in script {
        match step {
            Step::Write(bytes) => stream.write_all(&bytes).await?,
            Step::Trickle(bytes) => {
                for byte in bytes {
                    stream.write_all(&[byte]).await?;
                    // Nagle is off: a pause makes each byte its own segment.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Step::Sleep(duration) => tokio::time::sleep(duration).await,
            Step::Endless(chunk) => loop {
                stream.write_all(&chunk).await?;
            },
            Step::Hold => {
                let mut sink = [0; 1024];
                while stream.read(&mut sink).await? > 0 {}
                return Ok(());
            }
        }
    }
    stream.shutdown().await
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Request> {
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&buf[..n]);
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}
