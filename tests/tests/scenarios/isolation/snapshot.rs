//! Isolation of `/snapshot` (DESIGN §2 Limits, §7): readers that stop reading hold only the
//! snapshot's own bounded resources, never the connections writes need; a token gets a few
//! snapshots at once, and a client over a limit gets 503 with Retry-After.

use std::time::{Duration, Instant};

use orghub_tests::writer::TestWriter;
use orghub_tests::{TestDatabase, TestVhost, eventually};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use uuid::Uuid;

fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// A snapshot request whose client reads the status line and headers, then stops reading: its
/// receive buffer is tiny, so the server cannot push the rest of a large snapshot anywhere.
struct StalledReader {
    status: u16,
    headers: String,
    _stream: TcpStream,
}

async fn stalled_reader(writer: &TestWriter, token: &str) -> StalledReader {
    let addr = writer
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("writer address");
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small buffer");
    let mut stream = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET /api/v1/751/snapshot HTTP/1.1\r\nHost: orghub\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("the response head within 30 s")
            .expect("read");
        assert!(n > 0, "the writer closed the connection: {head:?}");
        head.push(byte[0]);
    }
    let headers = String::from_utf8_lossy(&head).into_owned();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    StalledReader {
        status,
        headers,
        _stream: stream,
    }
}

/// Imports `total` units with long names into 751 (a root and its children): about 600 bytes
/// of snapshot each.
async fn import_units(writer: &TestWriter, total: u32) {
    let long = "Afdeling for borgerservice og digital forvaltning ".repeat(3);
    let body: String = (1..=total)
        .map(|n| {
            let parent = (n > 1).then(|| id(1));
            let state = json!({"validity": {"from": "2020-01-01"}, "name": format!("{long}{n}"), "parent": parent});
            json!({"kind": "unit", "uuid": id(n), "state": state}).to_string() + "\n"
        })
        .collect();
    let r = writer.post_text("/api/v1/751/import", body).await;
    let shown = &r.text[..r.text.len().min(500)];
    assert_eq!(r.status, 200, "{shown}");
    assert_eq!(r.body["created"], total, "{shown}");
}

async fn read_token(writer: &TestWriter, name: &str) -> String {
    let r = writer
        .admin(
            reqwest::Method::POST,
            "/api/v1/admin/tokens",
            Some(&json!({"name": name, "scopes": ["read:751"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["token"].as_str().expect("token").to_owned()
}

/// How long a PUT of a new unit under the root takes; it must succeed.
async fn put_latency(writer: &TestWriter, n: u32) -> Duration {
    let start = Instant::now();
    let r = writer
        .put(
            "751",
            "units",
            id(n),
            json!({"validity": {"from": "2020-01-01"}, "name": format!("Ny {n}"), "parent": id(1)}),
        )
        .await;
    let took = start.elapsed();
    assert_eq!(r.status, 201, "the PUT failed after {took:?}: {}", r.text);
    took
}

fn retry_after(headers: &str) -> Option<u64> {
    headers.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[tokio::test]
async fn snapshot_readers_that_stop_reading_neither_delay_writes_nor_exceed_their_limits() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start_with(&db.url, &vhost.amqp_url, false).await;
    // A snapshot of several megabytes, far more than a socket and the server's buffers hold.
    let total = 8_000u32;
    import_units(&writer, total).await;
    let mut tokens = Vec::new();
    for i in 0..10 {
        tokens.push(read_token(&writer, &format!("reader-{i}")).await);
    }

    // Twenty readers, two per token, all stop reading.
    let mut readers = Vec::new();
    for token in &tokens {
        for _ in 0..2 {
            readers.push(stalled_reader(&writer, token).await);
        }
    }
    let took = put_latency(&writer, total + 1).await;
    assert!(
        took < Duration::from_secs(1),
        "a PUT took {took:?} beside 20 stalled snapshot readers"
    );
    let served = readers.iter().filter(|r| r.status == 200).count();
    assert!(served >= 1, "some snapshots are served");
    for r in readers.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 503, "{}", r.headers);
        assert!(retry_after(&r.headers).is_some(), "{}", r.headers);
    }
    drop(readers);

    // Per token: two at once; a third waits, while another token is still served.
    let (a, b) = (&tokens[0], &tokens[1]);
    let held = eventually(
        Duration::from_secs(30),
        "the closed readers' slots to be free",
        || async {
            let first = stalled_reader(&writer, a).await;
            (first.status == 200).then_some(first)
        },
    )
    .await;
    let second = stalled_reader(&writer, a).await;
    assert_eq!(second.status, 200, "{}", second.headers);
    let third = stalled_reader(&writer, a).await;
    assert_eq!(third.status, 503, "{}", third.headers);
    assert!(
        retry_after(&third.headers).is_some_and(|s| s > 0),
        "{}",
        third.headers
    );
    let other = stalled_reader(&writer, b).await;
    assert_eq!(other.status, 200, "{}", other.headers);
    let took = put_latency(&writer, total + 2).await;
    assert!(took < Duration::from_secs(1), "a PUT took {took:?}");
    drop((held, second, third, other));

    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}

#[tokio::test]
async fn a_snapshot_its_client_reads_too_slowly_is_cut_at_the_time_limit_with_a_broken_body() {
    let db = TestDatabase::create().await;
    let vhost = TestVhost::create().await;
    let writer = TestWriter::start_tuned(&db.url, &vhost.amqp_url, |c| {
        c.relay = false;
        c.snapshot_pool = std::num::NonZeroU32::MIN;
        c.snapshot_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    import_units(&writer, 4_000).await;
    let (a, b) = (
        read_token(&writer, "slow").await,
        read_token(&writer, "next").await,
    );
    let slow = stalled_reader(&writer, &a).await;
    assert_eq!(slow.status, 200, "{}", slow.headers);
    // The only slot is free again once the stalled snapshot was cut at its time limit.
    let next = eventually(
        Duration::from_secs(30),
        "the stalled snapshot's slot to be free",
        || async {
            let next = stalled_reader(&writer, &b).await;
            (next.status == 200).then_some(next)
        },
    )
    .await;
    // What was sent of the cut snapshot ends in an error, never like a whole one.
    let mut stream = slow._stream;
    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        rest
    })
    .await
    .expect("the cut snapshot's connection ends");
    assert!(
        !rest.ends_with(b"0\r\n\r\n"),
        "a cut snapshot ended like a whole one"
    );
    drop(next);
    writer.stop().await;
    db.drop_now().await;
    vhost.delete_now().await;
}
