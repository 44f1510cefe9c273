//! Outbound Redis for guests (`fermyon:spin/redis@2.0.0` for Spin 2 and 3 SDKs, in `spin2`;
//! `spin:redis/redis@3.0.0` for Spin 4's, in `spin3`): what a component may open (only
//! addresses its `allowed_outbound_hosts` grants, scheme `redis` or `rediss`, default port
//! 6379; anything else is `invalid-address`, as in Spin), the connection a guest holds, and
//! the calls, written once here for both versions.
//!
//! Connections are shared per address by every instance of the app: one multiplexed
//! connection carries all their commands (Spin connects afresh on every `open`). `open`
//! pings the shared connection first, so one the server closed (a restart) is replaced
//! before the guest uses it; one that breaks during a command is forgotten, so the next
//! `open` connects afresh, and the guest whose command failed gets the error, never the
//! runner.

mod spin2;
mod spin3;

use crate::allowed_hosts::AllowList;
use crate::host::logging::ComponentLog;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, AsyncConnectionConfig, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// How long `open` waits for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a reply may hold before it is refused instead of handed to the guest.
const MAX_REPLY_BYTES: usize = 128 * 1024 * 1024;

/// The app's connections, one per address, shared by every instance of every component.
#[derive(Default)]
pub struct RedisServers {
    connections: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl RedisServers {
    /// The shared connection to `address`, connecting if there is none yet.
    async fn connect(&self, address: &str) -> Result<MultiplexedConnection, Failure> {
        let cached = self.lock().get(address).cloned();
        if let Some(mut connection) = cached {
            // A connection the server closed (it restarted, or dropped idle clients) fails
            // every command: a ping finds out before the guest's command would.
            let command = redis::cmd("PING");
            let ping = command.query_async::<redis::Value>(&mut connection);
            if let Ok(Ok(_)) = tokio::time::timeout(CONNECT_TIMEOUT, ping).await {
                return Ok(connection);
            }
            self.forget(address);
        }
        let client = redis::Client::open(address).map_err(|_| Failure::InvalidAddress)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| Failure::Other(format!("cannot connect to {address}: {e}")))?;
        self.lock()
            .entry(address.to_string())
            .or_insert(connection.clone());
        Ok(connection)
    }

    /// Drops the shared connection to `address` after it broke, so the next `open` reconnects.
    fn forget(&self, address: &str) {
        self.lock().remove(address);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MultiplexedConnection>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A connection a guest opened, as a guest resource.
pub struct OpenRedis {
    address: String,
    connection: MultiplexedConnection,
    servers: Arc<RedisServers>,
}

/// Why a call failed, in terms both versions' `error` has.
#[derive(Debug)]
enum Failure {
    InvalidAddress,
    TypeError,
    Other(String),
}

/// A parameter of `execute`, the same in both versions.
enum Parameter {
    Int64(i64),
    Binary(Vec<u8>),
}

/// One value of `execute`'s reply, the same in both versions (arrays are flattened).
enum Reply {
    Nil,
    Status(String),
    Int64(i64),
    Binary(Vec<u8>),
}

/// Whether `address` is one `allowed` grants for Redis.
fn is_allowed(allowed: &AllowList, address: &str) -> bool {
    let Ok(url) = url::Url::parse(address) else {
        return false;
    };
    let scheme = url.scheme();
    (scheme == "redis" || scheme == "rediss")
        && url
            .host_str()
            .is_some_and(|host| allowed.allows(scheme, host, Some(url.port().unwrap_or(6379))))
}

impl OpenRedis {
    /// A clone to run one command on without holding the guest's table.
    fn handle(&self) -> Self {
        Self {
            address: self.address.clone(),
            connection: self.connection.clone(),
            servers: self.servers.clone(),
        }
    }

    /// The failure a guest sees for `e`; a broken connection is forgotten for the next `open`.
    fn failure(&self, e: redis::RedisError) -> Failure {
        if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
            self.servers.forget(&self.address);
        }
        // A reply of another type than the call returns, or a key holding another type.
        if e.kind() == redis::ErrorKind::UnexpectedReturnType || e.code() == Some("WRONGTYPE") {
            Failure::TypeError
        } else {
            Failure::Other(e.to_string())
        }
    }

    async fn publish(mut self, channel: String, payload: Vec<u8>) -> Result<(), Failure> {
        let result: redis::RedisResult<()> = self.connection.publish(&channel, payload).await;
        result.map_err(|e| self.failure(e))
    }

    async fn get(mut self, key: String) -> Result<Option<Vec<u8>>, Failure> {
        let value: Option<Vec<u8>> = self
            .connection
            .get(&key)
            .await
            .map_err(|e| self.failure(e))?;
        match value {
            Some(bytes) if bytes.len() > MAX_REPLY_BYTES => Err(too_large()),
            value => Ok(value),
        }
    }

    async fn set(mut self, key: String, value: Vec<u8>) -> Result<(), Failure> {
        let result: redis::RedisResult<()> = self.connection.set(&key, value).await;
        result.map_err(|e| self.failure(e))
    }

    async fn incr(mut self, key: String) -> Result<i64, Failure> {
        let result: redis::RedisResult<i64> = self.connection.incr(&key, 1).await;
        result.map_err(|e| self.failure(e))
    }

    async fn del(mut self, keys: Vec<String>) -> Result<u32, Failure> {
        let result: redis::RedisResult<u32> = self.connection.del(&keys).await;
        result.map_err(|e| self.failure(e))
    }

    async fn sadd(mut self, key: String, values: Vec<String>) -> Result<u32, Failure> {
        let result: redis::RedisResult<u32> = self.connection.sadd(&key, &values).await;
        result.map_err(|e| self.failure(e))
    }

    async fn smembers(mut self, key: String) -> Result<Vec<String>, Failure> {
        let result: redis::RedisResult<Vec<String>> = self.connection.smembers(&key).await;
        result.map_err(|e| self.failure(e))
    }

    async fn srem(mut self, key: String, values: Vec<String>) -> Result<u32, Failure> {
        let result: redis::RedisResult<u32> = self.connection.srem(&key, &values).await;
        result.map_err(|e| self.failure(e))
    }

    async fn execute(
        mut self,
        command: String,
        parameters: Vec<Parameter>,
    ) -> Result<Vec<Reply>, Failure> {
        let mut cmd = redis::cmd(&command);
        for parameter in parameters {
            match parameter {
                Parameter::Int64(i) => cmd.arg(i),
                Parameter::Binary(bytes) => cmd.arg(bytes),
            };
        }
        let value: Value = cmd
            .query_async(&mut self.connection)
            .await
            .map_err(|e| self.failure(e))?;
        let mut replies = Vec::new();
        let mut size = 0;
        flatten(value, &mut replies, &mut size)?;
        Ok(replies)
    }
}

fn too_large() -> Failure {
    Failure::Other(format!(
        "the reply is larger than the {MAX_REPLY_BYTES}-byte limit"
    ))
}

/// `value` as the flat list of results Spin's `execute` returns; `size` counts the bytes
/// handed over so far, against `MAX_REPLY_BYTES`.
fn flatten(value: Value, replies: &mut Vec<Reply>, size: &mut usize) -> Result<(), Failure> {
    let unsupported = |what: &str| Failure::Other(format!("a Redis {what} reply is not supported"));
    let reply = match value {
        Value::Nil => Reply::Nil,
        Value::Int(i) => Reply::Int64(i),
        Value::Boolean(b) => Reply::Int64(i64::from(b)),
        Value::Okay => Reply::Status("OK".into()),
        Value::SimpleString(s) => Reply::Status(s),
        Value::BulkString(bytes) => Reply::Binary(bytes),
        Value::Double(d) => Reply::Binary(d.to_string().into_bytes()),
        Value::BigNumber(digits) => Reply::Binary(digits),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(value, replies, size)?;
            }
            return Ok(());
        }
        Value::ServerError(e) => return Err(Failure::Other(format!("{e:?}"))),
        Value::Map(_) => return Err(unsupported("map")),
        Value::Attribute { .. } => return Err(unsupported("attribute")),
        Value::VerbatimString { .. } => return Err(unsupported("verbatim string")),
        Value::Push { .. } => return Err(unsupported("push")),
        _ => return Err(unsupported("new kind of")),
    };
    *size += match &reply {
        Reply::Binary(bytes) => bytes.len(),
        Reply::Status(s) => s.len(),
        Reply::Nil | Reply::Int64(_) => 0,
    } + std::mem::size_of::<Reply>();
    if *size > MAX_REPLY_BYTES {
        return Err(too_large());
    }
    replies.push(reply);
    Ok(())
}

pub struct RedisView<'a> {
    pub table: &'a mut ResourceTable,
    pub allowed: &'a Arc<AllowList>,
    pub log: &'a ComponentLog,
    pub servers: &'a Arc<RedisServers>,
}

/// What `open` needs, taken out of the instance's state so the connecting can be awaited
/// without holding it.
struct Opener {
    allowed: Arc<AllowList>,
    log: ComponentLog,
    servers: Arc<RedisServers>,
}

impl Opener {
    async fn open(self, address: String) -> Result<OpenRedis, Failure> {
        if !is_allowed(&self.allowed, &address) {
            self.log.warn(format_args!(
                "redis connection to {address} denied: not in allowed_outbound_hosts"
            ));
            return Err(Failure::InvalidAddress);
        }
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, self.servers.connect(&address))
            .await
            .map_err(|_| {
                Failure::Other(format!(
                    "cannot connect to {address}: no answer within {CONNECT_TIMEOUT:?}"
                ))
            })??;
        Ok(OpenRedis {
            address,
            connection,
            servers: self.servers,
        })
    }
}

impl RedisView<'_> {
    fn opener(&self) -> Opener {
        Opener {
            allowed: self.allowed.clone(),
            log: self.log.clone(),
            servers: self.servers.clone(),
        }
    }

    /// The connection behind a guest's handle (`None`: not a live connection).
    fn connection(&self, handle: &Resource<OpenRedis>) -> Option<OpenRedis> {
        self.table.get(handle).ok().map(OpenRedis::handle)
    }

    /// Gives the guest a handle to `open`; a full resource table traps.
    fn push(&mut self, open: OpenRedis) -> wasmtime::Result<Resource<OpenRedis>> {
        Ok(self.table.push(open)?)
    }
}

pub struct Redis;

impl HasData for Redis {
    type Data<'a> = RedisView<'a>;
}

/// Both versions declare the same `error`, `redis-parameter` and `redis-result`, so bindgen
/// makes two sets of identical Rust types; this writes their conversions once:
/// `From<Failure> for Error`, `parameter` and `reply`, in the module that invokes it.
macro_rules! conversions {
    ($interface:path) => {
        use $interface::{Error, RedisParameter, RedisResult};

        impl From<super::Failure> for Error {
            fn from(failure: super::Failure) -> Self {
                match failure {
                    super::Failure::InvalidAddress => Error::InvalidAddress,
                    super::Failure::TypeError => Error::TypeError,
                    super::Failure::Other(message) => Error::Other(message),
                }
            }
        }

        fn parameter(parameter: RedisParameter) -> super::Parameter {
            match parameter {
                RedisParameter::Int64(i) => super::Parameter::Int64(i),
                RedisParameter::Binary(bytes) => super::Parameter::Binary(bytes),
            }
        }

        fn reply(reply: super::Reply) -> RedisResult {
            match reply {
                super::Reply::Nil => RedisResult::Nil,
                super::Reply::Status(s) => RedisResult::Status(s),
                super::Reply::Int64(i) => RedisResult::Int64(i),
                super::Reply::Binary(bytes) => RedisResult::Binary(bytes),
            }
        }

        /// Runs `call` on the live connection behind a handle (`None`: a stale handle, which
        /// gets an error), in this version's error.
        async fn on_live<T, F>(
            connection: Option<super::OpenRedis>,
            call: impl FnOnce(super::OpenRedis) -> F,
        ) -> Result<T, Error>
        where
            F: std::future::Future<Output = Result<T, super::Failure>>,
        {
            let connection =
                connection.ok_or_else(|| Error::Other("not a live redis connection".into()))?;
            call(connection).await.map_err(Error::from)
        }
    };
}
use conversions;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowed_hosts::AllowedHost;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::new(
            entries
                .iter()
                .map(|e| AllowedHost::parse(e).unwrap())
                .collect(),
        )
    }

    #[test]
    fn an_address_needs_a_redis_entry_for_its_host_and_port() {
        let allowed = allow(&["redis://127.0.0.1:6400", "redis://cache.example.com"]);
        assert!(is_allowed(&allowed, "redis://127.0.0.1:6400"));
        assert!(is_allowed(&allowed, "redis://cache.example.com"));
        assert!(is_allowed(&allowed, "redis://cache.example.com:6379/2"));
        assert!(!is_allowed(&allowed, "redis://127.0.0.1:6401"));
        assert!(!is_allowed(&allowed, "redis://cache.example.com:6380"));
        assert!(!is_allowed(&allowed, "rediss://127.0.0.1:6400"));
        assert!(!is_allowed(&allowed, "redis+unix:///tmp/redis.sock"));
        assert!(!is_allowed(&allowed, "not a url"));
    }

    #[test]
    fn execute_replies_flatten_as_spin_returns_them() {
        let value = Value::Array(vec![
            Value::Int(3),
            Value::Nil,
            Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Okay]),
            Value::Boolean(true),
        ]);
        let mut replies = Vec::new();
        flatten(value, &mut replies, &mut 0).unwrap();
        let shown: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Nil => "nil".to_string(),
                Reply::Status(s) => format!("status {s}"),
                Reply::Int64(i) => format!("int {i}"),
                Reply::Binary(b) => format!("binary {}", String::from_utf8_lossy(b)),
            })
            .collect();
        assert_eq!(shown, ["int 3", "nil", "binary x", "status OK", "int 1"]);
        assert!(matches!(
            flatten(Value::Map(vec![]), &mut Vec::new(), &mut 0),
            Err(Failure::Other(_))
        ));
    }
}
