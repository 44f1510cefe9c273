//! Guest clocks on a `VirtualClock` (apps under `runner::testing`): the wall and monotonic
//! readings come from it (`WasiCtxBuilder`'s clock hooks, `readings`), and so do the waits,
//! which wasmtime-wasi would otherwise run on tokio's real timers: `wasi:clocks/monotonic-clock`
//! 0.2's `subscribe-duration`/`subscribe-instant` pollables (what `std::thread::sleep`, `poll`
//! and the 0.2 SDKs' timers use) and 0.3's `wait-for`/`wait-until` (spin-sdk 7's
//! `spin_sdk::time::sleep`). `link_virtual` shadows exactly those functions in the linker; the
//! rest of WASI stays wasmtime's. Apps served for real never link this module's functions.

use crate::clock::VirtualClock;
use crate::host::HostState;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Accessor, HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock as p2_monotonic;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::p3::bindings::clocks::monotonic_clock as p3_monotonic;

/// The readings of a virtual clock, as wasmtime-wasi's clock hooks want them.
pub struct Readings(pub Arc<VirtualClock>);

impl HostWallClock for Readings {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.wall_since_epoch()
    }
}

impl HostMonotonicClock for Readings {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.monotonic_nanos()
    }
}

/// Links the virtual waits over wasmtime-wasi's real ones (both WASI versions).
pub fn link_virtual(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    p2_monotonic::add_to_linker::<_, VirtualClocks>(linker, clock_view)?;
    p3_monotonic::add_to_linker::<_, VirtualClocks>(linker, clock_view)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn clock_view(state: &mut HostState) -> ClockView<'_> {
    ClockView {
        clock: state.clock.as_ref(),
        table: &mut state.table,
    }
}

struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = ClockView<'a>;
}

struct ClockView<'a> {
    clock: Option<&'a Arc<VirtualClock>>,
    table: &'a mut ResourceTable,
}

impl ClockView<'_> {
    fn clock(&self) -> wasmtime::Result<Arc<VirtualClock>> {
        self.clock
            .cloned()
            .ok_or_else(|| wasmtime::format_err!("virtual clock linked without a clock"))
    }

    /// A 0.2 pollable that is ready once the clock reaches `deadline`.
    fn subscribe_until(&mut self, deadline: Duration) -> wasmtime::Result<Resource<DynPollable>> {
        let clock = self.clock()?;
        let wait = self.table.push(VirtualDeadline {
            clock,
            deadline,
            yielded: false,
        })?;
        subscribe(self.table, wait)
    }
}

impl p2_monotonic::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock()?.monotonic_nanos())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let deadline = self.clock()?.deadline_of_monotonic(when);
        self.subscribe_until(deadline)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let deadline = self
            .clock()?
            .elapsed()
            .saturating_add(Duration::from_nanos(duration));
        self.subscribe_until(deadline)
    }
}

/// A 0.2 pollable on the virtual clock.
struct VirtualDeadline {
    clock: Arc<VirtualClock>,
    deadline: Duration,
    yielded: bool,
}

#[async_trait::async_trait]
impl Pollable for VirtualDeadline {
    async fn ready(&mut self) {
        if self.deadline <= self.clock.elapsed() {
            // A guest polling in a loop with a zero timeout must still let the runtime run
            // (as wasmtime-wasi's own past deadlines do).
            if !self.yielded {
                self.yielded = true;
                tokio::task::yield_now().await;
            }
            return;
        }
        self.clock.sleep_until(self.deadline).await;
    }
}

impl p3_monotonic::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.clock()?.monotonic_nanos())
    }

    fn get_resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }
}

impl<U> p3_monotonic::HostWithStore<U> for VirtualClocks {
    async fn wait_until(store: &Accessor<U, Self>, when: u64) -> wasmtime::Result<()> {
        let clock = store.with(|mut view| view.get().clock())?;
        let deadline = clock.deadline_of_monotonic(when);
        clock.sleep_until(deadline).await;
        Ok(())
    }

    async fn wait_for(store: &Accessor<U, Self>, duration: u64) -> wasmtime::Result<()> {
        let clock = store.with(|mut view| view.get().clock())?;
        clock.sleep(Duration::from_nanos(duration)).await;
        Ok(())
    }
}
