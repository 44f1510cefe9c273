//! `fermyon:spin/rdbms-types@2.0.0`: the types Spin 2's PostgreSQL and MySQL interfaces share; nothing to call.

use crate::host::bindings::fermyon::spin::rdbms_types;

pub struct RdbmsTypes;

impl wasmtime::component::HasData for RdbmsTypes {
    type Data<'a> = ();
}

impl rdbms_types::Host for () {}
