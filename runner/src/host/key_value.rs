//! `spin:key-value@3.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch), both over
//! the backends in `kv`. A component may open only the labels its manifest grants
//! (`key_value_stores`); anything else is `access-denied`, as in Spin.

use super::bindings::spin::key_value::key_value as spin_kv;
use super::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use crate::kv::{KvError, Store, Stores};
use std::collections::HashSet;
use std::sync::Arc;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

/// What one component may open.
pub struct KeyValueCtx {
    pub granted: HashSet<String>,
    pub stores: Stores,
}

impl KeyValueCtx {
    fn open(&self, label: &str) -> Result<Arc<dyn Store>, KvError> {
        if !self.granted.contains(label) {
            return Err(KvError::AccessDenied);
        }
        self.stores.get(label).ok_or(KvError::NoSuchStore)
    }
}

/// An open store, as a guest resource (`store` in spin:key-value, `bucket` in wasi:keyvalue).
pub struct OpenStore(Arc<dyn Store>);

/// A compare-and-swap in progress: the value seen by `current`, swapped only if unchanged.
pub struct Cas {
    store: Arc<dyn Store>,
    key: String,
    seen: Option<Option<Vec<u8>>>,
}

pub struct KeyValueView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a KeyValueCtx,
}

pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}

fn spin_error(e: KvError) -> spin_kv::Error {
    match e {
        KvError::NoSuchStore => spin_kv::Error::NoSuchStore,
        KvError::AccessDenied => spin_kv::Error::AccessDenied,
        KvError::Other(m) => spin_kv::Error::Other(m),
    }
}

fn wasi_error(e: KvError) -> wasi_store::Error {
    match e {
        KvError::NoSuchStore => wasi_store::Error::NoSuchStore,
        KvError::AccessDenied => wasi_store::Error::AccessDenied,
        KvError::Other(m) => wasi_store::Error::Other(m),
    }
}

/// Looks up the backend behind a guest's store handle.
fn backend<U>(
    accessor: &Accessor<U, KeyValue>,
    handle: &Resource<OpenStore>,
) -> wasmtime::Result<Arc<dyn Store>> {
    accessor.with(|mut view| Ok(view.get().table.get(handle)?.0.clone()))
}

impl spin_kv::Host for KeyValueView<'_> {}

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
    ) -> wasmtime::Result<Result<Resource<OpenStore>, spin_kv::Error>> {
        accessor.with(|mut view| {
            let view = view.get();
            match view.ctx.open(&label) {
                Ok(store) => Ok(Ok(view.table.push(OpenStore(store))?)),
                Err(e) => Ok(Err(spin_error(e))),
            }
        })
    }

    async fn get(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(backend(accessor, &handle)?
            .get(&key)
            .await
            .map_err(spin_error))
    }

    async fn set(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(backend(accessor, &handle)?
            .set(&key, &value)
            .await
            .map_err(spin_error))
    }

    async fn delete(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(backend(accessor, &handle)?
            .delete(&key)
            .await
            .map_err(spin_error))
    }

    async fn exists(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(backend(accessor, &handle)?
            .exists(&key)
            .await
            .map_err(spin_error))
    }

    async fn get_keys(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenStore>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), spin_kv::Error>>,
    )> {
        let (keys, result) = match backend(accessor, &handle)?.get_keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(spin_error(e))),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let done =
                FutureReader::new(&mut access, async move { Ok::<_, wasmtime::Error>(result) })?;
            Ok((stream, done))
        })
    }
}

impl KeyValueView<'_> {
    fn bucket(&self, handle: &Resource<OpenStore>) -> Result<Arc<dyn Store>, wasi_store::Error> {
        self.table
            .get(handle)
            .map(|open| open.0.clone())
            .map_err(|e| wasi_store::Error::Other(format!("invalid bucket: {e}")))
    }
}

impl wasi_store::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, wasi_store::Error>> {
        match self.ctx.open(&identifier) {
            Ok(store) => Ok(Ok(self.table.push(OpenStore(store))?)),
            Err(e) => Ok(Err(wasi_error(e))),
        }
    }
}

impl wasi_store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let store = self.bucket(&handle);
        Ok(async move { store?.get(&key).await.map_err(wasi_error) }.await)
    }

    async fn set(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&handle);
        Ok(async move { store?.set(&key, &value).await.map_err(wasi_error) }.await)
    }

    async fn delete(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&handle);
        Ok(async move { store?.delete(&key).await.map_err(wasi_error) }.await)
    }

    async fn exists(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let store = self.bucket(&handle);
        Ok(async move { store?.exists(&key).await.map_err(wasi_error) }.await)
    }

    async fn list_keys(
        &mut self,
        handle: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "list-keys: cursors are not supported".into(),
            )));
        }
        let store = self.bucket(&handle);
        Ok(async move {
            store?
                .get_keys()
                .await
                .map(|keys| wasi_store::KeyResponse { keys, cursor: None })
                .map_err(wasi_error)
        }
        .await)
    }

    async fn drop(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let store = self.bucket(&handle);
        Ok(async move { store?.increment(&key, delta).await.map_err(wasi_error) }.await)
    }

    async fn swap(
        &mut self,
        handle: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(handle)?;
        let expected = match &cas.seen {
            Some(seen) => seen.clone(),
            None => match cas.store.get(&cas.key).await {
                Ok(v) => v,
                Err(e) => return Ok(Err(atomics::CasError::StoreError(wasi_error(e)))),
            },
        };
        match cas
            .store
            .compare_and_swap(&cas.key, expected.as_deref(), &value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let retry = self.table.push(Cas { seen: None, ..cas })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_error(e)))),
        }
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_store::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(e) => return Ok(Err(e)),
        };
        let seen = match store.get(&key).await {
            Ok(v) => v,
            Err(e) => return Ok(Err(wasi_error(e))),
        };
        Ok(Ok(self.table.push(Cas {
            store,
            key,
            seen: Some(seen),
        })?))
    }

    async fn current(
        &mut self,
        handle: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let cas = self.table.get_mut(&handle)?;
        match &cas.seen {
            Some(seen) => Ok(Ok(seen.clone())),
            None => {
                let value = cas.store.get(&cas.key).await;
                if let Ok(v) = &value {
                    cas.seen = Some(v.clone());
                }
                Ok(value.map_err(wasi_error))
            }
        }
    }

    async fn drop(&mut self, handle: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        handle: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let store = match self.bucket(&handle) {
            Ok(store) => store,
            Err(e) => return Ok(Err(e)),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match store.get(&key).await {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(wasi_error(e))),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        handle: Resource<OpenStore>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = match self.bucket(&handle) {
            Ok(store) => store,
            Err(e) => return Ok(Err(e)),
        };
        for (key, value) in entries {
            if let Err(e) = store.set(&key, &value).await {
                return Ok(Err(wasi_error(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(
        &mut self,
        handle: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = match self.bucket(&handle) {
            Ok(store) => store,
            Err(e) => return Ok(Err(e)),
        };
        for key in keys {
            if let Err(e) = store.delete(&key).await {
                return Ok(Err(wasi_error(e)));
            }
        }
        Ok(Ok(()))
    }
}
