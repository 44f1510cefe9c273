//! Host bindings generated from `runner/wit` (the Spin packages, named and versioned as Spin
//! names them). WIT `async func`s get store-aware async host functions; wasi:keyvalue's
//! plain functions run as async host calls on the guest's fiber. Functions that return a
//! key-value error return `KvFailure` (a guest-visible error or a trap), so host code reads
//! as `?` chains; the conversion to each interface's `error` lives with the host code.

wasmtime::component::bindgen!({
    path: "wit",
    world: "runner:host/spin-imports",
    imports: {
        // fermyon:spin@2.0.0's functions are plain (sync) in WIT; they run as async host
        // calls on the guest's fiber, so a store or database call never blocks a thread.
        "fermyon:spin/key-value": async | trappable,
        "fermyon:spin/key-value.[static]store.open": trappable,
        "fermyon:spin/key-value.[drop]store": trappable,
        "fermyon:spin/sqlite": async | trappable,
        "spin:sqlite/sqlite": async | trappable,
        "fermyon:spin/redis": async | trappable,
        "spin:redis/redis": async | trappable,
        "fermyon:spin/mqtt": async | trappable,
        "spin:mqtt/mqtt": async | trappable,
        // PostgreSQL: every call reaches the database, so every one is an async host call.
        "fermyon:spin/postgres": async | trappable,
        "spin:postgres/postgres": async | trappable,
        "fermyon:spin/mysql": async | trappable,
        "spin:mysql/mysql": async | trappable,
        // Opening a bucket and dropping one touch no backend: plain calls, no async machinery.
        "wasi:keyvalue/store.open": trappable,
        "wasi:keyvalue/store.[drop]bucket": trappable,
        "wasi:keyvalue/store": async | trappable,
        "wasi:keyvalue/atomics": async | trappable,
        "wasi:keyvalue/batch": async | trappable,
        default: trappable,
    },
    trappable_error_type: {
        "fermyon:spin/key-value.error" => crate::host::key_value::KvFailure,
        "spin:key-value/key-value.error" => crate::host::key_value::KvFailure,
        "wasi:keyvalue/store.error" => crate::host::key_value::KvFailure,
        "wasi:keyvalue/atomics.cas-error" => crate::host::key_value::CasFailure,
    },
    with: {
        // wasi:otel's timestamps and durations are WASI 0.2's clocks', hosted by wasmtime-wasi.
        "wasi:clocks/wall-clock@0.2.0": wasmtime_wasi::p2::bindings::clocks::wall_clock,
        "wasi:clocks/monotonic-clock@0.2.0": wasmtime_wasi::p2::bindings::clocks::monotonic_clock,
        "wasi:io/poll@0.2.0": wasmtime_wasi::p2::bindings::io::poll,
        "fermyon:spin/key-value.store": crate::host::key_value::OpenStore,
        "fermyon:spin/sqlite.connection": crate::host::sqlite::OpenDatabase,
        "spin:sqlite/sqlite.connection": crate::host::sqlite::OpenDatabase,
        "fermyon:spin/redis.connection": crate::host::redis::OpenRedis,
        "spin:redis/redis.connection": crate::host::redis::OpenRedis,
        "fermyon:spin/mqtt.connection": crate::host::mqtt::OpenMqtt,
        "spin:mqtt/mqtt.connection": crate::host::mqtt::OpenMqtt,
        "fermyon:spin/postgres.connection": crate::host::postgres::PgConnection,
        "spin:postgres/postgres.connection": crate::host::postgres::PgConnection,
        "spin:postgres/postgres.connection-builder": crate::host::postgres::PgConnectionBuilder,
        "fermyon:spin/mysql.connection": crate::host::mysql::OpenConnection,
        "spin:mysql/mysql.connection": crate::host::mysql::OpenConnection,
        "spin:key-value/key-value.store": crate::host::key_value::OpenStore,
        "wasi:keyvalue/store.bucket": crate::host::key_value::OpenStore,
        "wasi:keyvalue/atomics.cas": crate::host::key_value::Cas,
    },
});
