//! A real SMTP sink on loopback for the email tests (a tiny SMTP server on
//! tokio: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; bounded message
//! size and line length; recipients named `reject…` get a permanent 550), a mail worker over given stores, and helpers to
//! read links out of received mail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinHandle;
use zenoauth_domain::email::Backoff;
use zenoauth_domain::ports::{Clock, RandomSource, Stores};
use zenoauth_server::mail::{MailSettings, Mailer};

/// Largest message the sink accepts (bytes).
const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Longest command or data line.
const MAX_LINE_BYTES: usize = 4096;

/// One received mail.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (CRLF line ends, dot-unstuffed).
    pub data: String,
}

impl Received {
    pub fn subject(&self) -> String {
        self.data.lines().find_map(|line| line.strip_prefix("Subject: ")).map(str::to_owned).unwrap_or_default()
    }

    /// The body, decoded from quoted-printable or base64 when so encoded.
    pub fn body(&self) -> String {
        let (headers, body) = self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""));
        let headers = headers.to_ascii_lowercase();
        if headers.contains("content-transfer-encoding: base64") {
            use base64::Engine as _;
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).unwrap()).unwrap()
        } else if headers.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The first `http://` link in the body.
    pub fn link(&self) -> String {
        let body = self.body();
        let start = body.find("http://").unwrap_or_else(|| panic!("no link in mail: {body}"));
        body[start..].split_whitespace().next().unwrap().to_owned()
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let unfolded = text.replace("=\r\n", "");
    let bytes = unfolded.as_bytes();
    let mut output = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'=' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                output.push(byte);
                index += 3;
                continue;
            }
        }
        output.push(bytes[index]);
        index += 1;
    }
    String::from_utf8(output).unwrap()
}

/// The sink: accepts every mail and hands it to the test.
pub struct SmtpSink {
    pub address: SocketAddr,
    received: Mutex<mpsc::UnboundedReceiver<Received>>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// On a given port (to bring a "down" server up where the sender expects it).
    pub async fn start_at(address: SocketAddr) -> Self {
        Self::start_on(TcpListener::bind(address).await.unwrap())
    }

    fn start_on(listener: TcpListener) -> Self {
        let address = listener.local_addr().unwrap();
        let (sender, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, sender.clone()));
            }
        });
        Self { address, received: Mutex::new(received), task }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.address)
    }

    /// The next mail, waiting up to 15 seconds.
    pub async fn next(&self) -> Received {
        let mut received = self.received.lock().await;
        tokio::time::timeout(Duration::from_secs(15), received.recv())
            .await
            .expect("no mail arrived within 15 s")
            .expect("the sink stopped")
    }

    /// Whether a mail arrives within `wait`.
    pub async fn try_next(&self, wait: Duration) -> Option<Received> {
        let mut received = self.received.lock().await;
        tokio::time::timeout(wait, received.recv()).await.ok().flatten()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, delivered: mpsc::UnboundedSender<Received>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    if writer.write_all(b"220 sink.test ESMTP ready\r\n").await.is_err() {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let Some(line) = read_line(&mut reader).await else { return };
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let recipient = line[8..].trim().trim_start_matches('<').trim_end_matches('>').to_owned();
            // Recipients named `reject…` are refused permanently, as for an unknown mailbox.
            if recipient.starts_with("reject") {
                b"550 5.1.1 no such user\r\n"
            } else {
                to.push(recipient);
                b"250 OK\r\n"
            }
        } else if upper == "DATA" {
            if writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            loop {
                let Some(line) = read_line(&mut reader).await else { return };
                if line == "." {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push_str("\r\n");
                if data.len() > MAX_MESSAGE_BYTES {
                    let _ = writer.write_all(b"552 too big\r\n").await;
                    return;
                }
            }
            let _ = delivered.send(Received { from: from.clone(), to: to.clone(), data });
            b"250 OK queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            let _ = writer.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        if writer.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// One CRLF-terminated line without its end; `None` at EOF, on error or
/// when a line is too long.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut line = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let buffer = reader.fill_buf().await.ok()?;
            if buffer.is_empty() {
                return None;
            }
            if let Some(end) = buffer.iter().position(|byte| *byte == b'\n') {
                line.extend_from_slice(&buffer[..=end]);
                reader.consume(end + 1);
                return Some(());
            }
            let length = buffer.len();
            line.extend_from_slice(buffer);
            reader.consume(length);
            if line.len() > MAX_LINE_BYTES {
                return None;
            }
        }
    })
    .await
    .ok()??;
    let text = String::from_utf8(line).ok()?;
    Some(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// A free loopback port with nothing listening (an SMTP server that is down).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Mail settings for tests: fast polling and retries.
pub fn test_mail_settings(smtp_url: &str) -> MailSettings {
    MailSettings {
        smtp_url: Some(secrecy::SecretString::from(smtp_url.to_owned())),
        poll_interval: Duration::from_millis(100),
        backoff: Backoff {
            initial: time::Duration::milliseconds(200),
            max: time::Duration::milliseconds(400),
            max_attempts: 100,
        },
        ..MailSettings::default()
    }
}

/// Starts a mail worker over `stores` sending to `smtp_url`; stops when the
/// handle is aborted.
pub fn start_worker(
    stores: &Stores,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    settings: MailSettings,
) -> JoinHandle<()> {
    let mailer = Mailer::new(stores.mail_outbox.clone(), clock.clone(), random.clone(), settings);
    zenoauth_server::mail::worker::MailWorker::new(stores.mail_outbox.clone(), clock, random, &mailer).unwrap().spawn()
}

/// Aborts the task when dropped.
pub struct Stop(pub JoinHandle<()>);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
