//! `fermyon:spin/redis@2.0.0` (Spin 2 and 3 SDKs): open a granted address, then get, set,
//! incr, del, sadd, srem, smembers, publish and execute on it.

use super::{OpenRedis, RedisView, conversions};
use crate::host::bindings::fermyon::spin::redis;
use wasmtime::component::Resource;

conversions!(crate::host::bindings::fermyon::spin::redis);

type Answer<T> = wasmtime::Result<Result<T, Error>>;

impl redis::Host for RedisView<'_> {}

impl redis::HostConnection for RedisView<'_> {
    async fn open(&mut self, address: String) -> Answer<Resource<OpenRedis>> {
        match self.opener().open(address).await {
            Ok(open) => Ok(Ok(self.push(open)?)),
            Err(failure) => Ok(Err(failure.into())),
        }
    }

    async fn publish(
        &mut self,
        handle: Resource<OpenRedis>,
        channel: String,
        payload: Vec<u8>,
    ) -> Answer<()> {
        Ok(on_live(self.connection(&handle), |c| c.publish(channel, payload)).await)
    }

    async fn get(&mut self, handle: Resource<OpenRedis>, key: String) -> Answer<Option<Vec<u8>>> {
        Ok(on_live(self.connection(&handle), |c| c.get(key)).await)
    }

    async fn set(
        &mut self,
        handle: Resource<OpenRedis>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        Ok(on_live(self.connection(&handle), |c| c.set(key, value)).await)
    }

    async fn incr(&mut self, handle: Resource<OpenRedis>, key: String) -> Answer<i64> {
        Ok(on_live(self.connection(&handle), |c| c.incr(key)).await)
    }

    async fn del(&mut self, handle: Resource<OpenRedis>, keys: Vec<String>) -> Answer<u32> {
        Ok(on_live(self.connection(&handle), |c| c.del(keys)).await)
    }

    async fn sadd(
        &mut self,
        handle: Resource<OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        Ok(on_live(self.connection(&handle), |c| c.sadd(key, values)).await)
    }

    async fn smembers(&mut self, handle: Resource<OpenRedis>, key: String) -> Answer<Vec<String>> {
        Ok(on_live(self.connection(&handle), |c| c.smembers(key)).await)
    }

    async fn srem(
        &mut self,
        handle: Resource<OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        Ok(on_live(self.connection(&handle), |c| c.srem(key, values)).await)
    }

    async fn execute(
        &mut self,
        handle: Resource<OpenRedis>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Answer<Vec<RedisResult>> {
        let arguments = arguments.into_iter().map(parameter).collect();
        let replies = on_live(self.connection(&handle), |c| c.execute(command, arguments)).await;
        Ok(replies.map(|replies| replies.into_iter().map(reply).collect()))
    }

    async fn drop(&mut self, handle: Resource<OpenRedis>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
