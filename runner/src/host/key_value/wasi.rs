//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch): plain functions in WIT, run as async
//! host calls on the guest's fiber. `increment` is what the app's counters use.

use super::{Cas, CasFailure, KeyValueView, KvFailure, OpenStore};
use crate::host::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use crate::kv::KvError;
use wasmtime::component::Resource;

impl From<KvError> for wasi_store::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => Self::NoSuchStore,
            KvError::AccessDenied => Self::AccessDenied,
            KvError::Other(m) => Self::Other(m),
        }
    }
}

impl wasi_store::Host for KeyValueView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<OpenStore>, KvFailure> {
        KeyValueView::open(self, &identifier)
    }

    fn convert_error(&mut self, e: KvFailure) -> wasmtime::Result<wasi_store::Error> {
        e.for_guest()
    }
}

impl wasi_store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvFailure> {
        Ok(self.store(&handle)?.get(&key).await?)
    }

    async fn set(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvFailure> {
        Ok(self.store(&handle)?.set(&key, &value).await?)
    }

    async fn delete(&mut self, handle: Resource<OpenStore>, key: String) -> Result<(), KvFailure> {
        Ok(self.store(&handle)?.delete(&key).await?)
    }

    async fn exists(
        &mut self,
        handle: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, KvFailure> {
        Ok(self.store(&handle)?.exists(&key).await?)
    }

    async fn list_keys(
        &mut self,
        handle: Resource<OpenStore>,
        cursor: Option<String>,
    ) -> Result<wasi_store::KeyResponse, KvFailure> {
        if cursor.is_some() {
            return Err(KvError::Other("list-keys: cursors are not supported".into()).into());
        }
        let keys = self.store(&handle)?.get_keys().await?;
        Ok(wasi_store::KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
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
    ) -> Result<i64, KvFailure> {
        Ok(self.store(&handle)?.increment(&key, delta).await?)
    }

    async fn swap(&mut self, handle: Resource<Cas>, value: Vec<u8>) -> Result<(), CasFailure> {
        let cas = self.table.delete(handle)?;
        let expected = match &cas.seen {
            Some(seen) => seen.clone(),
            None => cas.store.get(&cas.key).await?,
        };
        let swapped = cas
            .store
            .compare_and_swap(&cas.key, expected.as_deref(), &value)
            .await?;
        if swapped {
            Ok(())
        } else {
            Err(CasFailure::Changed(Cas { seen: None, ..cas }))
        }
    }

    fn convert_cas_error(&mut self, e: CasFailure) -> wasmtime::Result<atomics::CasError> {
        Ok(match e {
            CasFailure::Changed(retry) => atomics::CasError::CasFailed(self.table.push(retry)?),
            CasFailure::Failed(failure) => atomics::CasError::StoreError(failure.for_guest()?),
        })
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Resource<Cas>, KvFailure> {
        let store = self.store(&bucket)?;
        let seen = Some(store.get(&key).await?);
        Ok(self.table.push(Cas { store, key, seen })?)
    }

    async fn current(&mut self, handle: Resource<Cas>) -> Result<Option<Vec<u8>>, KvFailure> {
        let cas = self.table.get_mut(&handle)?;
        if let Some(seen) = &cas.seen {
            return Ok(seen.clone());
        }
        let value = cas.store.get(&cas.key).await?;
        cas.seen = Some(value.clone());
        Ok(value)
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
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvFailure> {
        let store = self.store(&handle)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = store.get(&key).await?;
            out.push((key, value));
        }
        Ok(out)
    }

    async fn set_many(
        &mut self,
        handle: Resource<OpenStore>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvFailure> {
        let store = self.store(&handle)?;
        for (key, value) in entries {
            store.set(&key, &value).await?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        handle: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<(), KvFailure> {
        let store = self.store(&handle)?;
        for key in keys {
            store.delete(&key).await?;
        }
        Ok(())
    }
}
