//! A real local S3 server for tests: the moto server (installed by `scripts/test.sh` through
//! `scripts/s3-server.sh`) on a loopback port of its own choosing, one per test, killed on drop.

use anyhow::{bail, Context, Result};
use rask::collections::storage::{s3, S3Options};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region the tests use (moto rejects rust-s3's us-east-1 location constraint).
pub const REGION: &str = "eu-west-1";

/// A running moto server.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
}

fn binary() -> Result<PathBuf> {
    let path = match std::env::var_os("RASK_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/rask/moto/bin/moto_server")
        }
    };
    if !path.is_file() {
        bail!(
            "the moto S3 server is not installed ({} is missing): run scripts/test.sh, or \
             `export RASK_MOTO_SERVER=\"$(scripts/s3-server.sh)\"`",
            path.display()
        );
    }
    Ok(path)
}

/// The port in the server's ` * Running on http://127.0.0.1:PORT` log line.
fn announced_port(line: &str) -> Option<u16> {
    let rest = line.split_once("Running on http://127.0.0.1:")?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A loopback port nothing listens on (at the time of the call).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One HTTP/1.0 request to `127.0.0.1:port`; the status code and body.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed HTTP reply")?;
    let body = reply.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    Ok((status, body))
}

impl Moto {
    /// Starts a server on a port it picks itself and waits (at most 30 s) until it answers.
    ///
    /// The server binds port 0 and its announced port is read from its log: a port picked
    /// here and handed over could be picked by a test running beside this one too, and that
    /// test would then talk to this test's server.
    pub fn start() -> Result<Moto> {
        let bin = binary()?;
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("moto_server's stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Finds the announced port, then reads the log to its end, so that the server never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut log = BufReader::new(stderr);
            let mut line = Vec::new();
            while log.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                if let Some(port) = announced_port(&String::from_utf8_lossy(&line)) {
                    let _ = tx.send(port);
                    break;
                }
                line.clear();
            }
            let _ = std::io::copy(&mut log, &mut std::io::sink());
        });
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("moto_server did not announce its port within 30 s");
            }
        };
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let start = Instant::now();
        while http(port, "GET", "/moto-api/", "").is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                bail!("moto_server exited at start: {status}");
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("moto_server did not answer on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// Explicit options for this server (any keys work until auth is enabled).
    pub fn options(&self) -> S3Options {
        S3Options::with_endpoint(&self.endpoint, REGION, "testing", "testing")
    }

    /// The `AWS_*` variables that point the storage layer (and workers) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        Ok(s3::create_bucket(&self.options(), name)?)
    }

    /// A bucket policy letting anyone read the objects of `bucket` (anonymous `GetObject`,
    /// as on a public bucket).
    pub fn allow_public_reads(&self, bucket: &str) -> Result<()> {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}?policy"), &policy)?;
        if !(200..300).contains(&status) {
            bail!("moto put-bucket-policy: HTTP {status} {body}");
        }
        Ok(())
    }

    /// From now on the server checks credentials: requests signed with keys it does not
    /// know (all of them, here) are refused with 403.
    pub fn enable_auth(&self) -> Result<()> {
        let (status, body) = http(self.port, "POST", "/moto-api/reset-auth", "0")?;
        if status != 200 {
            bail!("moto reset-auth: HTTP {status} {body}");
        }
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
