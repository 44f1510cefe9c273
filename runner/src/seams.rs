//! What a test may put in place of the world around an app (`runner::testing`): the clock
//! guests read and sleep on, the network their outbound HTTP reaches, and a capture of their
//! output. An app served for real has none of them (`Seams::default()`), and its requests
//! take exactly the paths they took before these seams existed. Each seam enters where
//! production's own mechanism sits: the clock in the guest's WASI context and clock imports,
//! the network behind the allow-list in outbound HTTP, the capture in the component's log.

use crate::clock::VirtualClock;
use crate::host::logging::Capture;
use crate::host::outbound::Network;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Seams {
    /// Guests' clocks and timers run on this instead of real time.
    pub clock: Option<Arc<VirtualClock>>,
    /// Outbound HTTP (other than `*.spin.internal`) goes here instead of the real network.
    pub network: Option<Arc<dyn Network>>,
    /// Every line of component output is kept here too.
    pub capture: Option<Arc<Capture>>,
    /// Key-value stores and SQLite databases without a runtime-config entry live in memory,
    /// private to the app (a SQLite database in memory is then shared by every `open` of it,
    /// where a served app's is fresh at each).
    pub private_state: bool,
}
