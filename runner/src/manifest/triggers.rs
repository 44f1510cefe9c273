//! The manifest's triggers checked against its components: `[[trigger.http]]` (routes in
//! Spin's syntax, each naming a declared component, no route twice) and `[[trigger.cron]]`
//! (periodic jobs, each naming a component and a valid cron expression) and
//! `[[trigger.redis]]` (a channel and a server address, templates allowed, each naming a
//! component). Other trigger kinds are refused by name.

use super::raw::{RawCronTrigger, RawHttpTrigger, RawRedisTrigger, RawRoute, RawTriggers};
use super::{CronJob, HttpRoute, RedisTrigger};
use crate::config_error::ConfigError;
use crate::cron::Schedule;
use crate::routes::RoutePattern;
use crate::variables::{Template, VariableDecl};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the triggers resolve to.
pub(super) struct Triggers {
    pub routes: Vec<HttpRoute>,
    pub jobs: Vec<CronJob>,
    pub redis: Vec<RedisTrigger>,
}

pub(super) fn validate<C>(
    raw: RawTriggers,
    file: &Path,
    components: &BTreeMap<String, C>,
    redis_address: Option<&(String, String)>,
    declared: &BTreeMap<String, VariableDecl>,
) -> Result<Triggers, ConfigError> {
    if let Some(kind) = raw.other.keys().next() {
        return Err(ConfigError::new(
            file,
            format!("trigger.{kind}"),
            "only HTTP, cron and Redis triggers (`[[trigger.http]]`, `[[trigger.cron]]`, \
             `[[trigger.redis]]`) are supported by this runner",
        ));
    }
    let mut routes = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, trigger) in raw.http.into_iter().enumerate() {
        let key = format!("trigger.http[{index}]");
        if let Some(route) = http_route(trigger, &key, file, components)? {
            if !seen.insert(route.pattern.canonical()) {
                return Err(ConfigError::new(
                    file,
                    format!("{key}.route"),
                    format!("route `{}` is declared twice", route.pattern.as_str()),
                ));
            }
            routes.push(route);
        }
    }
    let jobs = raw
        .cron
        .into_iter()
        .enumerate()
        .map(|(index, trigger)| {
            cron_job(trigger, &format!("trigger.cron[{index}]"), file, components)
        })
        .collect::<Result<_, _>>()?;
    let redis = raw
        .redis
        .into_iter()
        .enumerate()
        .map(|(index, trigger)| {
            let key = format!("trigger.redis[{index}]");
            redis_trigger(trigger, &key, file, components, redis_address, declared)
        })
        .collect::<Result<_, _>>()?;
    Ok(Triggers {
        routes,
        jobs,
        redis,
    })
}

/// One `[[trigger.redis]]`: a component run for each message on a channel.
fn redis_trigger<C>(
    trigger: RawRedisTrigger,
    key: &str,
    file: &Path,
    components: &BTreeMap<String, C>,
    default_address: Option<&(String, String)>,
    declared: &BTreeMap<String, VariableDecl>,
) -> Result<RedisTrigger, ConfigError> {
    let err = |field: &str, reason: String| ConfigError::new(file, field, reason);
    let component = named_component(trigger.component, components)
        .map_err(|r| err(&format!("{key}.component"), r))?;
    let template = |field: String, text: &str| {
        let template = Template::parse(text).map_err(|r| err(&field, r))?;
        template
            .check_references(declared)
            .map_err(|r| err(&field, r))?;
        Ok::<_, ConfigError>(template)
    };
    if trigger.channel.is_empty() {
        return Err(err(&format!("{key}.channel"), "must name a channel".into()));
    }
    let channel = template(format!("{key}.channel"), &trigger.channel)?;
    let address = match (&trigger.address, default_address) {
        (Some(address), _) => template(format!("{key}.address"), address)?,
        (None, Some((field, address))) => template(field.clone(), address)?,
        (None, None) => {
            return Err(err(
                &format!("{key}.address"),
                "no Redis server: give `address` here or in [application.trigger.redis]".into(),
            ));
        }
    };
    Ok(RedisTrigger {
        key: key.to_string(),
        component,
        channel,
        address,
    })
}

/// One `[[trigger.cron]]`: a component run on a schedule.
fn cron_job<C>(
    trigger: RawCronTrigger,
    key: &str,
    file: &Path,
    components: &BTreeMap<String, C>,
) -> Result<CronJob, ConfigError> {
    let err =
        |field: &str, reason: String| ConfigError::new(file, format!("{key}.{field}"), reason);
    let component =
        named_component(trigger.component, components).map_err(|r| err("component", r))?;
    let schedule =
        Schedule::parse(&trigger.cron_expression).map_err(|r| err("cron_expression", r))?;
    Ok(CronJob {
        key: key.to_string(),
        component,
        schedule,
    })
}

/// One `[[trigger.http]]`: its route, or `None` for a private (chaining-only) component.
fn http_route<C>(
    trigger: RawHttpTrigger,
    key: &str,
    file: &Path,
    components: &BTreeMap<String, C>,
) -> Result<Option<HttpRoute>, ConfigError> {
    let err =
        |field: &str, reason: String| ConfigError::new(file, format!("{key}.{field}"), reason);
    match trigger.executor.as_ref().map(|e| e.kind.as_str()) {
        // Spin's own executors: the component's exports say how to call it.
        None | Some("spin" | "http") => {}
        Some("wagi") => {
            return Err(err(
                "executor",
                "the `wagi` executor (CGI-style `_start` modules) is not hosted by this \
                 runner; use spin up"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(err(
                "executor.type",
                format!("`{other}` is not an executor (Spin's are `spin`, `http` and `wagi`)"),
            ));
        }
    }
    let component =
        named_component(trigger.component, components).map_err(|r| err("component", r))?;
    match trigger.route {
        RawRoute::Private { private: true } => Ok(None),
        RawRoute::Private { private: false } => Err(err(
            "route",
            "`{ private = false }` is not a route; give a path such as \"/hello\"".into(),
        )),
        RawRoute::Path(route) => {
            let pattern = RoutePattern::parse(&route).map_err(|reason| err("route", reason))?;
            Ok(Some(HttpRoute {
                key: key.to_string(),
                pattern,
                component,
            }))
        }
    }
}

/// A trigger's `component`: the id of a declared `[component.<id>]`.
pub(super) fn named_component<C>(
    value: toml::Value,
    components: &BTreeMap<String, C>,
) -> Result<String, String> {
    let toml::Value::String(id) = value else {
        return Err("inline components are not supported; name a `[component.<id>]`".into());
    };
    if !components.contains_key(&id) {
        return Err(format!(
            "no component named `{id}` (no `[component.{id}]` table)"
        ));
    }
    Ok(id)
}
