//! Host bindings for what a Redis trigger calls: Spin 4 SDKs' `spin:redis/inbound-redis@3.0.0`
//! (an `async func`) and Spin 1's `fermyon:spin/inbound-redis`, which spin-sdk 2-5's
//! `#[redis_component]` still exports.

/// `spin:redis/inbound-redis@3.0.0`.
pub mod v3 {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "runner:host/redis-trigger",
        exports: { default: async },
        with: {
            "spin:redis/redis@3.0.0": crate::host::bindings::spin::redis::redis,
        },
    });
}

/// `fermyon:spin/inbound-redis` (no version).
pub mod v1 {
    wasmtime::component::bindgen!({
        path: "wit-spin1-redis",
        world: "runner:spin1-redis/redis-trigger-v1",
        exports: { default: async },
    });
}
