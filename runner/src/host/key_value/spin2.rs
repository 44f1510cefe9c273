//! `fermyon:spin/key-value@2.0.0`: Spin 2 and 3 SDKs' key-value interface (plain functions,
//! run as async host calls on the guest's fiber).

use super::{KeyValueView, KvFailure, OpenStore};
use crate::host::bindings::fermyon::spin2_0_0::key_value as spin2_kv;
use crate::kv::KvError;
use wasmtime::component::Resource;

impl From<KvError> for spin2_kv::Error {
    fn from(e: KvError) -> Self {
        match e {
            KvError::NoSuchStore => Self::NoSuchStore,
            KvError::AccessDenied => Self::AccessDenied,
            KvError::Other(m) => Self::Other(m),
        }
    }
}

impl spin2_kv::Host for KeyValueView<'_> {
    fn convert_error(&mut self, e: KvFailure) -> wasmtime::Result<spin2_kv::Error> {
        e.for_guest()
    }
}

impl spin2_kv::HostStore for KeyValueView<'_> {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, KvFailure> {
        KeyValueView::open(self, &label)
    }

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

    async fn get_keys(&mut self, handle: Resource<OpenStore>) -> Result<Vec<String>, KvFailure> {
        Ok(self.store(&handle)?.get_keys().await?)
    }

    fn drop(&mut self, handle: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
