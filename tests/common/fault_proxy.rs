//! A fault-injecting HTTP proxy in front of the moto server, for the `s3://` retry tests
//! (moto itself never answers 5xx). It reads each request whole, then, as its plan says,
//! answers `503 Slow Down` (S3's XML error), drops the connection without a word, or
//! forwards the request to moto and relays the answer. One request per connection: every
//! answer says `Connection: close`. Test-only; the library has no mock of S3.

use anyhow::{bail, Context, Result};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a faulty request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 Slow Down` with S3's `<Error><Code>SlowDown</Code>…` body.
    SlowDown,
    /// The connection closed without an answer.
    Drop,
}

/// Which requests fail.
#[derive(Debug, Clone)]
enum Plan {
    /// None.
    Pass,
    /// The next requests, one fault each, in order; then none.
    Next(VecDeque<Fault>),
    /// Every other request; the flag says whether the next one fails.
    Alternate(Fault, bool),
    /// All.
    Always(Fault),
}

impl Plan {
    fn take(&mut self) -> Option<Fault> {
        match self {
            Plan::Pass => None,
            Plan::Next(q) => q.pop_front(),
            Plan::Alternate(f, next_fails) => {
                let fail = *next_fails;
                *next_fails = !fail;
                fail.then_some(*f)
            }
            Plan::Always(f) => Some(*f),
        }
    }
}

struct Shared {
    upstream: u16,
    plan: Mutex<Plan>,
    requests: AtomicU64,
    faults: AtomicU64,
    body_bytes: AtomicU64,
    stop: AtomicBool,
}

/// A running proxy (stopped when dropped).
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`, the endpoint to give the S3 options.
    pub endpoint: String,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `127.0.0.1:upstream`; passes everything
    /// until told otherwise.
    pub fn start(upstream: u16) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(Plan::Pass),
            requests: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, &s) {
                        eprintln!("fault proxy: {e:#}");
                    }
                });
            }
        });
        Ok(FaultProxy {
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            accept: Some(accept),
        })
    }

    fn set(&self, plan: Plan) {
        *self.shared.plan.lock().unwrap() = plan;
    }

    /// The next requests get these faults, one each; later ones pass.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.set(Plan::Next(faults.iter().copied().collect()));
    }

    /// Every other request fails, starting with the next one.
    pub fn fail_alternate(&self, fault: Fault) {
        self.set(Plan::Alternate(fault, true));
    }

    /// Every request fails.
    pub fn fail_always(&self, fault: Fault) {
        self.set(Plan::Always(fault));
    }

    /// Every request passes.
    pub fn heal(&self) {
        self.set(Plan::Pass);
    }

    /// Requests received and faults given since the last call (counters reset).
    pub fn take_counts(&self) -> (u64, u64) {
        (
            self.shared.requests.swap(0, Ordering::SeqCst),
            self.shared.faults.swap(0, Ordering::SeqCst),
        )
    }
}

impl FaultProxy {
    /// Bytes of answer bodies relayed from moto since the last call (counter reset).
    pub fn take_body_bytes(&self) -> u64 {
        self.shared.body_bytes.swap(0, Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 message head and body (by `Content-Length`; chunked bodies are refused).
fn read_request(r: &mut impl BufRead) -> Result<Option<(Vec<String>, Vec<u8>)>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            bail!("connection closed inside a request head");
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let header = |name: &str| {
        head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some() {
        bail!("chunked request bodies are not supported: {head:?}");
    }
    let len: usize = header("content-length").map_or(Ok(0), |v| v.parse())?;
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

/// `head` without its `Connection` headers, plus `Connection: close`, as bytes.
fn closing(head: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for h in head {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            out += h;
            out += "\r\n";
        }
    }
    out += "Connection: close\r\n\r\n";
    out.into_bytes()
}

fn serve(client: TcpStream, s: &Shared) -> Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let Some((head, body)) = read_request(&mut reader)? else {
        return Ok(());
    };
    s.requests.fetch_add(1, Ordering::SeqCst);
    let fault = s.plan.lock().unwrap().take();
    let mut client = client;
    match fault {
        Some(f) => {
            s.faults.fetch_add(1, Ordering::SeqCst);
            if f == Fault::SlowDown {
                let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown\
                           </Code><Message>Please reduce your request rate.</Message></Error>";
                write!(
                    client,
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                    xml.len()
                )?;
            }
        }
        None => {
            let mut up = TcpStream::connect(("127.0.0.1", s.upstream))
                .with_context(|| format!("cannot reach moto on port {}", s.upstream))?;
            up.set_read_timeout(Some(Duration::from_secs(60)))?;
            up.write_all(&closing(&head))?;
            up.write_all(&body)?;
            let mut answer = Vec::new();
            up.read_to_end(&mut answer)?;
            let split = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .context("malformed answer from moto")?;
            let answer_head: Vec<String> = String::from_utf8_lossy(&answer[..split])
                .split("\r\n")
                .map(String::from)
                .collect();
            client.write_all(&closing(&answer_head))?;
            client.write_all(&answer[split + 4..])?;
            let body = (answer.len() - split - 4) as u64;
            s.body_bytes.fetch_add(body, Ordering::SeqCst);
        }
    }
    client.flush()?;
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
