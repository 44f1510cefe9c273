//! `spin:variables@3.0.0`: a component reads its own variables (the manifest's
//! `[component.x.variables]`, rendered from application variables at start-up).

use super::bindings::spin::variables::variables::{self, Error};
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Accessor, HasData};

/// The component's resolved variables.
pub struct VariablesView<'a> {
    pub values: &'a Arc<BTreeMap<String, String>>,
}

pub struct Variables;

impl HasData for Variables {
    type Data<'a> = VariablesView<'a>;
}

impl variables::Host for VariablesView<'_> {}

impl<U> variables::HostWithStore<U> for Variables {
    async fn get(
        accessor: &Accessor<U, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        if let Err(reason) = crate::variables::check_name(&name) {
            return Ok(Err(Error::InvalidName(reason)));
        }
        let value = accessor.with(|mut view| view.get().values.get(&name).cloned());
        Ok(value.ok_or(Error::Undefined(format!(
            "no variable `{name}` for this component"
        ))))
    }
}
