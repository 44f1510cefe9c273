//! `spin:key-value@3.0.0`: Spin's own key-value interface, all `async func`s (store-aware
//! host functions).

use super::{KeyValue, KeyValueView, KvFailure, OpenStore};
use crate::host::bindings::spin::key_value::key_value as spin_kv;
use crate::kv::{KvError, Store};
use std::sync::Arc;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

impl From<KvError> for spin_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => Self::NoSuchStore,
            KvError::AccessDenied => Self::AccessDenied,
            KvError::Other(m) => Self::Other(m),
        }
    }
}

/// The backend behind a guest's store handle, from a store-aware (async) host function.
fn backend<U>(
    accessor: &Accessor<U, KeyValue>,
    handle: &Resource<OpenStore>,
) -> Result<Arc<dyn Store>, KvFailure> {
    accessor.with(|mut view| view.get().store(handle))
}

impl spin_kv::Host for KeyValueView<'_> {
    fn convert_error(&mut self, e: KvFailure) -> wasmtime::Result<spin_kv::Error> {
        e.for_guest()
    }
}

impl spin_kv::HostStore for KeyValueView<'_> {
    fn drop(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl<U> spin_kv::HostStoreWithStore<U> for KeyValue {
    async fn open(
        accessor: &Accessor<U, Self>,
        label: String,
    ) -> Result<Resource<OpenStore>, KvFailure> {
        accessor.with(|mut view| view.get().open(&label))
    }

    async fn get(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvFailure> {
        Ok(backend(accessor, &handle)?.get(&key).await?)
    }

    async fn set(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvFailure> {
        Ok(backend(accessor, &handle)?.set(&key, &value).await?)
    }

    async fn delete(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> Result<(), KvFailure> {
        Ok(backend(accessor, &handle)?.delete(&key).await?)
    }

    async fn exists(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, KvFailure> {
        Ok(backend(accessor, &handle)?.exists(&key).await?)
    }

    async fn get_keys(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), spin_kv::Error>>,
    )> {
        let store = accessor.with(|mut view| view.get().table.get(&handle).map(|s| s.0.clone()))?;
        let (keys, result) = match store.get_keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(spin_kv::Error::from(e))),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let done =
                FutureReader::new(&mut access, async move { Ok::<_, wasmtime::Error>(result) })?;
            Ok((stream, done))
        })
    }
}
