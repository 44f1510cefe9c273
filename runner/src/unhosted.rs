//! Spin capabilities this runner does not host (Serverless AI, Spin 1's interfaces): a
//! component that imports one is refused at start-up, naming the component, the interface
//! and what it is for, instead of failing to link.
//!
//! One exception: a component that imports every capability of a Spin SDK's world (Serverless
//! AI, Redis, MQTT, PostgreSQL and MySQL alike) was built against the whole world
//! (componentize-py imports the whole `spin-http` world, used or not), so its imports say
//! nothing about what it calls. It is served, with a warning naming what it cannot use; those
//! interfaces are linked as functions that trap with their name, so a call to one fails its
//! request, clearly, and nothing else.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};

/// Interfaces (by `namespace:package/interface`, version ignored) and what they are for.
const UNHOSTED: &[(&str, &str)] = &[("fermyon:spin/llm", "Serverless AI")];

/// A Spin SDK world's capabilities, each as the interfaces (version ignored) that import it:
/// importing all of them together marks a whole-world import.
const EVERY_CAPABILITY: &[&[&str]] = &[
    &["fermyon:spin/llm"],
    &["fermyon:spin/redis", "spin:redis/redis"],
    &["fermyon:spin/mqtt", "spin:mqtt/mqtt"],
    &["fermyon:spin/postgres", "spin:postgres/postgres"],
    &["fermyon:spin/mysql", "spin:mysql/mysql"],
];

/// Spin 1 interfaces that are still current: the Redis trigger's types, which spin-sdk 2-5's
/// `#[redis_component]` imports (types only, nothing to call).
const CURRENT_UNVERSIONED: &[&str] = &["fermyon:spin/redis-types"];

/// One import the runner does not host.
pub struct Unhosted {
    /// The import as the component names it, e.g. `fermyon:spin/llm@2.0.0`.
    pub name: String,
    pub purpose: &'static str,
}

/// What a component imports that is not hosted here.
pub fn unhosted_imports(component: &Component) -> Vec<Unhosted> {
    let engine = component.engine();
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| {
            let unversioned = name.split('@').next().unwrap_or(name);
            let purpose = UNHOSTED
                .iter()
                .find(|(interface, _)| *interface == unversioned)
                .map(|(_, purpose)| *purpose)
                .or_else(|| {
                    // Spin 1's interfaces have no version.
                    (unversioned.starts_with("fermyon:spin/")
                        && !name.contains('@')
                        && !CURRENT_UNVERSIONED.contains(&name))
                    .then_some("Spin 1.x interfaces (rebuild with a current Spin SDK)")
                })?;
            Some(Unhosted {
                name: name.to_string(),
                purpose,
            })
        })
        .collect()
}

/// Whether `component` imports every capability of an SDK world, the mark of a whole world.
pub fn is_whole_world(component: &Component) -> bool {
    let engine = component.engine();
    let imports: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.split('@').next().unwrap_or(name).to_string())
        .collect();
    EVERY_CAPABILITY.iter().all(|capability| {
        capability
            .iter()
            .any(|interface| imports.iter().any(|i| i == interface))
    })
}

/// `X (what), Y (what)`: the imports and what each is for.
pub fn listing(unhosted: &[Unhosted]) -> String {
    unhosted
        .iter()
        .map(|u| format!("{} ({})", u.name, u.purpose))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refusal: `imports X (what), which this runner does not host; ...`.
pub fn refusal(unhosted: &[Unhosted]) -> String {
    format!(
        "imports {}, which this runner does not host; use spin up",
        listing(unhosted)
    )
}

/// A resource type for the stubs (their resources can never be created).
struct Stub;

/// Links each of `unhosted` as functions that trap with their name.
pub fn link_stubs<T>(
    linker: &mut Linker<T>,
    component: &Component,
    unhosted: &[Unhosted],
) -> wasmtime::Result<()> {
    let engine = component.engine();
    for (name, item) in component.component_type().imports(engine) {
        if !unhosted.iter().any(|u| u.name == name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let mut stubs = linker.instance(name)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let called = format!("{name}#{export}");
                    stubs.func_new(export, move |_, _, _, _| {
                        wasmtime::bail!("{called} is not hosted by this runner (use spin up)")
                    })?;
                }
                ComponentItem::Resource(_) => {
                    stubs.resource(export, ResourceType::host::<Stub>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
