//! `fermyon:spin/mqtt@2.0.0` (Spin 2 and 3 SDKs): open a granted broker, publish to it.

use super::{MqttView, OpenMqtt, conversions};
use crate::host::bindings::fermyon::spin::mqtt;
use wasmtime::component::Resource;

conversions!(crate::host::bindings::fermyon::spin::mqtt);

impl mqtt::Host for MqttView<'_> {}

impl mqtt::HostConnection for MqttView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<OpenMqtt>, Error>> {
        match MqttView::open(
            self,
            address,
            username,
            password,
            keep_alive_interval_in_secs,
        ) {
            Ok(open) => Ok(Ok(self.push(open)?)),
            Err(failure) => Ok(Err(failure.into())),
        }
    }

    async fn publish(
        &mut self,
        handle: Resource<OpenMqtt>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(publish(self.broker(&handle), topic, payload, qos).await)
    }

    async fn drop(&mut self, handle: Resource<OpenMqtt>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
