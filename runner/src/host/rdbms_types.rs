//! `fermyon:spin/rdbms-types@2.0.0`: the types Spin 2's PostgreSQL and MySQL interfaces share; nothing to call.

pub struct RdbmsTypes;

impl wasmtime::component::HasData for RdbmsTypes {
    type Data<'a> = ();
}

impl crate::host::bindings::fermyon::spin2_0_0::rdbms_types::Host for () {}
