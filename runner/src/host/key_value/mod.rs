//! Key-value for guests, over the backends in `kv`: what a component may open (only the
//! labels its manifest grants in `key_value_stores`; anything else is `access-denied`, as in
//! Spin), the resources guests hold, and how a failed call reaches the guest. One module per
//! interface sits beside this one: `spin` (`spin:key-value@3.0.0`), `spin2`
//! (`fermyon:spin/key-value@2.0.0`) and `wasi` (`wasi:keyvalue@0.2.0-draft2` store, atomics,
//! batch).
//!
//! Every call that can fail returns `KvFailure`: a `KvError` the guest sees as its
//! interface's `error`, or a trap (a bad handle). The generated bindings convert it
//! (`convert_error`), so host functions are plain `?` chains.

mod spin;
mod spin2;
mod wasi;

use crate::kv::traced::Traced;
use crate::kv::{KvError, Store, Stores};
use crate::request_trace::RequestTrace;
use std::collections::HashSet;
use std::sync::Arc;
use wasmtime::component::{HasData, Resource, ResourceTable, ResourceTableError};

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
    /// The value `current` saw (`Some(None)`: absent); `None` until it has looked.
    seen: Option<Option<Vec<u8>>>,
}

/// A failed key-value call: an error for the guest, or a trap.
#[derive(Debug)]
pub enum KvFailure {
    Store(KvError),
    Trap(wasmtime::Error),
}

impl From<KvError> for KvFailure {
    fn from(e: KvError) -> Self {
        Self::Store(e)
    }
}

impl From<ResourceTableError> for KvFailure {
    fn from(e: ResourceTableError) -> Self {
        Self::Trap(e.into())
    }
}

impl From<wasmtime::Error> for KvFailure {
    fn from(e: wasmtime::Error) -> Self {
        Self::Trap(e)
    }
}

impl KvFailure {
    /// The guest's view of the failure, through its interface's `From<KvError>`.
    pub(super) fn for_guest<E: From<KvError>>(self) -> wasmtime::Result<E> {
        match self {
            Self::Store(e) => Ok(e.into()),
            Self::Trap(e) => Err(e),
        }
    }
}

/// A failed `swap`: the value changed (the guest may retry with the same `cas`), or a failure.
pub enum CasFailure {
    Changed(Cas),
    Failed(KvFailure),
}

impl<E: Into<KvFailure>> From<E> for CasFailure {
    fn from(e: E) -> Self {
        Self::Failed(e.into())
    }
}

pub struct KeyValueView<'a> {
    pub table: &'a mut ResourceTable,
    pub ctx: &'a KeyValueCtx,
    pub trace: &'a RequestTrace,
}

impl KeyValueView<'_> {
    /// Opens a granted store for the guest; with telemetry on, its calls are spans of the
    /// request that opened it.
    pub(super) fn open(&mut self, label: &str) -> Result<Resource<OpenStore>, KvFailure> {
        let mut store = self.ctx.open(label)?;
        if crate::telemetry::enabled() {
            store = Arc::new(Traced::new(store, label, self.trace.clone()));
        }
        Ok(self.table.push(OpenStore(store))?)
    }

    /// The backend behind a guest's store handle.
    pub(super) fn store(&self, handle: &Resource<OpenStore>) -> Result<Arc<dyn Store>, KvFailure> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KeyValueView<'a>;
}
