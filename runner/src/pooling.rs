//! How instances get their linear memories, tables and fiber stacks: wasmtime's pooling
//! allocator (the default, as in Spin) or its on-demand allocator.
//!
//! Pooling reserves every slot once, when the engine is made, and hands them out again: an
//! instance of a module lands, where it can, in a slot that module used before, whose memory
//! is reset to the module's copy-on-write image instead of mapped afresh. A WASI 0.2
//! component gets a fresh instance for every request, so this is most of what a request
//! costs such a component beyond its own code. The price is address space (about 4 GiB per
//! memory slot, reserved, not used) and a cap on live instances; where the reservation
//! fails (a small address space, a `ulimit -v`), the engine falls back to on-demand and says
//! so. When the pool is full, a new instance fails with wasmtime's
//! `PoolConcurrencyLimitError`: the request waits a little for a slot to free (`instances`),
//! and is then answered `503` with `Retry-After` (`router`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How the process's engine allocates instances (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceAllocation {
    /// wasmtime's pooling allocator, with room for this many live component instances.
    Pooling { instances: u32 },
    /// wasmtime's on-demand allocator: an `mmap` per memory, per instance; no cap.
    OnDemand,
}

/// Spin's default cap on live instances (`SPIN_MAX_INSTANCE_COUNT`).
pub const DEFAULT_POOLED_INSTANCES: u32 = 1_000;

impl Default for InstanceAllocation {
    /// Pooling, sized by `SPIN_MAX_INSTANCE_COUNT` as in Spin (1,000 when unset or unreadable).
    fn default() -> Self {
        let instances = std::env::var("SPIN_MAX_INSTANCE_COUNT")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_POOLED_INSTANCES);
        InstanceAllocation::Pooling { instances }
    }
}

/// The allocation asked for (by `choose`) before the engine was made.
static CHOSEN: OnceLock<InstanceAllocation> = OnceLock::new();
/// The allocation the engine was made with (after any fallback).
static IN_USE: OnceLock<InstanceAllocation> = OnceLock::new();

/// Chooses how the process's engine allocates instances. It must come before the first app
/// loads (the engine is made once per process); a later call that asks for something else
/// is an error.
pub fn choose(allocation: InstanceAllocation) -> anyhow::Result<()> {
    if CHOSEN.set(allocation).is_ok() {
        return Ok(());
    }
    match CHOSEN.get().copied() {
        Some(chosen) if chosen != allocation => anyhow::bail!(
            "instances are already allocated {chosen:?} in this process (the allocation is \
             chosen once, before the first app loads)"
        ),
        _ => Ok(()),
    }
}

/// Whether `error` says the pool had no free slot (for an instance, a memory, a table or a
/// stack).
pub(crate) fn is_pool_full(error: &wasmtime::Error) -> bool {
    let pool_full = |e: &wasmtime::Error| e.is::<wasmtime::PoolConcurrencyLimitError>();
    match error.downcast_ref::<wasmtime_wasi_http::handler::InstantiationError<u64>>() {
        Some(failed) => pool_full(&failed.error),
        None => pool_full(error),
    }
}

/// Waiting out a full instance pool: a request that finds no free slot tries again after a
/// pause that doubles from 5 ms up to 100 ms, for up to `POOL_WAIT` in all, then is answered
/// `503`. A burst past the pool's size is absorbed; a pool held full is not.
pub(crate) struct PoolWait {
    deadline: Instant,
    pause: Duration,
}

/// How long a request waits for a free slot when the instance pool is full.
const POOL_WAIT: Duration = Duration::from_secs(1);

impl PoolWait {
    pub(crate) fn new() -> Self {
        Self {
            deadline: Instant::now() + POOL_WAIT,
            pause: Duration::from_millis(5),
        }
    }

    /// Whether to try again after `error`: only for a full pool with time left, after a pause.
    pub(crate) async fn retry(&mut self, error: &wasmtime::Error) -> bool {
        if !is_pool_full(error) || Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(100));
        true
    }
}

/// How the engine allocates instances, once it exists.
pub fn in_use() -> Option<InstanceAllocation> {
    IN_USE.get().copied()
}

/// Makes the engine from `base` with the chosen allocation, falling back to on-demand (with a
/// warning) if the pool cannot be reserved.
pub(crate) fn make_engine(base: &Config) -> wasmtime::Engine {
    let wanted = *CHOSEN.get_or_init(InstanceAllocation::default);
    let (engine, in_use) = match wanted {
        InstanceAllocation::OnDemand => (on_demand(base), InstanceAllocation::OnDemand),
        InstanceAllocation::Pooling { instances } => {
            let mut config = base.clone();
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(instances)));
            match wasmtime::Engine::new(&config) {
                Ok(engine) => (engine, wanted),
                Err(e) => {
                    tracing::warn!(
                        "the instance pool ({instances} instances) cannot be reserved ({e}); \
                         allocating instances on demand instead"
                    );
                    (on_demand(base), InstanceAllocation::OnDemand)
                }
            }
        }
    };
    let _ = IN_USE.set(in_use);
    engine
}

fn on_demand(base: &Config) -> wasmtime::Engine {
    let mut config = base.clone();
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    wasmtime::Engine::new(&config).expect("the runner's wasmtime configuration is valid")
}

/// The pool for `instances` live component instances. Memories and stacks reserve address
/// space per slot, so they scale with `instances`; core instances and tables cost little
/// and are counted generously, since a component links many core modules (componentize-py's
/// have over a dozen).
fn pool(instances: u32) -> PoolingAllocationConfig {
    const MIB: usize = 1 << 20;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .total_stacks(instances.saturating_mul(4))
        .total_core_instances(instances.saturating_mul(16))
        .max_core_instances_per_component(200)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .max_memories_per_module(2)
        .max_tables_per_module(2)
        .table_elements(100_000)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        // wasm32's whole range: each app's `--max-instance-memory` is enforced by the store's
        // limiter, which also says which component hit it.
        .max_memory_size(4 << 30)
        .table_keep_resident(MIB / 2);
    match resetting() {
        Reset::DirtyPages => pool
            .pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(env_bytes(KEEP_RESIDENT_VARIABLE, DIRTY_PAGES_KEPT)),
        Reset::LowAddresses => {
            pool.linear_memory_keep_resident(env_bytes(KEEP_RESIDENT_VARIABLE, LOW_ADDRESSES_KEPT))
        }
    };
    pool
}

/// How a reused slot's memory is put back to the module's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reset {
    /// The kernel says which pages the last instance wrote (Linux 6.7's `PAGEMAP_SCAN`); up to
    /// `DIRTY_PAGES_KEPT` of them are copied back from the image and stay mapped, the rest are
    /// unmapped. The next instance finds the pages it will touch already there: no page faults.
    DirtyPages,
    /// Spin's way: the lowest `LOW_ADDRESSES_KEPT` bytes are rewritten whether touched or not,
    /// everything else is unmapped and faulted in again by the next instance.
    LowAddresses,
}

/// Dirty memory kept mapped per slot when the kernel can say which pages are dirty. A fresh
/// JavaScript or Python instance writes a few MiB answering one request; those pages are
/// copied back from the image (a `memcpy` per page) instead of faulted in again. The price is
/// resident memory: up to this much per slot a module has used, kept after the load is over.
const DIRTY_PAGES_KEPT: usize = 32 << 20;
/// Spin's default (`SPIN_WASMTIME_LINEAR_MEMORY_KEEP_RESIDENT`).
const LOW_ADDRESSES_KEPT: usize = 2 << 20;
/// Spin's variable for the bytes of a slot's memory kept resident; the runner reads it too.
const KEEP_RESIDENT_VARIABLE: &str = "SPIN_WASMTIME_LINEAR_MEMORY_KEEP_RESIDENT";
/// Turns the dirty-page scan off (`0`), to compare or to give memory back after a burst.
const PAGEMAP_VARIABLE: &str = "RUNNER_PAGEMAP_SCAN";

fn resetting() -> Reset {
    let wanted = std::env::var(PAGEMAP_VARIABLE).map_or(true, |v| v.trim() != "0");
    match wanted && PoolingAllocationConfig::is_pagemap_scan_available() {
        true => Reset::DirtyPages,
        false => Reset::LowAddresses,
    }
}

/// A byte count from the environment (as Spin reads it), else `default`.
fn env_bytes(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| {
            tracing::warn!("{name}={value:?} is not a byte count; using {default}");
            default
        }),
        Err(_) => default,
    }
}
