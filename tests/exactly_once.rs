//! Increments on Redis are exactly-once even when replies are lost (Spin's are not:
//! spinframework/spin#3563). A TCP proxy owned by this test sits between the runner and
//! Redis and, now and then, cuts the connection right after forwarding a script call (the
//! increment) and before its reply. The counter must end equal to the number of `/test2`
//! requests that answered 200: no increment applied twice, none applied unreported.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{RedisServer, client, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards 127.0.0.1:(returned port) to `upstream`, cutting every `every`-th connection
/// chunk that carries an `EVAL`/`EVALSHA`, after forwarding it, until `budget` cuts are done.
async fn faulty_proxy(upstream: u16, every: usize, budget: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let cuts = Arc::new(AtomicUsize::new(0));
    let cuts_out = cuts.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (seen, cuts) = (seen.clone(), cuts.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let replies = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let carries_increment = buffer[..n].windows(4).any(|w| w == b"EVAL");
                    let cut = carries_increment
                        && seen.fetch_add(1, Ordering::SeqCst) % every == every - 1
                        && cuts
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                                (c < budget).then_some(c + 1)
                            })
                            .is_ok();
                    if cut {
                        // Stop relaying replies first, so this one is surely lost.
                        replies.abort();
                    }
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                    if cut {
                        // Let Redis run it, then drop the connection.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        break;
                    }
                }
            });
        }
    });
    (port, cuts_out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_replies_neither_double_nor_drop_an_increment() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (proxy_port, cuts) = faulty_proxy(redis.port, 7, 25).await;
    let mut options = support::app_options(&[]);
    let config = redis.dir.path().join("rc.toml");
    std::fs::write(
        &config,
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{proxy_port}\"\n"),
    )
    .unwrap();
    options.runtime_config = Some(config);
    let app = runner::testing::TestApp::start(options).await.unwrap();

    let client = client();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{}/test2", app.url()));
            tokio::spawn(async move {
                let mut ok = 0usize;
                for _ in 0..50 {
                    if get(&client, &url).await.status == 200 {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let mut answered_ok = 0;
    for worker in workers {
        answered_ok += worker.await.unwrap();
    }
    let stored: i64 = redis
        .command(&["GET", "seq"])
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let cuts = cuts.load(Ordering::SeqCst);
    eprintln!(
        "{cuts} connections cut after an increment; {answered_ok} of 400 answered 200; counter {stored}"
    );
    assert!(cuts >= 10, "the proxy cut only {cuts} connections");
    assert_eq!(
        stored, answered_ok as i64,
        "counter == increments acknowledged"
    );
    app.stop().await;
}
