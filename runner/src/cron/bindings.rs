//! Host bindings for Spin's cron trigger interface (`spin:cron@3.0.0`, world `spin-cron`):
//! the export a periodic job's component provides, called with the tick's metadata.

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin:cron/spin-cron",
    exports: { default: async },
});
