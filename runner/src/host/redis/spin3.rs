//! `spin:redis/redis@3.0.0` (Spin 4 SDKs): the same calls as 2.0.0, as `async func`s, so a
//! guest can have several in flight at once.

use super::{OpenRedis, Redis, conversions};
use crate::host::bindings::spin::redis::redis::{self, HostConnectionWithStore};
use wasmtime::component::{Accessor, Resource};

conversions!(crate::host::bindings::spin::redis::redis);

type Answer<T> = wasmtime::Result<Result<T, Error>>;

fn connection_of<U>(
    accessor: &Accessor<U, Redis>,
    handle: &Resource<OpenRedis>,
) -> Option<OpenRedis> {
    accessor.with(|mut view| view.get().connection(handle))
}

impl redis::Host for super::RedisView<'_> {}

impl redis::HostConnection for super::RedisView<'_> {
    async fn drop(&mut self, handle: Resource<OpenRedis>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl<U> HostConnectionWithStore<U> for Redis {
    async fn open(accessor: &Accessor<U, Self>, address: String) -> Answer<Resource<OpenRedis>> {
        let opener = accessor.with(|mut view| view.get().opener());
        match opener.open(address).await {
            Ok(open) => Ok(Ok(accessor.with(|mut view| view.get().push(open))?)),
            Err(failure) => Ok(Err(failure.into())),
        }
    }

    async fn publish(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        channel: String,
        payload: Vec<u8>,
    ) -> Answer<()> {
        Ok(on_live(connection_of(accessor, &handle), |c| {
            c.publish(channel, payload)
        })
        .await)
    }

    async fn get(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
    ) -> Answer<Option<Vec<u8>>> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.get(key)).await)
    }

    async fn set(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
        value: Vec<u8>,
    ) -> Answer<()> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.set(key, value)).await)
    }

    async fn incr(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
    ) -> Answer<i64> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.incr(key)).await)
    }

    async fn del(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        keys: Vec<String>,
    ) -> Answer<u32> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.del(keys)).await)
    }

    async fn sadd(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.sadd(key, values)).await)
    }

    async fn smembers(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
    ) -> Answer<Vec<String>> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.smembers(key)).await)
    }

    async fn srem(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        key: String,
        values: Vec<String>,
    ) -> Answer<u32> {
        Ok(on_live(connection_of(accessor, &handle), |c| c.srem(key, values)).await)
    }

    async fn execute(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenRedis>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Answer<Vec<RedisResult>> {
        let arguments = arguments.into_iter().map(parameter).collect();
        let replies = on_live(connection_of(accessor, &handle), |c| {
            c.execute(command, arguments)
        })
        .await;
        Ok(replies.map(|replies| replies.into_iter().map(reply).collect()))
    }
}
