//! The spin-sdk 5 twin of `redis-listener` (`#[redis_component]`, which exports Spin 1's
//! `fermyon:spin/inbound-redis`): appends each payload to `<LIST_PREFIX>v1` at
//! `REDIS_ADDRESS` with outbound Redis 2.0.0; `fail` returns an error, `trap` panics.

use bytes::Bytes;
use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    match message.as_ref() {
        b"fail" => anyhow::bail!("told to fail"),
        b"trap" => panic!("told to trap"),
        _ => {}
    }
    let address = std::env::var("REDIS_ADDRESS")?;
    let list = format!("{}v1", std::env::var("LIST_PREFIX")?);
    let redis = Connection::open(&address).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    redis
        .execute(
            "rpush",
            &[
                RedisParameter::Binary(list.into_bytes()),
                RedisParameter::Binary(message.to_vec()),
            ],
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}
