//! A test guest that exercises every key-value and variables call the runner hosts, one per
//! path, so tests can check the host's semantics against Spin's:
//! `/set/KEY/VALUE`, `/get/KEY`, `/delete/KEY`, `/exists/KEY`, `/keys` (spin:key-value),
//! `/cas/KEY/VALUE` (wasi:keyvalue compare-and-swap), `/open/LABEL`, `/var/NAME`; and
//! `/env/NAME`, the environment variable the component was given.

use spin_sdk::experimental::wasi::keyvalue::{atomics, store as wasi_store};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let path = request.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match run(&parts).await {
        Ok(text) => (spin_sdk::http::StatusCode::OK, text),
        Err(text) => (spin_sdk::http::StatusCode::CONFLICT, text),
    }
}

async fn run(parts: &[&str]) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    match parts {
        ["open", label] => Store::open(label)
            .await
            .map(|_| "opened".into())
            .map_err(|e| err(&e)),
        ["var", name] => spin_sdk::variables::get(name).await.map_err(|e| err(&e)),
        ["env", name] => std::env::var(name).map_err(|e| err(&e)),
        ["cas", key, value] => {
            let bucket = wasi_store::open("default").map_err(|e| err(&e))?;
            let cas = atomics::Cas::new(&bucket, key).map_err(|e| err(&e))?;
            let before = cas.current().map_err(|e| err(&e))?;
            atomics::swap(cas, value.as_bytes()).map_err(|e| err(&e))?;
            Ok(format!(
                "swapped from {:?}",
                before.map(|b| String::from_utf8_lossy(&b).into_owned())
            ))
        }
        _ => {
            let store = Store::open_default().await.map_err(|e| err(&e))?;
            match parts {
                ["set", key, value] => store
                    .set(key, value.as_bytes())
                    .await
                    .map(|_| "set".into())
                    .map_err(|e| err(&e)),
                ["get", key] => match store.get(key).await.map_err(|e| err(&e))? {
                    Some(value) => Ok(String::from_utf8_lossy(&value).into_owned()),
                    None => Err("absent".into()),
                },
                ["delete", key] => store
                    .delete(key)
                    .await
                    .map(|_| "deleted".into())
                    .map_err(|e| err(&e)),
                ["exists", key] => store
                    .exists(key)
                    .await
                    .map(|b| b.to_string())
                    .map_err(|e| err(&e)),
                ["keys"] => store
                    .get_keys()
                    .await
                    .collect()
                    .await
                    .map(|k| k.join(","))
                    .map_err(|e| err(&e)),
                _ => Err(format!("unknown probe {parts:?}")),
            }
        }
    }
}
