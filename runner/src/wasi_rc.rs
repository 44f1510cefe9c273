//! Components built against WASI 0.3's release candidate `0.3.0-rc-2026-03-15` (what Spin 4's
//! own `http-rust` template builds, through spin-sdk 6, and what the JavaScript and Python
//! SDKs of Spin 4 build) are served by the runner's WASI 0.3.0 host.
//!
//! Every interface of that release candidate (cli, clocks, filesystem, http, random,
//! sockets) has exactly the types and functions of its 0.3.0 namesake (checked interface by
//! interface; 0.3.0 only adds `wasi:cli/exit.exit-with-code`, which no rc component can
//! import), and wasmtime runs both with the same canonical ABI. So the component is
//! re-encoded on load with each `@0.3.0-rc-2026-03-15` in its component-level names (imports,
//! exports, the type declarations and instantiation arguments that repeat them, and aliases
//! of them) spelled `@0.3.0`: its imports then link against the 0.3.0 host functions, and
//! its `wasi:http/handler` export is served like any 0.3.0 handler, with the same allow-list,
//! chaining, limits and instance reuse. wasmtime still checks every function's type when it
//! links, so an interface that differed would be refused with the name of what differs.
//! Names inside core modules are left alone: they only tie the component's own parts
//! together. (Spin writes a host binding per rc interface that forwards to its 0.3.0 one;
//! for interfaces this alike, renaming does the same with nothing to keep in step.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use wasm_encoder::reencode::{Error, Reencode, ReencodeComponent, component_utils};

/// The release candidate this module renames.
const RC_VERSION: &str = "@0.3.0-rc-2026-03-15";
/// What it becomes.
const FINAL_VERSION: &str = "@0.3.0";
/// Names this renaming in the compile cache's key (bump it when the renaming changes).
pub const RENAMING: &[u8] = b"wasi 0.3.0-rc-2026-03-15 -> 0.3.0, renaming 1";

/// Whether the component at `bytes` names any interface of the release candidate.
pub fn uses_release_candidate(bytes: &[u8]) -> bool {
    bytes
        .windows(RC_VERSION.len())
        .any(|window| window == RC_VERSION.as_bytes())
}

/// The component at `bytes` with its release-candidate names spelled as 0.3.0.
pub fn as_final_version(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut component = wasm_encoder::Component::new();
    Renamer
        .parse_component(&mut component, wasmparser::Parser::new(0), bytes)
        .map_err(|e| anyhow::anyhow!("re-encoding a WASI 0.3 release-candidate component: {e}"))?;
    Ok(component.finish())
}

/// `name` with the release candidate's version spelled as 0.3.0 (borrowed when unchanged).
fn renamed(name: &str) -> Cow<'_, str> {
    match name.contains(RC_VERSION) {
        true => Cow::Owned(name.replace(RC_VERSION, FINAL_VERSION)),
        false => Cow::Borrowed(name),
    }
}

/// An import or export name, renamed.
fn extern_name(name: wasmparser::ComponentExternName<'_>) -> wasm_encoder::ComponentExternName<'_> {
    wasm_encoder::ComponentExternName {
        name: renamed(name.name),
        implements: name.implements.map(renamed),
    }
}

/// `renamed`, for an alias, whose name wasm-encoder borrows for as long as the input lives.
/// There are a few such names (one per interface), kept for the process's life.
fn interned(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(renamed(name).into_owned().into_boxed_str());
    names.insert(name.to_string(), leaked);
    leaked
}

/// A re-encoder that changes only component-level names.
struct Renamer;

impl Reencode for Renamer {
    type Error = std::convert::Infallible;
}

impl ReencodeComponent for Renamer {
    fn parse_component_import_section(
        &mut self,
        imports: &mut wasm_encoder::ComponentImportSection,
        section: wasmparser::ComponentImportSectionReader<'_>,
    ) -> Result<(), Error<Self::Error>> {
        for import in section {
            let import = import?;
            let ty = self.component_type_ref(import.ty)?;
            imports.import(extern_name(import.name), ty);
        }
        Ok(())
    }

    fn parse_component_export(
        &mut self,
        exports: &mut wasm_encoder::ComponentExportSection,
        export: wasmparser::ComponentExport<'_>,
    ) -> Result<(), Error<Self::Error>> {
        let ty = export.ty.map(|t| self.component_type_ref(t)).transpose()?;
        let index = self.component_external_index(export.kind, export.index);
        exports.export(extern_name(export.name), export.kind.into(), index, ty);
        Ok(())
    }

    fn parse_component_type_declaration(
        &mut self,
        component: &mut wasm_encoder::ComponentType,
        decl: wasmparser::ComponentTypeDeclaration<'_>,
    ) -> Result<(), Error<Self::Error>> {
        match decl {
            wasmparser::ComponentTypeDeclaration::Export { name, ty } => {
                let ty = self.component_type_ref(ty)?;
                component.export(extern_name(name), ty);
                Ok(())
            }
            wasmparser::ComponentTypeDeclaration::Import(import) => {
                let ty = self.component_type_ref(import.ty)?;
                component.import(extern_name(import.name), ty);
                Ok(())
            }
            other => component_utils::parse_component_type_declaration(self, component, other),
        }
    }

    fn parse_component_instance_type_declaration(
        &mut self,
        instance: &mut wasm_encoder::InstanceType,
        decl: wasmparser::InstanceTypeDeclaration<'_>,
    ) -> Result<(), Error<Self::Error>> {
        match decl {
            wasmparser::InstanceTypeDeclaration::Export { name, ty } => {
                let ty = self.component_type_ref(ty)?;
                instance.export(extern_name(name), ty);
                Ok(())
            }
            other => {
                component_utils::parse_component_instance_type_declaration(self, instance, other)
            }
        }
    }

    fn parse_component_instance(
        &mut self,
        instances: &mut wasm_encoder::ComponentInstanceSection,
        instance: wasmparser::ComponentInstance<'_>,
    ) -> Result<(), Error<Self::Error>> {
        match instance {
            wasmparser::ComponentInstance::Instantiate {
                component_index,
                args,
            } => {
                let args: Vec<_> = args
                    .iter()
                    .map(|arg| {
                        (
                            renamed(arg.name),
                            arg.kind.into(),
                            self.component_external_index(arg.kind, arg.index),
                        )
                    })
                    .collect();
                instances.instantiate(self.component_index(component_index), args);
            }
            wasmparser::ComponentInstance::FromExports(exports) => {
                let exports: Vec<_> = exports
                    .iter()
                    .map(|export| {
                        (
                            extern_name(export.name),
                            export.kind.into(),
                            self.component_external_index(export.kind, export.index),
                        )
                    })
                    .collect();
                instances.export_items(exports);
            }
        }
        Ok(())
    }

    fn component_alias<'a>(
        &mut self,
        alias: wasmparser::ComponentAlias<'a>,
    ) -> Result<wasm_encoder::Alias<'a>, Error<Self::Error>> {
        match alias {
            wasmparser::ComponentAlias::InstanceExport {
                kind,
                instance_index,
                name,
            } => Ok(wasm_encoder::Alias::InstanceExport {
                instance: self.component_instance_index(instance_index),
                kind: kind.into(),
                name: interned(name),
            }),
            other => component_utils::component_alias(self, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component importing an rc interface and re-exporting an rc-named instance.
    const RC_COMPONENT: &str = r#"
        (component
          (import "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15" (instance $clock
            (export "now" (func (result u64)))
          ))
          (component $inner
            (import "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15" (instance $c
              (export "now" (func (result u64)))
            ))
            (alias export $c "now" (func $now))
            (instance $api (export "now" (func $now)))
            (export "wasi:example/api@0.3.0-rc-2026-03-15" (instance $api))
          )
          (instance $i (instantiate $inner
            (with "wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15" (instance $clock))
          ))
          (alias export $i "wasi:example/api@0.3.0-rc-2026-03-15" (instance $api))
          (export "wasi:example/api@0.3.0-rc-2026-03-15" (instance $api))
        )
    "#;

    #[test]
    fn every_component_level_rc_name_becomes_0_3_0_and_the_result_validates() {
        let rc = wat::parse_str(RC_COMPONENT).unwrap();
        assert!(uses_release_candidate(&rc));
        let renamed = as_final_version(&rc).unwrap();
        assert!(!uses_release_candidate(&renamed));
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&renamed)
            .expect("the renamed component is valid");
        let text = String::from_utf8_lossy(&renamed);
        assert!(text.contains("wasi:clocks/monotonic-clock@0.3.0"));
        assert!(text.contains("wasi:example/api@0.3.0"));
    }

    #[test]
    fn a_component_without_rc_names_is_left_as_it_is() {
        let plain = wat::parse_str(
            r#"(component (import "wasi:clocks/monotonic-clock@0.3.0" (instance)))"#,
        )
        .unwrap();
        assert!(!uses_release_candidate(&plain));
    }
}
