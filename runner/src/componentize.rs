//! Core wasm modules made into components on load, as Spin does. SDKs that build for
//! `wasm32-wasip1` (Rust spin-sdk up to 5, TinyGo, ...) produce a core module whose component
//! type wit-bindgen embeds in `component-type` custom sections; `wit-component` wraps it with
//! the WASI preview1 reactor adapter (the one this wasmtime ships) into a component exporting
//! what the module does (e.g. `wasi:http/incoming-handler@0.2.0`).
//!
//! Modules this cannot turn into an HTTP component are refused with what they are: a WASI
//! command (`_start`, Spin's "wagi" executor) or a Spin 1.x module (no embedded component
//! type; Spin rewrites those with an adapter of its own).

use std::borrow::Cow;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

/// What a module's component depends on besides the module: the adapter it is wrapped with
/// (the compile cache keys componentized modules by it too).
pub const ADAPTER: &[u8] = WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;

/// `bytes` as a component: unchanged if it is one, componentized if it is a core module.
pub fn componentize(bytes: &[u8]) -> anyhow::Result<Cow<'_, [u8]>> {
    if !wasmparser::Parser::is_core_wasm(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    let module = ModuleShape::read(bytes)?;
    if !module.has_component_type {
        if module.exports_start {
            anyhow::bail!(
                "a WASI command module (it exports `_start`): Spin runs those with its `wagi` \
                 executor, which this runner does not host; build an HTTP component instead"
            );
        }
        anyhow::bail!(
            "a core wasm module without an embedded component type (a Spin 1.x module?): \
             rebuild it with a current Spin SDK"
        );
    }
    let component = wit_component::ComponentEncoder::default()
        .module(bytes)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, ADAPTER)?
        .validate(true)
        .encode()
        .map_err(|e| anyhow::anyhow!("cannot make the module a component: {e:#}"))?;
    Ok(Cow::Owned(component))
}

/// What matters about a core module here.
struct ModuleShape {
    has_component_type: bool,
    exports_start: bool,
}

impl ModuleShape {
    fn read(bytes: &[u8]) -> anyhow::Result<Self> {
        let mut shape = Self {
            has_component_type: false,
            exports_start: false,
        };
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload? {
                wasmparser::Payload::CustomSection(section)
                    if section.name().starts_with("component-type") =>
                {
                    shape.has_component_type = true;
                }
                wasmparser::Payload::ExportSection(exports) => {
                    for export in exports {
                        shape.exports_start |= export?.name == "_start";
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module in the text format, assembled with wasmtime's `wat` support.
    fn module(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("valid wat")
    }

    #[test]
    fn components_pass_through_and_plain_modules_are_refused_by_what_they_are() {
        let command = module(r#"(module (func (export "_start")))"#);
        let refused = componentize(&command).unwrap_err().to_string();
        assert!(
            refused.contains("_start") && refused.contains("wagi"),
            "{refused}"
        );
        let bare = module(r#"(module (func (export "handle")))"#);
        let refused = componentize(&bare).unwrap_err().to_string();
        assert!(
            refused.contains("without an embedded component type"),
            "{refused}"
        );
        let component = wat::parse_str("(component)").unwrap();
        assert!(matches!(
            componentize(&component).unwrap(),
            Cow::Borrowed(_)
        ));
    }
}
