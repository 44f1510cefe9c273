//! The Redis trigger, as Spin runs it (`[[trigger.redis]]`: a channel on a server, and a
//! component exporting `handle-message`): every message published on the channel runs the
//! component once, in a fresh instance, with the message's payload.
//!
//! - `bindings`: the two exports a handler may have (Spin 4's and Spin 1's).
//! - `handler`: one message handled, with the limits of an HTTP request.
//! - here: the subscriptions the manifest resolves to, and one subscriber per server: it
//!   subscribes to its channels and hands each message to the channel's components (all of
//!   them at once, messages one after another, in the order Redis delivers them, as Spin
//!   does). A failing handler is logged and the subscription goes on. Unlike Spin, which
//!   exits when its connection drops, a subscriber whose server is unreachable or goes away
//!   keeps trying (with a growing pause, up to `MAX_RETRY_PAUSE`) and subscribes again when it
//!   is back; messages published meanwhile are lost, as Redis pub/sub does not keep them.
//!   Several runners subscribed to one server each get every message (pub/sub fans out), so
//!   each runs the component for it, as each replica of a Spin app does.

pub mod bindings;
mod handler;

pub use handler::{HandlerError, RedisHandlerPre, handle_message};

use crate::config_error::ConfigError;
use crate::instances::Components;
use crate::manifest::Manifest;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The longest pause between attempts to reach a server.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How long connecting and subscribing may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[trigger.redis]]`, its templates resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub address: String,
    pub channel: String,
    pub component: String,
}

/// The manifest's Redis triggers with the app's variable `values` filled in.
pub fn subscriptions(
    manifest: &Manifest,
    values: &BTreeMap<String, String>,
) -> Result<Vec<Subscription>, ConfigError> {
    manifest
        .redis_triggers
        .iter()
        .map(|trigger| {
            let render = |field: &str, template: &crate::variables::Template| {
                template
                    .render(values)
                    .map_err(|reason| manifest.error(format!("{}.{field}", trigger.key), reason))
            };
            let address = render("address", &trigger.address)?;
            if redis::parse_redis_url(&address).is_none() {
                return Err(manifest.error(
                    format!("{}.address", trigger.key),
                    format!("`{address}` is not a Redis URL (redis://host:port)"),
                ));
            }
            Ok(Subscription {
                address,
                channel: render("channel", &trigger.channel)?,
                component: trigger.component.clone(),
            })
        })
        .collect()
}

/// The running subscribers, one per server.
pub struct RedisTriggers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Channel -> the components it runs.
type Channels = BTreeMap<String, Vec<String>>;

impl RedisTriggers {
    /// Starts a subscriber for each server `subscriptions` name.
    pub fn start(subscriptions: &[Subscription], components: Arc<Components>) -> Self {
        let mut servers: BTreeMap<String, Channels> = BTreeMap::new();
        for s in subscriptions {
            servers
                .entry(s.address.clone())
                .or_default()
                .entry(s.channel.clone())
                .or_default()
                .push(s.component.clone());
        }
        let (stop, stopped) = watch::channel(false);
        let tasks = servers
            .into_iter()
            .map(|(address, channels)| {
                let subscriber = Subscriber {
                    address,
                    channels,
                    components: components.clone(),
                };
                tokio::spawn(subscriber.run(stopped.clone()))
            })
            .collect();
        Self { stop, tasks }
    }

    /// Stops subscribing; waits for the messages being handled.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Subscriber {
    address: String,
    channels: Channels,
    components: Arc<Components>,
}

/// How a subscription ended.
enum Ended {
    Stopped,
    /// The connection failed, or was lost after `subscribed`.
    Lost {
        subscribed: bool,
        reason: String,
    },
}

impl Subscriber {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.listen(&mut stopped).await {
                Ended::Stopped => return,
                Ended::Lost { subscribed, reason } => {
                    if subscribed {
                        pause = Duration::from_millis(100);
                    }
                    tracing::warn!(
                        "redis trigger: {}: {reason}; trying again in {pause:?}",
                        self.address
                    );
                }
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            pause = (pause * 2).min(MAX_RETRY_PAUSE);
        }
    }

    /// Connects, subscribes, and handles messages until the connection ends or `stopped`.
    async fn listen(&self, stopped: &mut watch::Receiver<bool>) -> Ended {
        let lost = |subscribed: bool, reason: String| Ended::Lost { subscribed, reason };
        let subscribe = async {
            let client = redis::Client::open(self.address.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            for channel in self.channels.keys() {
                pubsub.subscribe(channel).await?;
            }
            redis::RedisResult::Ok(pubsub)
        };
        let mut pubsub = tokio::select! {
            result = tokio::time::timeout(CONNECT_TIMEOUT, subscribe) => match result {
                Err(_) => return lost(false, format!("no answer within {CONNECT_TIMEOUT:?}")),
                Ok(Err(e)) => return lost(false, format!("cannot subscribe: {e}")),
                Ok(Ok(pubsub)) => pubsub,
            },
            _ = stopped.wait_for(|stop| *stop) => return Ended::Stopped,
        };
        for (channel, components) in &self.channels {
            tracing::info!(
                "redis trigger: subscribed to `{channel}` on {} for {}",
                self.address,
                components.join(", ")
            );
        }
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                _ = stopped.wait_for(|stop| *stop) => return Ended::Stopped,
            };
            let Some(message) = message else {
                return lost(true, "the connection closed".into());
            };
            self.dispatch(message.get_channel_name(), message.get_payload_bytes())
                .await;
        }
    }

    /// Runs every component on `channel` for one message, all at once, and waits for them.
    async fn dispatch(&self, channel: &str, payload: &[u8]) {
        let Some(components) = self.channels.get(channel) else {
            tracing::warn!("redis trigger: a message on `{channel}`, which nothing subscribed to");
            return;
        };
        let runs = components.iter().map(|component| async move {
            let Some(config) = self.components.config(component) else {
                return;
            };
            let _busy = self.components.in_flight().enter();
            let deadline = config.limits.max_request_duration;
            let started = std::time::Instant::now();
            match handle_message(
                config,
                self.components.dispatcher(),
                payload.to_vec(),
                deadline,
            )
            .await
            {
                Ok(()) => tracing::debug!(
                    component = component.as_str(),
                    "redis message on `{channel}` handled in {:?}",
                    started.elapsed()
                ),
                Err(e) => config.log.error(format_args!(
                    "redis message on `{channel}` from {}: {e}",
                    self.address
                )),
            }
        });
        futures::future::join_all(runs).await;
    }
}
