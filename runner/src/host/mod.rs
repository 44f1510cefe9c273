//! What a guest gets: the per-instance host state and the one linker that lists every
//! capability (WASI 0.2 and 0.3; `wasi:http` 0.3 handler and client and 0.2 incoming and
//! outgoing handlers; Spin's key-value, variables, SQLite, outbound Redis, MQTT, PostgreSQL
//! and MySQL in each version Spin SDKs import; `wasi:keyvalue` and `wasi:config`;
//! `wasi:otel`). One module per capability sits beside this one.

pub mod bindings;
pub mod clocks;
pub mod key_value;
pub mod logging;
pub mod mqtt;
pub mod mysql;
pub mod otel;
pub mod outbound;
pub mod postgres;
pub mod rdbms_types;
pub mod redis;
pub mod sqlite;
pub mod variables;

use crate::clock::VirtualClock;
use crate::guest_limits::{CpuBudget, LimitedGuest, MemoryCap};
use crate::request_trace::RequestTrace;
use key_value::{KeyValue, KeyValueCtx, KeyValueView};
use mqtt::{Mqtt, MqttView};
use mysql::{Mysql, MysqlPools, MysqlView};
use outbound::OutboundHttp;
use postgres::{Postgres, PostgresCtx, PostgresView};
use redis::{Redis, RedisServers, RedisView};
use sqlite::{Sqlite, SqliteCtx, SqliteView};
use std::collections::BTreeMap;
use std::sync::Arc;
use variables::{Variables, VariablesView};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, p2, p3};

/// The data of one store: one guest instance, serving one or more requests.
pub struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub outbound: OutboundHttp,
    pub key_value: Arc<KeyValueCtx>,
    pub sqlite: Arc<SqliteCtx>,
    /// The app's Redis connections (outbound Redis), shared by all its instances.
    pub redis: Arc<RedisServers>,
    pub postgres: Arc<PostgresCtx>,
    /// The app's MySQL pools (what a guest may reach is `outbound.allowed`).
    pub mysql: Arc<MysqlPools>,
    pub variables: Arc<BTreeMap<String, String>>,
    /// The test's clock, when guests run on one (see `clocks`).
    pub clock: Option<Arc<VirtualClock>>,
    /// The request this instance serves, for the spans of what its guest does.
    pub trace: RequestTrace,
    pub memory: MemoryCap,
    pub cpu: CpuBudget,
}

impl LimitedGuest for HostState {
    fn cpu_budget(&mut self) -> &mut CpuBudget {
        &mut self.cpu
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl p3::WasiHttpView for HostState {
    fn http(&mut self) -> p3::WasiHttpCtxView<'_> {
        p3::WasiHttpCtxView {
            hooks: &mut self.outbound,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl p2::WasiHttpView for HostState {
    fn http(&mut self) -> p2::WasiHttpCtxView<'_> {
        p2::WasiHttpCtxView {
            hooks: &mut self.outbound,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

fn key_value_view(state: &mut HostState) -> KeyValueView<'_> {
    KeyValueView {
        table: &mut state.table,
        ctx: &state.key_value,
        trace: &state.trace,
    }
}

fn otel_view(state: &mut HostState) -> otel::OtelView<'_> {
    otel::OtelView {
        trace: &state.trace,
        log: &state.outbound.log,
    }
}

fn redis_view(state: &mut HostState) -> RedisView<'_> {
    RedisView {
        table: &mut state.table,
        allowed: &state.outbound.allowed,
        log: &state.outbound.log,
        servers: &state.redis,
    }
}

fn mqtt_view(state: &mut HostState) -> MqttView<'_> {
    MqttView {
        table: &mut state.table,
        allowed: &state.outbound.allowed,
        log: &state.outbound.log,
    }
}

fn variables_view(state: &mut HostState) -> VariablesView<'_> {
    VariablesView {
        values: &state.variables,
    }
}

fn sqlite_view(state: &mut HostState) -> SqliteView<'_> {
    SqliteView {
        table: &mut state.table,
        ctx: &state.sqlite,
        trace: &state.trace,
    }
}

fn postgres_view(state: &mut HostState) -> PostgresView<'_> {
    PostgresView {
        table: &mut state.table,
        ctx: &state.postgres,
        trace: &state.trace,
    }
}

fn mysql_view(state: &mut HostState) -> MysqlView<'_> {
    MysqlView {
        table: &mut state.table,
        pools: &state.mysql,
        allowed: &state.outbound.allowed,
        log: &state.outbound.log,
    }
}

/// Every import a guest may link against; with `virtual_clock`, its clock waits are the test
/// clock's (`clocks`).
pub fn linker(engine: &wasmtime::Engine, virtual_clock: bool) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    bindings::spin::key_value::key_value::add_to_linker::<_, KeyValue>(
        &mut linker,
        key_value_view,
    )?;
    bindings::fermyon::spin::key_value::add_to_linker::<_, KeyValue>(&mut linker, key_value_view)?;
    bindings::wasi::keyvalue::store::add_to_linker::<_, KeyValue>(&mut linker, key_value_view)?;
    bindings::wasi::keyvalue::atomics::add_to_linker::<_, KeyValue>(&mut linker, key_value_view)?;
    bindings::wasi::keyvalue::batch::add_to_linker::<_, KeyValue>(&mut linker, key_value_view)?;
    bindings::spin::variables::variables::add_to_linker::<_, Variables>(
        &mut linker,
        variables_view,
    )?;
    bindings::fermyon::spin::variables::add_to_linker::<_, Variables>(&mut linker, variables_view)?;
    bindings::wasi::config::store::add_to_linker::<_, Variables>(&mut linker, variables_view)?;
    bindings::fermyon::spin::sqlite::add_to_linker::<_, Sqlite>(&mut linker, sqlite_view)?;
    bindings::spin::sqlite::sqlite::add_to_linker::<_, Sqlite>(&mut linker, sqlite_view)?;
    bindings::fermyon::spin::redis::add_to_linker::<_, Redis>(&mut linker, redis_view)?;
    bindings::spin::redis::redis::add_to_linker::<_, Redis>(&mut linker, redis_view)?;
    bindings::fermyon::spin::mqtt::add_to_linker::<_, Mqtt>(&mut linker, mqtt_view)?;
    bindings::spin::mqtt::mqtt::add_to_linker::<_, Mqtt>(&mut linker, mqtt_view)?;
    // Spin 1's Redis trigger types, imported by spin-sdk 2-5's Redis handlers: types only.
    linker.instance("fermyon:spin/redis-types")?;
    bindings::fermyon::spin::rdbms_types::add_to_linker::<_, rdbms_types::RdbmsTypes>(
        &mut linker,
        |_| (),
    )?;
    bindings::fermyon::spin::postgres::add_to_linker::<_, Postgres>(&mut linker, postgres_view)?;
    bindings::spin::postgres3_0_0::postgres::add_to_linker::<_, Postgres>(
        &mut linker,
        postgres_view,
    )?;
    bindings::spin::postgres4_2_0::postgres::add_to_linker::<_, Postgres>(
        &mut linker,
        postgres_view,
    )?;
    bindings::fermyon::spin::mysql::add_to_linker::<_, Mysql>(&mut linker, mysql_view)?;
    bindings::spin::mysql::mysql::add_to_linker::<_, Mysql>(&mut linker, mysql_view)?;
    bindings::wasi::otel::types::add_to_linker::<_, otel::Otel>(&mut linker, otel_view)?;
    bindings::wasi::otel::tracing::add_to_linker::<_, otel::Otel>(&mut linker, otel_view)?;
    bindings::wasi::otel::logs::add_to_linker::<_, otel::Otel>(&mut linker, otel_view)?;
    bindings::wasi::otel::metrics::add_to_linker::<_, otel::Otel>(&mut linker, otel_view)?;
    if virtual_clock {
        clocks::link_virtual(&mut linker)?;
    }
    Ok(linker)
}
