//! A test guest on a Redis trigger (spin-sdk 7, `spin:redis/inbound-redis@3.0.0`): for each
//! message it appends the payload to the Redis list `<LIST_PREFIX><its own component id>` at
//! `REDIS_ADDRESS` (its environment), so a test reads what ran, how often and in what order.
//! A message `fail` makes the handler return an error instead; `trap` makes it panic.

use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::redis_subscriber;

#[redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    match message.as_slice() {
        b"fail" => anyhow::bail!("told to fail"),
        b"trap" => panic!("told to trap"),
        _ => {}
    }
    let address = std::env::var("REDIS_ADDRESS")?;
    let list = format!("{}v3", std::env::var("LIST_PREFIX")?);
    let redis = Connection::open(address)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    redis
        .execute(
            "rpush",
            [
                RedisParameter::Binary(list.into_bytes()),
                RedisParameter::Binary(message),
            ],
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}
