//! `spin:mqtt/mqtt@3.0.0` (Spin 4 SDKs): the same calls as 2.0.0, as `async func`s.

use super::{Mqtt, MqttView, OpenMqtt, conversions};
use crate::host::bindings::spin::mqtt::mqtt::{self, HostConnectionWithStore};
use wasmtime::component::{Accessor, Resource};

conversions!(crate::host::bindings::spin::mqtt::mqtt);

impl mqtt::Host for MqttView<'_> {}

impl mqtt::HostConnection for MqttView<'_> {
    async fn drop(&mut self, handle: Resource<OpenMqtt>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl<U> HostConnectionWithStore<U> for Mqtt {
    async fn open(
        accessor: &Accessor<U, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<OpenMqtt>, Error>> {
        accessor.with(|mut view| {
            let mut view = view.get();
            match view.open(address, username, password, keep_alive_interval_in_secs) {
                Ok(open) => Ok(Ok(view.push(open)?)),
                Err(failure) => Ok(Err(failure.into())),
            }
        })
    }

    async fn publish(
        accessor: &Accessor<U, Self>,
        handle: Resource<OpenMqtt>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let broker = accessor.with(|mut view| view.get().broker(&handle));
        Ok(publish(broker, topic, payload, qos).await)
    }
}
