//! Keeping one guest instance inside its limits while it runs: its memory (a resource limiter
//! that stops growth past the cap with an error naming the limit) and its CPU (epoch
//! interruption: a process-wide ticker advances the engine's epoch every `TICK`; a guest that
//! is executing when a tick lands yields to the async runtime, so a spinning guest cannot hold
//! a worker thread, and is charged one tick; a guest that runs for longer than its budget
//! without the host starting a new request in its instance is stopped with a trap).
//!
//! A guest waiting (sleeping, on outbound HTTP, on the store) executes no code, sees no ticks
//! and so is not charged.

use crate::host::logging::ComponentLog;
use std::sync::OnceLock;
use std::time::Duration;
use wasmtime::{Engine, ResourceLimiter, StoreContextMut, UpdateDeadline};

/// How often the engine's epoch advances: the granularity of CPU accounting and how long a
/// spinning guest can hold a worker thread before it yields.
pub const TICK: Duration = Duration::from_millis(10);

/// Starts the ticker thread for `engine` (once per process).
pub fn start_epoch_ticker(engine: &Engine) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let engine = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = engine.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .expect("spawning the epoch ticker thread");
    });
}

/// The CPU budget of one instance, refilled whenever the instance starts a request.
pub struct CpuBudget {
    log: ComponentLog,
    limit: Duration,
    limit_ticks: u64,
    remaining_ticks: u64,
}

impl CpuBudget {
    pub fn new(log: ComponentLog, limit: Duration) -> Self {
        let limit_ticks = (limit.as_nanos() / TICK.as_nanos()).max(1) as u64;
        Self {
            log,
            limit,
            limit_ticks,
            remaining_ticks: limit_ticks,
        }
    }

    /// A request starts: the instance's code has just been given control by the host.
    pub fn refill(&mut self) {
        self.remaining_ticks = self.limit_ticks;
    }

    /// A tick landed while the guest was executing.
    fn charge(&mut self) -> wasmtime::Result<()> {
        match self.remaining_ticks.checked_sub(1) {
            Some(left) => {
                self.remaining_ticks = left;
                Ok(())
            }
            None => {
                self.log.error(format_args!(
                    "guest used more than {:?} of CPU (--max-request-cpu); stopping it",
                    self.limit
                ));
                Err(wasmtime::format_err!(
                    "guest used more than {:?} of CPU (--max-request-cpu)",
                    self.limit
                ))
            }
        }
    }
}

/// What a store's data gives the limit checks.
pub trait LimitedGuest: Send + 'static {
    fn cpu_budget(&mut self) -> &mut CpuBudget;
}

/// Arms `store`'s CPU accounting: every tick yields to tokio and charges the budget.
pub fn watch_cpu<T: LimitedGuest>(store: &mut wasmtime::Store<T>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut context: StoreContextMut<'_, T>| {
        context.data_mut().cpu_budget().charge()?;
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Caps one instance's linear memory; growth past the cap traps with a message naming it.
pub struct MemoryCap {
    log: ComponentLog,
    max_bytes: usize,
}

impl MemoryCap {
    pub fn new(log: ComponentLog, max_bytes: usize) -> Self {
        Self { log, max_bytes }
    }
}

/// Instances, tables and memories one store may create (a component is several core modules).
const MAX_PARTS_PER_STORE: usize = 64;
/// Elements one table may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired <= self.max_bytes {
            return Ok(true);
        }
        self.log.error(format_args!(
            "guest asked for {desired} bytes of memory (has {current}); the limit is {} \
             (--max-instance-memory); stopping it",
            self.max_bytes
        ));
        Err(wasmtime::format_err!(
            "memory limit reached: guest asked for {desired} bytes, limit {} (--max-instance-memory)",
            self.max_bytes
        ))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_PARTS_PER_STORE
    }

    fn tables(&self) -> usize {
        MAX_PARTS_PER_STORE
    }

    fn memories(&self) -> usize {
        MAX_PARTS_PER_STORE
    }
}
