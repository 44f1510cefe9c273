//! Outbound Redis and MQTT, and the Redis trigger, against real servers (redis-server and
//! Mosquitto on loopback ports of their own), from guests built with Spin 4's SDK (spin-sdk
//! 7: `spin:redis@3.0.0`, `spin:mqtt@3.0.0`, `spin:redis/inbound-redis@3.0.0`) and Spin 3's
//! (spin-sdk 5: `fermyon:spin/redis@2.0.0`, `mqtt@2.0.0`, Spin 1's `inbound-redis`), and
//! from the Python SDK's app (`tests/apps/python`, the same 2.0.0 interfaces).

mod support;

use runner::AppOptions;
use runner::testing::TestApp;
use std::time::{Duration, Instant};
use support::RedisServer;
use support::mosquitto::{self, Mosquitto};

/// Both probes: `/v3` (spin-sdk 7) and `/v2` (spin-sdk 5).
const VERSIONS: [&str; 2] = ["v3", "v2"];

fn manifest() -> std::path::PathBuf {
    let manifest = support::repo_root().join("tests/guests/redis-probe/spin.toml");
    support::build_once(&manifest);
    manifest
}

/// The probe app, its trigger on `redis`'s `channel`, its listeners writing under `prefix`.
async fn start(redis: &RedisServer, channel: &str, prefix: &str) -> TestApp {
    let mut options = AppOptions::new(manifest())
        .variable("redis_address", redis.url())
        .variable("channel", channel);
    options.env = vec![
        ("REDIS_ADDRESS".into(), redis.url()),
        ("LIST_PREFIX".into(), prefix.into()),
    ];
    TestApp::builder(options)
        .real_network()
        .start()
        .await
        .expect("the probe app starts")
}

fn query_value(text: &str) -> String {
    text.replace('%', "%25")
        .replace('&', "%26")
        .replace('?', "%3F")
        .replace('=', "%3D")
        .replace(' ', "+")
}

/// A redis-server and the probe app on it (`None` where redis-server is not installed).
async fn started(channel: &str, prefix: &str) -> Option<(RedisServer, TestApp)> {
    let redis = RedisServer::start()?;
    let app = start(&redis, channel, prefix).await;
    Some((redis, app))
}

/// `started`, once the app's trigger has subscribed to `channel`.
async fn subscribed(channel: &str, prefix: &str) -> Option<(RedisServer, TestApp)> {
    let (redis, app) = started(channel, prefix).await?;
    wait_for_subscribers(&redis, channel, 1).await;
    Some((redis, app))
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app.get(path).await.expect("the app answers");
    (response.status, response.text())
}

/// Waits (up to 10 s) until `redis` reports `count` subscribers on `channel`.
async fn wait_for_subscribers(redis: &RedisServer, channel: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let numsub: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(
                &mut redis::Client::open(redis.url())
                    .unwrap()
                    .get_connection()
                    .unwrap(),
            )
            .unwrap();
        if let Some(redis::Value::Int(n)) = numsub.get(1)
            && *n as usize >= count
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no subscriber on `{channel}` within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn publish(redis: &RedisServer, channel: &str, message: &str) -> i64 {
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap()
}

fn list(redis: &RedisServer, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap()
}

/// Waits (up to 10 s) until the list `key` holds `count` entries, and returns it.
async fn wait_for_list(redis: &RedisServer, key: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries = list(redis, key);
        if entries.len() >= count || Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_redis_call_returns_what_the_server_holds_in_both_interface_versions() {
    let Some((redis, app)) = started("unused", "unused").await else {
        return;
    };
    for version in VERSIONS {
        let prefix = format!("{version}:");
        let address = query_value(&redis.url());
        let (status, text) = get(
            &app,
            &format!("/{version}/redis?address={address}&prefix={prefix}"),
        )
        .await;
        assert_eq!(status, 200, "{version}: {text}");
        let expected = [
            "get=héllo",
            "get-missing=None",
            "incr=42",
            "incr-text=Some(Other(\"An error was signalled by the server - ResponseError: value is not an integer or out of range\"))",
            "smembers-text=Some(TypeError)",
            "sadd=3",
            "srem=1",
            "smembers=a,c",
            "append=int:2",
            "execute-get=binary:ab",
            "rpush=int:2",
            "lrange=binary:7,binary:x",
            "unknown-command=true",
            "del=1",
            "publish=ok",
        ];
        for (line, want) in text.lines().zip(expected) {
            if want.starts_with("incr-text=") {
                assert!(
                    line.starts_with("incr-text=Some(Other("),
                    "{version}: {line}"
                );
                assert!(line.contains("not an integer"), "{version}: {line}");
            } else {
                assert_eq!(line, want, "{version}");
            }
        }
        assert_eq!(text.lines().count(), expected.len(), "{version}: {text}");
        // What the guest stored is what the server holds.
        assert_eq!(
            redis.command(&["GET", &format!("{prefix}text")]).unwrap(),
            Some("héllo".into())
        );
        assert_eq!(
            redis
                .command(&["EXISTS", &format!("{prefix}count")])
                .unwrap(),
            Some("0".into())
        );
        assert_eq!(
            redis
                .command(&["SISMEMBER", &format!("{prefix}set"), "c"])
                .unwrap(),
            Some("1".into())
        );
        assert_eq!(
            redis.command(&["GET", &format!("{prefix}log")]).unwrap(),
            Some("ab".into())
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_redis_address_the_manifest_does_not_grant_is_an_invalid_address_and_nothing_connects() {
    let Some((redis, app)) = started("unused", "unused").await else {
        return;
    };
    let clients_before = redis
        .command(&["INFO", "stats"])
        .unwrap()
        .unwrap_or_default();
    for version in VERSIONS {
        // The manifest grants redis://127.0.0.1:*, not a host name.
        let denied = query_value(&format!("redis://localhost:{}", redis.port));
        let (status, text) = get(
            &app,
            &format!("/{version}/redis-get?address={denied}&key=k"),
        )
        .await;
        assert_eq!(
            (status, text.as_str()),
            (500, "error: InvalidAddress"),
            "{version}"
        );
        let not_redis = query_value(&format!("http://127.0.0.1:{}", redis.port));
        let (status, text) = get(
            &app,
            &format!("/{version}/redis-get?address={not_redis}&key=k"),
        )
        .await;
        assert_eq!(
            (status, text.as_str()),
            (500, "error: InvalidAddress"),
            "{version}"
        );
    }
    let accepted = |info: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .map(|n| n.trim().parse::<u64>().unwrap())
            .unwrap()
    };
    let clients_after = redis
        .command(&["INFO", "stats"])
        .unwrap()
        .unwrap_or_default();
    // Only the test's own two INFO connections (and the trigger's subscriber) reached it.
    assert!(
        accepted(&clients_after) - accepted(&clients_before) <= 2,
        "a denied address was connected to"
    );
    assert!(
        app.runner_logs()
            .iter()
            .any(|l| l.contains("not in allowed_outbound_hosts")),
        "{:?}",
        app.runner_logs()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_redis_server_that_is_down_is_the_guests_error_and_is_used_again_when_back() {
    let Some((redis, app)) = started("unused", "unused").await else {
        return;
    };
    let address = query_value(&redis.url());
    redis.command(&["SET", "k", "before"]).unwrap();
    for version in VERSIONS {
        let (status, text) = get(
            &app,
            &format!("/{version}/redis-get?address={address}&key=k"),
        )
        .await;
        assert_eq!((status, text.as_str()), (200, "before"), "{version}");
    }
    // Nothing listens here: a connection error, as the guest's `other` error.
    let closed = query_value(&format!("redis://127.0.0.1:{}", support::free_port()));
    for version in VERSIONS {
        let (status, text) = get(
            &app,
            &format!("/{version}/redis-get?address={closed}&key=k"),
        )
        .await;
        assert_eq!(status, 500, "{version}: {text}");
        assert!(
            text.starts_with("error: Other(\"cannot connect to redis://127.0.0.1:"),
            "{version}: {text}"
        );
    }
    // The server goes away (its connections with it) and comes back on the same port.
    let redis = redis.restart_after(Duration::from_millis(200));
    redis.command(&["SET", "k", "after"]).unwrap();
    for version in VERSIONS {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut errors = 0;
        loop {
            let (status, text) = get(
                &app,
                &format!("/{version}/redis-get?address={address}&key=k"),
            )
            .await;
            if status == 200 {
                assert_eq!(text, "after", "{version}");
                break;
            }
            assert!(text.starts_with("error: Other("), "{version}: {text}");
            errors += 1;
            assert!(
                Instant::now() < deadline,
                "{version}: still failing: {text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The shared connection the restart broke is replaced before any call uses it.
        assert_eq!(
            errors, 0,
            "{version}: failed calls after the server came back"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn each_message_on_the_channel_runs_each_handler_once_in_order_and_failures_do_not_stop_it() {
    let Some((redis, app)) = subscribed("events", "seen:").await else {
        return;
    };
    for message in ["one", "fail", "two", "trap", "three"] {
        // One subscriber per server, whatever the number of components on the channel.
        assert_eq!(publish(&redis, "events", message), 1);
    }
    publish(&redis, "other-channel", "ignored");
    for version in ["v3", "v1"] {
        let seen = wait_for_list(&redis, &format!("seen:{version}"), 3).await;
        assert_eq!(seen, ["one", "two", "three"], "{version}");
    }
    // Let anything extra arrive, then check nothing ran twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(list(&redis, "seen:v3").len(), 3);
    assert_eq!(list(&redis, "seen:v1").len(), 3);
    let lines = app.runner_logs();
    for component in ["listener", "listener-sdk5"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(component) && l.contains("returned an error")),
            "{component}'s failure is logged: {lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(component) && l.contains("failed")),
            "{component}'s trap is logged: {lines:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_trigger_subscribes_again_when_redis_comes_back() {
    let Some((redis, app)) = subscribed("events", "again:").await else {
        return;
    };
    publish(&redis, "events", "before");
    assert_eq!(wait_for_list(&redis, "again:v3", 1).await, ["before"]);
    let redis = redis.restart_after(Duration::from_millis(500));
    wait_for_subscribers(&redis, "events", 1).await;
    publish(&redis, "events", "after");
    // The restarted server kept its data (append-only file): both runs are there.
    assert_eq!(
        wait_for_list(&redis, "again:v3", 2).await,
        ["before", "after"]
    );
    assert_eq!(
        wait_for_list(&redis, "again:v1", 2).await,
        ["before", "after"]
    );
    app.stop().await;
}

#[tokio::test]
async fn two_runners_on_one_server_each_run_the_handler_for_every_message() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let first = start(&redis, "fanout", "both:").await;
    let second = start(&redis, "fanout", "both:").await;
    wait_for_subscribers(&redis, "fanout", 2).await;
    assert_eq!(publish(&redis, "fanout", "m"), 2);
    assert_eq!(wait_for_list(&redis, "both:v3", 2).await, ["m", "m"]);
    assert_eq!(wait_for_list(&redis, "both:v1", 2).await, ["m", "m"]);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_handler_that_is_not_exported_or_a_missing_address_is_refused_at_start() {
    let original = manifest();
    let dir = tempfile::tempdir().unwrap();
    let edited = |edit: &dyn Fn(String) -> String| {
        let guests = original.parent().unwrap().join("../../../target");
        let text = std::fs::read_to_string(&original)
            .unwrap()
            .replace("../../../target", &guests.display().to_string());
        let path = dir.path().join("spin.toml");
        std::fs::write(&path, edit(text)).unwrap();
        AppOptions::new(path)
    };
    let refusal = |options: AppOptions| async move {
        match TestApp::start(options).await {
            Ok(_) => panic!("started"),
            Err(e) => e.to_string(),
        }
    };
    let error = refusal(
        edited(&|text| text.replace("component = \"listener\"", "component = \"probe\""))
            .variable("redis_address", "redis://127.0.0.1:1"),
    )
    .await;
    assert!(
        error.contains("trigger.redis[0].component")
            && error.contains("does not export `handle-message`"),
        "{error}"
    );
    let error = refusal(
        edited(&|text| {
            text.replace(
                "[application.trigger.redis]\naddress = \"{{ redis_address }}\"\n",
                "",
            )
        })
        .variable("redis_address", "redis://127.0.0.1:1"),
    )
    .await;
    assert!(
        error.contains("trigger.redis[0].address") && error.contains("no Redis server"),
        "{error}"
    );
    let error = refusal(edited(&|text| {
        text.replace(
            "address = \"{{ redis_address }}\"",
            "address = \"{{ redis_address }}/x y\"",
        )
        .replace(
            "redis_address = { required = true }",
            "redis_address = { default = \"nonsense\" }",
        )
    }))
    .await;
    assert!(error.contains("is not a Redis URL"), "{error}");
}

#[tokio::test]
async fn mqtt_publishes_reach_a_subscriber_at_every_qos_with_the_brokers_credentials() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let Some((_redis, app)) = started("unused", "unused").await else {
        return;
    };
    let mut options = rumqttc::MqttOptions::new("test-subscriber", "127.0.0.1", broker.port);
    options.set_credentials(mosquitto::USER, mosquitto::PASSWORD);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    client
        .subscribe("probe/#", rumqttc::QoS::ExactlyOnce)
        .await
        .unwrap();
    let received = tokio::spawn(async move {
        let mut messages = Vec::new();
        while messages.len() < 6 {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p))) => {
                    messages.push((
                        p.topic.clone(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                    ));
                }
                Ok(_) => {}
                Err(e) => panic!("test subscriber: {e}"),
            }
        }
        messages
    });
    // Let the subscription reach the broker before publishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for version in VERSIONS {
        for qos in ["0", "1", "2"] {
            let address = query_value(&broker.address(&format!("probe-{version}-{qos}")));
            let (status, text) = get(
                &app,
                &format!(
                    "/{version}/mqtt?address={address}&user={}&password={}&topic=probe/{version}&qos={qos}&message=hello+{qos}",
                    mosquitto::USER,
                    mosquitto::PASSWORD
                ),
            )
            .await;
            assert_eq!(
                (status, text.as_str()),
                (200, "published"),
                "{version} qos {qos}"
            );
        }
    }
    let mut messages = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("every publish reaches the subscriber within 10 s")
        .unwrap();
    messages.sort();
    let mut expected = Vec::new();
    for version in VERSIONS {
        for qos in ["0", "1", "2"] {
            expected.push((format!("probe/{version}"), format!("hello {qos}")));
        }
    }
    expected.sort();
    assert_eq!(messages, expected);
    app.stop().await;
}

#[tokio::test]
async fn mqtt_refusals_are_the_guests_connection_failed_error() {
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let Some((_redis, app)) = started("unused", "unused").await else {
        return;
    };
    for version in VERSIONS {
        let publish = |address: String, password: &str| {
            format!(
                "/{version}/mqtt?address={}&user={}&password={password}&topic=t&qos=1&message=m",
                query_value(&address),
                mosquitto::USER
            )
        };
        let (status, text) = get(&app, &publish(broker.address("wrong"), "wrong-password")).await;
        assert_eq!(status, 500, "{version}: {text}");
        assert!(
            text.starts_with("error: ConnectionFailed("),
            "{version}: {text}"
        );
        let denied = format!("mqtt://localhost:{}?client_id=denied", broker.port);
        let (status, text) = get(&app, &publish(denied, mosquitto::PASSWORD)).await;
        assert_eq!(status, 500, "{version}: {text}");
        assert!(text.contains("is not permitted"), "{version}: {text}");
        let down = format!("mqtt://127.0.0.1:{}?client_id=down", support::free_port());
        let started = Instant::now();
        let (status, text) = get(&app, &publish(down, mosquitto::PASSWORD)).await;
        assert_eq!(status, 500, "{version}: {text}");
        assert!(
            text.starts_with("error: ConnectionFailed("),
            "{version}: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a refused connection fails fast"
        );
        let no_client_id = format!("mqtt://127.0.0.1:{}", broker.port);
        let (status, text) = get(&app, &publish(no_client_id, mosquitto::PASSWORD)).await;
        assert_eq!(
            (status, text.as_str()),
            (500, "error: InvalidAddress"),
            "{version}"
        );
        // And the app still serves: a good publish after all that.
        let (status, text) = get(
            &app,
            &publish(
                broker.address(&format!("ok-{version}")),
                mosquitto::PASSWORD,
            ),
        )
        .await;
        assert_eq!((status, text.as_str()), (200, "published"), "{version}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_test_hands_a_message_to_a_handler_directly_and_reads_how_it_ended() {
    use runner::testing::{HandlerError, RedisMessageError};
    // No server at this address: the subscription keeps retrying; the handler is called directly.
    let options = AppOptions::new(manifest()).variable("redis_address", "redis://127.0.0.1:1");
    let app = TestApp::start(options).await.expect("the probe app starts");
    for handler in ["listener", "listener-sdk5"] {
        match app.redis_message(handler, "fail").await {
            Err(RedisMessageError::Handler(HandlerError::Guest(_))) => {}
            other => panic!("{handler}: {other:?}"),
        }
        match app.redis_message(handler, "trap").await {
            Err(RedisMessageError::Handler(HandlerError::Failed(_))) => {}
            other => panic!("{handler}: {other:?}"),
        }
    }
    assert!(
        app.logs("listener")
            .iter()
            .any(|l| l.contains("told to fail")),
        "{:?}",
        app.logs("listener")
    );
    assert_eq!(
        app.redis_message("probe", "x").await,
        Err(RedisMessageError::NotAHandler("probe".into()))
    );
    assert_eq!(
        app.redis_message("nope", "x").await,
        Err(RedisMessageError::NoSuchComponent("nope".into()))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_python_sdk_app_talks_to_redis_and_mqtt() {
    use support::sdk_apps::{self, SdkApp};
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let Some(broker) = Mosquitto::start() else {
        return;
    };
    let Some(manifest) = sdk_apps::manifest(SdkApp::Python) else {
        return;
    };
    let app = TestApp::builder(AppOptions::new(manifest))
        .real_network()
        .start()
        .await
        .expect("the Python app starts");
    let (status, text) = get(
        &app,
        &format!("/redis?address={}", query_value(&redis.url())),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        text,
        "get=héllo\nincr=42\nsadd=3\nsrem=1\nsmembers=a,c\ndel=1\npublish=ok"
    );
    assert_eq!(
        redis.command(&["GET", "py:text"]).unwrap(),
        Some("héllo".into())
    );
    let denied = query_value(&format!("redis://localhost:{}", redis.port));
    let (status, text) = get(&app, &format!("/redis?address={denied}")).await;
    assert_eq!(status, 500);
    assert!(text.contains("InvalidAddress"), "{text}");
    let (status, text) = get(
        &app,
        &format!(
            "/mqtt?address={}&user={}&password={}&topic=py&message=hi",
            query_value(&broker.address("python")),
            mosquitto::USER,
            mosquitto::PASSWORD
        ),
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "published"));
    app.stop().await;
}
