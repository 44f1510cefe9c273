//! A test guest (spin-sdk 7: `spin:redis/redis@3.0.0`, `spin:mqtt/mqtt@3.0.0`) that runs
//! outbound Redis and MQTT calls and answers what came back, one line per call:
//! - `.../redis?address=A&prefix=P`: set, get, incr, sadd, srem, smembers, execute (append and
//!   get), del and publish on keys starting with P, at the server A;
//! - `.../redis-get?address=A&key=K`: opens A and gets K (how `open` fails shows here);
//! - `.../mqtt?address=A&user=U&password=W&topic=T&qos=0|1|2&message=M`: publishes M.
//!
//! A failed call answers 500 with `error: <the guest-visible error>`.

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::mqtt::{self, Qos};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

mod query;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let query = query::Query::parse(request.uri().query().unwrap_or(""));
    let arg = |name: &str| query.get(name);
    let result = match request.uri().path().rsplit('/').next().unwrap_or("") {
        "redis" => redis_calls(&arg("address"), &arg("prefix")).await,
        "redis-get" => redis_get(&arg("address"), &arg("key")).await,
        "mqtt" => {
            publish(
                &arg("address"),
                &arg("user"),
                &arg("password"),
                &arg("topic"),
                &arg("qos"),
                &arg("message"),
            )
            .await
        }
        _ => Err("no such path".to_string()),
    };
    match result {
        Ok(text) => (StatusCode::OK, text),
        // spin-sdk 7 shows its errors as `Error::Other(..)`, spin-sdk 5 as `Other(..)`.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("error: {}", e.replace("Error::", "")),
        ),
    }
}

fn shown(results: &[RedisResult]) -> String {
    results
        .iter()
        .map(|r| match r {
            RedisResult::Nil => "nil".to_string(),
            RedisResult::Status(s) => format!("status:{s}"),
            RedisResult::Int64(i) => format!("int:{i}"),
            RedisResult::Binary(b) => format!("binary:{}", String::from_utf8_lossy(b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

async fn redis_calls(address: &str, prefix: &str) -> Result<String, String> {
    let e = |e: spin_sdk::redis::Error| format!("{e:?}");
    let key = |name: &str| format!("{prefix}{name}");
    let redis = Connection::open(address).await.map_err(e)?;
    let mut lines = Vec::new();
    redis.set(key("text"), "héllo").await.map_err(e)?;
    let got = redis.get(key("text")).await.map_err(e)?;
    lines.push(format!(
        "get={}",
        got.map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or("none".into())
    ));
    lines.push(format!(
        "get-missing={:?}",
        redis.get(key("missing")).await.map_err(e)?
    ));
    redis.set(key("count"), "41").await.map_err(e)?;
    lines.push(format!(
        "incr={}",
        redis.incr(key("count")).await.map_err(e)?
    ));
    lines.push(format!(
        "incr-text={:?}",
        redis.incr(key("text")).await.err()
    ));
    lines.push(format!(
        "smembers-text={:?}",
        redis.smembers(key("text")).await.err()
    ));
    lines.push(format!(
        "sadd={}",
        redis.sadd(key("set"), ["a", "b", "c"]).await.map_err(e)?
    ));
    lines.push(format!(
        "srem={}",
        redis.srem(key("set"), ["b", "x"]).await.map_err(e)?
    ));
    let mut members = redis.smembers(key("set")).await.map_err(e)?;
    members.sort();
    lines.push(format!("smembers={}", members.join(",")));
    let appended = redis
        .execute(
            "append",
            [
                RedisParameter::Binary(key("log").into_bytes()),
                RedisParameter::Binary(b"ab".to_vec()),
            ],
        )
        .await
        .map_err(e)?;
    lines.push(format!("append={}", shown(&appended)));
    let got = redis
        .execute("get", [RedisParameter::Binary(key("log").into_bytes())])
        .await
        .map_err(e)?;
    lines.push(format!("execute-get={}", shown(&got)));
    let pushed = redis
        .execute(
            "rpush",
            [
                RedisParameter::Binary(key("list").into_bytes()),
                RedisParameter::Int64(7),
                RedisParameter::Binary(b"x".to_vec()),
            ],
        )
        .await
        .map_err(e)?;
    lines.push(format!("rpush={}", shown(&pushed)));
    let range = redis
        .execute(
            "lrange",
            [
                RedisParameter::Binary(key("list").into_bytes()),
                RedisParameter::Int64(0),
                RedisParameter::Int64(-1),
            ],
        )
        .await
        .map_err(e)?;
    lines.push(format!("lrange={}", shown(&range)));
    lines.push(format!(
        "unknown-command={:?}",
        redis.execute("nosuchcommand", []).await.err().is_some()
    ));
    lines.push(format!(
        "del={}",
        redis.del([key("count"), key("missing")]).await.map_err(e)?
    ));
    redis
        .publish(key("channel"), b"published".to_vec())
        .await
        .map_err(e)?;
    lines.push("publish=ok".into());
    Ok(lines.join("\n").replace("Error::", ""))
}

async fn redis_get(address: &str, key: &str) -> Result<String, String> {
    let redis = Connection::open(address)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let value = redis.get(key).await.map_err(|e| format!("{e:?}"))?;
    Ok(value
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or("none".into()))
}

async fn publish(
    address: &str,
    user: &str,
    password: &str,
    topic: &str,
    qos: &str,
    message: &str,
) -> Result<String, String> {
    let qos = match qos {
        "0" => Qos::AtMostOnce,
        "2" => Qos::ExactlyOnce,
        _ => Qos::AtLeastOnce,
    };
    let connection = mqtt::Connection::open(address, user, password, 30)
        .await
        .map_err(|e| format!("{e:?}"))?;
    connection
        .publish(topic, message.as_bytes().to_vec(), qos)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok("published".into())
}
