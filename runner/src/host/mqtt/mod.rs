//! Outbound MQTT for guests (`fermyon:spin/mqtt@2.0.0` for Spin 2 and 3 SDKs, in `spin2`;
//! `spin:mqtt/mqtt@3.0.0` for Spin 4's, in `spin3`): a component may open only brokers its
//! `allowed_outbound_hosts` grants (scheme `mqtt`, default port 1883; anything else is
//! `connection-failed`, as in Spin), with the credentials and keep-alive the guest gives,
//! and publish with QoS 0, 1 or 2.
//!
//! As in Spin, `open` only checks and prepares (the address's `client_id` names the client):
//! the broker is reached on the first `publish`, and each `publish` returns once the broker
//! has what that QoS promises (sent for 0, `PUBACK` for 1, `PUBCOMP` for 2). Publishes on
//! one connection go one at a time, so each waits for its own acknowledgement. A broker
//! that is down, or refuses the credentials, is the guest's `connection-failed`; the next
//! publish connects again.

mod spin2;
mod spin3;

use crate::allowed_hosts::AllowList;
use crate::host::logging::ComponentLog;
use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasData, Resource, ResourceTable};

/// How long a publish waits for the broker (connecting included) before giving up.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests the client may queue before `publish` waits (one is in flight at a time).
const CLIENT_QUEUE: usize = 16;

/// A connection a guest opened, as a guest resource.
pub struct OpenMqtt(Arc<Broker>);

/// One client of one broker: the handle to queue a publish, and the event loop that sends
/// it and reads the acknowledgements (locked by the publish in progress).
struct Broker {
    address: String,
    client: AsyncClient,
    events: tokio::sync::Mutex<EventLoop>,
}

/// Why a call failed, in terms both versions' `error` has.
#[derive(Debug)]
enum Failure {
    InvalidAddress,
    ConnectionFailed(String),
    Other(String),
}

/// Whether `address` is one `allowed` grants for MQTT.
fn is_allowed(allowed: &AllowList, address: &str) -> bool {
    let Ok(url) = url::Url::parse(address) else {
        return false;
    };
    url.scheme() == "mqtt"
        && url
            .host_str()
            .is_some_and(|host| allowed.allows("mqtt", host, Some(url.port().unwrap_or(1883))))
}

/// The client options `address` (`mqtt://host[:port]?client_id=...`) and the guest's
/// credentials and keep-alive give.
fn options(
    address: &str,
    username: String,
    password: String,
    keep_alive_secs: u64,
) -> Result<MqttOptions, Failure> {
    let mut options = MqttOptions::parse_url(address).map_err(|_| Failure::InvalidAddress)?;
    if !username.is_empty() || !password.is_empty() {
        options.set_credentials(username, password);
    }
    // MQTT's keep-alive is a 16-bit count of seconds; 0 turns it off.
    options.set_keep_alive(Duration::from_secs(
        keep_alive_secs.min(u64::from(u16::MAX)),
    ));
    Ok(options)
}

impl Broker {
    /// Publishes and waits for what `qos` promises.
    async fn publish(&self, topic: String, payload: Vec<u8>, qos: QoS) -> Result<(), Failure> {
        let mut events = self.events.lock().await;
        self.client
            .publish(topic, qos, false, payload)
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        let done = async {
            loop {
                let event = events
                    .poll()
                    .await
                    .map_err(|e| Failure::ConnectionFailed(format!("{}: {e}", self.address)))?;
                match (qos, event) {
                    (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                    | (QoS::AtLeastOnce, Event::Incoming(Incoming::PubAck(_)))
                    | (QoS::ExactlyOnce, Event::Incoming(Incoming::PubComp(_))) => return Ok(()),
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, done)
            .await
            .map_err(|_| {
                Failure::ConnectionFailed(format!(
                    "{}: not acknowledged within {PUBLISH_TIMEOUT:?}",
                    self.address
                ))
            })?
    }
}

pub struct MqttView<'a> {
    pub table: &'a mut ResourceTable,
    pub allowed: &'a Arc<AllowList>,
    pub log: &'a ComponentLog,
}

impl MqttView<'_> {
    /// A client for `address` if the component may reach it (nothing connects yet).
    fn open(
        &self,
        address: String,
        username: String,
        password: String,
        keep_alive_secs: u64,
    ) -> Result<OpenMqtt, Failure> {
        if !is_allowed(self.allowed, &address) {
            self.log.warn(format_args!(
                "mqtt connection to {address} denied: not in allowed_outbound_hosts"
            ));
            return Err(Failure::ConnectionFailed(format!(
                "address {address} is not permitted"
            )));
        }
        let options = options(&address, username, password, keep_alive_secs)?;
        let (client, events) = AsyncClient::new(options, CLIENT_QUEUE);
        Ok(OpenMqtt(Arc::new(Broker {
            address,
            client,
            events: tokio::sync::Mutex::new(events),
        })))
    }

    /// Gives the guest a handle to `open`; a full resource table traps.
    fn push(&mut self, open: OpenMqtt) -> wasmtime::Result<Resource<OpenMqtt>> {
        Ok(self.table.push(open)?)
    }

    /// The broker behind a guest's handle (`None`: not a live connection).
    fn broker(&self, handle: &Resource<OpenMqtt>) -> Option<Arc<Broker>> {
        self.table.get(handle).ok().map(|open| open.0.clone())
    }
}

pub struct Mqtt;

impl HasData for Mqtt {
    type Data<'a> = MqttView<'a>;
}

/// Both versions declare the same `error` and `qos`, so bindgen makes two sets of
/// identical Rust types; this writes their conversions and the publish once, in the module
/// that invokes it.
macro_rules! conversions {
    ($interface:path) => {
        use $interface::{Error, Qos};

        impl From<super::Failure> for Error {
            fn from(failure: super::Failure) -> Self {
                match failure {
                    super::Failure::InvalidAddress => Error::InvalidAddress,
                    super::Failure::ConnectionFailed(message) => Error::ConnectionFailed(message),
                    super::Failure::Other(message) => Error::Other(message),
                }
            }
        }

        /// `publish` on a guest's connection (`None`: not a live one), in this version's terms.
        async fn publish(
            broker: Option<std::sync::Arc<super::Broker>>,
            topic: String,
            payload: Vec<u8>,
            qos: Qos,
        ) -> Result<(), Error> {
            let broker = broker.ok_or_else(|| Error::Other("not a live mqtt connection".into()))?;
            let qos = match qos {
                Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
                Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
                Qos::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
            };
            Ok(broker.publish(topic, payload, qos).await?)
        }
    };
}
use conversions;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowed_hosts::AllowedHost;

    #[test]
    fn an_address_needs_an_mqtt_entry_for_its_host_and_port() {
        let allowed = AllowList::new(vec![AllowedHost::parse("mqtt://127.0.0.1:1900").unwrap()]);
        assert!(is_allowed(&allowed, "mqtt://127.0.0.1:1900?client_id=a"));
        assert!(!is_allowed(&allowed, "mqtt://127.0.0.1:1883?client_id=a"));
        assert!(!is_allowed(&allowed, "mqtt://127.0.0.1?client_id=a"));
        assert!(!is_allowed(&allowed, "http://127.0.0.1:1900"));
        let default_port = AllowList::new(vec![AllowedHost::parse("mqtt://broker").unwrap()]);
        assert!(is_allowed(&default_port, "mqtt://broker?client_id=a"));
    }

    #[test]
    fn an_address_without_a_client_id_is_invalid() {
        assert!(matches!(
            options("mqtt://127.0.0.1:1883", String::new(), String::new(), 30),
            Err(Failure::InvalidAddress)
        ));
        assert!(
            options(
                "mqtt://127.0.0.1:1883?client_id=a",
                "u".into(),
                "p".into(),
                u64::MAX
            )
            .is_ok()
        );
    }
}
