//! Host bindings generated from `runner/wit` (the Spin packages, named and versioned as Spin
//! names them). WIT `async func`s get store-aware async host functions; wasi:keyvalue's
//! plain functions run as async host calls on the guest's fiber.

wasmtime::component::bindgen!({
    path: "wit",
    world: "runner:host/spin-imports",
    imports: {
        "wasi:keyvalue/store": async | trappable,
        "wasi:keyvalue/atomics": async | trappable,
        "wasi:keyvalue/batch": async | trappable,
        default: trappable,
    },
    with: {
        "spin:key-value/key-value.store": crate::host::key_value::OpenStore,
        "wasi:keyvalue/store.bucket": crate::host::key_value::OpenStore,
        "wasi:keyvalue/atomics.cas": crate::host::key_value::Cas,
    },
});
