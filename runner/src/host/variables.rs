//! A component reads its own variables (the manifest's `[component.x.variables]`, rendered
//! from application variables at start-up), through every interface Spin SDKs use:
//! `spin:variables@3.0.0` (async), `fermyon:spin/variables@2.0.0` and the WASI draft
//! `wasi:config/store` (where an unknown name is `none`, not an error).

use super::bindings::fermyon::spin2_0_0::variables as spin2;
use super::bindings::spin::variables::variables::{self as spin3, Error};
use super::bindings::wasi::config::store as wasi_config;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Accessor, HasData};

/// The component's resolved variables.
pub struct VariablesView<'a> {
    pub values: &'a Arc<BTreeMap<String, String>>,
}

/// What a lookup found, in terms every interface can say.
enum Lookup {
    Found(String),
    InvalidName(String),
    Undefined(String),
}

impl VariablesView<'_> {
    fn lookup(&self, name: &str) -> Lookup {
        if let Err(reason) = crate::variables::check_name(name) {
            return Lookup::InvalidName(reason);
        }
        match self.values.get(name) {
            Some(value) => Lookup::Found(value.clone()),
            None => Lookup::Undefined(format!("no variable `{name}` for this component")),
        }
    }
}

pub struct Variables;

impl HasData for Variables {
    type Data<'a> = VariablesView<'a>;
}

impl spin3::Host for VariablesView<'_> {}

impl<U> spin3::HostWithStore<U> for Variables {
    async fn get(
        accessor: &Accessor<U, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Ok(match accessor.with(|mut view| view.get().lookup(&name)) {
            Lookup::Found(value) => Ok(value),
            Lookup::InvalidName(reason) => Err(Error::InvalidName(reason)),
            Lookup::Undefined(reason) => Err(Error::Undefined(reason)),
        })
    }
}

impl spin2::Host for VariablesView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin2::Error>> {
        Ok(match self.lookup(&name) {
            Lookup::Found(value) => Ok(value),
            Lookup::InvalidName(reason) => Err(spin2::Error::InvalidName(reason)),
            Lookup::Undefined(reason) => Err(spin2::Error::Undefined(reason)),
        })
    }
}

impl wasi_config::Host for VariablesView<'_> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, wasi_config::Error>> {
        Ok(Ok(match self.lookup(&key) {
            Lookup::Found(value) => Some(value),
            Lookup::InvalidName(_) | Lookup::Undefined(_) => None,
        }))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, wasi_config::Error>> {
        Ok(Ok(self
            .values
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()))
    }
}
