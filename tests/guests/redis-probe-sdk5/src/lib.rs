//! The spin-sdk 5 twin of `redis-probe` (`fermyon:spin/redis@2.0.0`, `fermyon:spin/mqtt@2.0.0`):
//! the same paths, the same calls, the same answers.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::mqtt::{self, Qos};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

#[path = "../../redis-probe/src/query.rs"]
mod query;

#[http_component]
fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let query = query::Query::parse(request.query());
    let arg = |name: &str| query.get(name);
    let result = match request.path().rsplit('/').next().unwrap_or("") {
        "redis" => redis_calls(&arg("address"), &arg("prefix")),
        "redis-get" => redis_get(&arg("address"), &arg("key")),
        "mqtt" => publish(
            &arg("address"),
            &arg("user"),
            &arg("password"),
            &arg("topic"),
            &arg("qos"),
            &arg("message"),
        ),
        _ => Err("no such path".to_string()),
    };
    let (status, body) = match result {
        Ok(text) => (200, text),
        Err(e) => (500, format!("error: {}", e.replace("Error::", ""))),
    };
    Ok(Response::new(status, body))
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

fn redis_calls(address: &str, prefix: &str) -> Result<String, String> {
    let e = |e: spin_sdk::redis::Error| format!("{e:?}");
    let key = |name: &str| format!("{prefix}{name}");
    let bin = |name: &str| RedisParameter::Binary(key(name).into_bytes());
    let redis = Connection::open(address).map_err(e)?;
    let mut lines = Vec::new();
    redis.set(&key("text"), "héllo".as_bytes()).map_err(e)?;
    let got = redis.get(&key("text")).map_err(e)?;
    lines.push(format!(
        "get={}",
        got.map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or("none".into())
    ));
    lines.push(format!(
        "get-missing={:?}",
        redis.get(&key("missing")).map_err(e)?
    ));
    redis.set(&key("count"), b"41").map_err(e)?;
    lines.push(format!("incr={}", redis.incr(&key("count")).map_err(e)?));
    lines.push(format!("incr-text={:?}", redis.incr(&key("text")).err()));
    lines.push(format!(
        "smembers-text={:?}",
        redis.smembers(&key("text")).err()
    ));
    let abc: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    lines.push(format!(
        "sadd={}",
        redis.sadd(&key("set"), &abc).map_err(e)?
    ));
    let bx: Vec<String> = ["b", "x"].map(String::from).to_vec();
    lines.push(format!("srem={}", redis.srem(&key("set"), &bx).map_err(e)?));
    let mut members = redis.smembers(&key("set")).map_err(e)?;
    members.sort();
    lines.push(format!("smembers={}", members.join(",")));
    let appended = redis
        .execute(
            "append",
            &[bin("log"), RedisParameter::Binary(b"ab".to_vec())],
        )
        .map_err(e)?;
    lines.push(format!("append={}", shown(&appended)));
    let got = redis.execute("get", &[bin("log")]).map_err(e)?;
    lines.push(format!("execute-get={}", shown(&got)));
    let pushed = redis
        .execute(
            "rpush",
            &[
                bin("list"),
                RedisParameter::Int64(7),
                RedisParameter::Binary(b"x".to_vec()),
            ],
        )
        .map_err(e)?;
    lines.push(format!("rpush={}", shown(&pushed)));
    let range = redis
        .execute(
            "lrange",
            &[
                bin("list"),
                RedisParameter::Int64(0),
                RedisParameter::Int64(-1),
            ],
        )
        .map_err(e)?;
    lines.push(format!("lrange={}", shown(&range)));
    lines.push(format!(
        "unknown-command={:?}",
        redis.execute("nosuchcommand", &[]).err().is_some()
    ));
    lines.push(format!(
        "del={}",
        redis.del(&[key("count"), key("missing")]).map_err(e)?
    ));
    redis.publish(&key("channel"), b"published").map_err(e)?;
    lines.push("publish=ok".into());
    Ok(lines.join("\n").replace("Error::", ""))
}

fn redis_get(address: &str, key: &str) -> Result<String, String> {
    let redis = Connection::open(address).map_err(|e| format!("{e:?}"))?;
    let value = redis.get(key).map_err(|e| format!("{e:?}"))?;
    Ok(value
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or("none".into()))
}

fn publish(
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
    let connection =
        mqtt::Connection::open(address, user, password, 30).map_err(|e| format!("{e:?}"))?;
    connection
        .publish(topic, message.as_bytes(), qos)
        .map_err(|e| format!("{e:?}"))?;
    Ok("published".into())
}
