//! One message handled: a fresh instance of the component (its capabilities, memory cap and
//! CPU budget, as for an HTTP request), `handle-message` called with the payload, all within
//! the request deadline. How it ended is a `HandlerError` naming the cause.

use super::bindings::{v1, v3};
use crate::component::ComponentConfig;
use crate::host::HostState;
use crate::host::outbound::Dispatch;
use std::fmt;
use std::sync::Weak;
use std::time::Duration;
use wasmtime::component::InstancePre;

/// How a component handles messages: the export it has.
#[derive(Clone)]
pub enum RedisHandlerPre {
    V3(v3::RedisTriggerPre<HostState>),
    V1(v1::RedisTriggerV1Pre<HostState>),
}

impl RedisHandlerPre {
    /// The component's handler, if it exports one.
    pub fn new(pre: &InstancePre<HostState>) -> Option<Self> {
        v3::RedisTriggerPre::new(pre.clone())
            .map(Self::V3)
            .or_else(|_| v1::RedisTriggerV1Pre::new(pre.clone()).map(Self::V1))
            .ok()
    }
}

/// Why handling a message did not end with `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerError {
    /// The guest returned `Err`.
    Guest(String),
    /// The guest trapped, passed its memory or CPU limit, or could not be instantiated.
    Failed(String),
    /// It passed its wall-clock deadline.
    TimedOut(Duration),
}

impl std::error::Error for HandlerError {}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guest(reason) => write!(f, "the handler returned an error: {reason}"),
            Self::Failed(reason) => write!(f, "the handler failed: {reason}"),
            Self::TimedOut(limit) => write!(
                f,
                "the handler did not finish within {limit:?} (--max-request-duration)"
            ),
        }
    }
}

/// Runs `config`'s handler once for `payload`, giving up after `deadline`.
pub async fn handle_message(
    config: &ComponentConfig,
    components: Weak<dyn Dispatch>,
    payload: Vec<u8>,
    deadline: Duration,
) -> Result<(), HandlerError> {
    let Some(handler) = &config.redis_handler else {
        return Err(HandlerError::Failed(
            "the component does not export `handle-message`".into(),
        ));
    };
    let mut store = config.new_store(components);
    let run = async {
        match handler {
            RedisHandlerPre::V3(pre) => {
                let guest = pre.instantiate_async(&mut store).await?;
                let inbound = guest.spin_redis_inbound_redis();
                let answer = store
                    .run_concurrent(async |accessor| {
                        inbound.call_handle_message(accessor, payload).await
                    })
                    .await??;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
            RedisHandlerPre::V1(pre) => {
                let guest = pre.instantiate_async(&mut store).await?;
                let answer = guest
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut store, &payload)
                    .await?;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
        }
    };
    match tokio::time::timeout(deadline, run).await {
        Err(_) => Err(HandlerError::TimedOut(deadline)),
        Ok(Err(trap)) => Err(HandlerError::Failed(
            wasmtime::Error::root_cause(&trap).to_string(),
        )),
        Ok(Ok(Err(reason))) => Err(HandlerError::Guest(reason)),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}
