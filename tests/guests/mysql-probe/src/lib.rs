//! A test guest for `spin:mysql/mysql@3.0.0` (spin-sdk 7's `spin_sdk::mysql`): a POST's JSON
//! body names an address and steps, `{"address": "mysql://...", "steps": [{"execute": SQL,
//! "params": [P...]}, {"query": SQL, "params": [P...]}, ...]}`, with each parameter one
//! variant, `{"int8": -128}`, `{"str": "é"}`, `{"binary": [0, 255]}`, `{"db-null": null}`.
//! It opens the address and runs every step on that connection, answering JSON:
//! `{"open": {"error-variant": "message"}}` if `open` failed, else `{"steps": [...]}` with,
//! per step, `"ok"` (an execute), `{"columns": [[name, type]...], "rows": [[V...]...]}` (a
//! query; values as parameters are written, the rows read one by one from the stream), or
//! `{"error": {"error-variant": "message"}}`.

use http_body_util::BodyExt;
use serde_json::{Value as Json, json};
use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::mysql::{Connection, DbDataType, DbValue, MysqlError, ParameterValue};

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return (StatusCode::BAD_REQUEST, format!("body: {e:?}")),
    };
    let input: Json = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    (StatusCode::OK, run(&input).await.to_string())
}

async fn run(input: &Json) -> Json {
    let address = input["address"].as_str().unwrap_or_default();
    let connection = match Connection::open(address).await {
        Ok(connection) => connection,
        Err(e) => return json!({ "open": sdk_error(e) }),
    };
    let mut steps = Vec::new();
    for step in input["steps"].as_array().into_iter().flatten() {
        let params: Vec<ParameterValue> = step["params"]
            .as_array()
            .into_iter()
            .flatten()
            .map(parameter)
            .collect();
        let outcome = if let Some(statement) = step["execute"].as_str() {
            match connection.execute(statement, params).await {
                Ok(()) => json!("ok"),
                Err(e) => json!({ "error": sdk_error(e) }),
            }
        } else {
            let statement = step["query"].as_str().unwrap_or_default();
            match query(&connection, statement, params).await {
                Ok(result) => result,
                Err(e) => json!({ "error": error(e) }),
            }
        };
        steps.push(outcome);
    }
    json!({ "steps": steps })
}

async fn query(
    connection: &Connection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<Json, MysqlError> {
    let mut result = match connection.query(statement, params).await {
        Ok(result) => result,
        Err(spin_sdk::mysql::Error::MysqlError(e)) => return Err(e),
        Err(e) => return Err(MysqlError::Other(e.to_string())),
    };
    let columns: Vec<Json> = result
        .columns()
        .iter()
        .map(|c| json!([c.name, data_type(c.data_type)]))
        .collect();
    let mut rows = Vec::new();
    while let Some(row) = result.rows().next().await {
        rows.push(Json::Array(row.iter().map(value).collect()));
    }
    match result.result().await {
        Ok(()) => Ok(json!({ "columns": columns, "rows": rows })),
        Err(spin_sdk::mysql::Error::MysqlError(e)) => Err(e),
        Err(e) => Err(MysqlError::Other(e.to_string())),
    }
}

fn sdk_error(e: spin_sdk::mysql::Error) -> Json {
    match e {
        spin_sdk::mysql::Error::MysqlError(e) => error(e),
        other => json!({ "sdk": other.to_string() }),
    }
}

fn error(e: MysqlError) -> Json {
    match e {
        MysqlError::ConnectionFailed(m) => json!({ "connection-failed": m }),
        MysqlError::BadParameter(m) => json!({ "bad-parameter": m }),
        MysqlError::QueryFailed(m) => json!({ "query-failed": m }),
        MysqlError::ValueConversionFailed(m) => json!({ "value-conversion-failed": m }),
        MysqlError::Other(m) => json!({ "other": m }),
    }
}

fn parameter(p: &Json) -> ParameterValue {
    let (kind, v) = p
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("a parameter is a one-key object");
    match kind.as_str() {
        "boolean" => ParameterValue::Boolean(v.as_bool().unwrap()),
        "int8" => ParameterValue::Int8(v.as_i64().unwrap() as i8),
        "int16" => ParameterValue::Int16(v.as_i64().unwrap() as i16),
        "int32" => ParameterValue::Int32(v.as_i64().unwrap() as i32),
        "int64" => ParameterValue::Int64(v.as_i64().unwrap()),
        "uint8" => ParameterValue::Uint8(v.as_u64().unwrap() as u8),
        "uint16" => ParameterValue::Uint16(v.as_u64().unwrap() as u16),
        "uint32" => ParameterValue::Uint32(v.as_u64().unwrap() as u32),
        "uint64" => ParameterValue::Uint64(v.as_u64().unwrap()),
        "floating32" => ParameterValue::Floating32(v.as_f64().unwrap() as f32),
        "floating64" => ParameterValue::Floating64(v.as_f64().unwrap()),
        "str" => ParameterValue::Str(v.as_str().unwrap().to_string()),
        "binary" => ParameterValue::Binary(
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect(),
        ),
        _ => ParameterValue::DbNull,
    }
}

fn value(v: &DbValue) -> Json {
    match v {
        DbValue::Boolean(b) => json!({ "boolean": b }),
        DbValue::Int8(i) => json!({ "int8": i }),
        DbValue::Int16(i) => json!({ "int16": i }),
        DbValue::Int32(i) => json!({ "int32": i }),
        DbValue::Int64(i) => json!({ "int64": i }),
        DbValue::Uint8(i) => json!({ "uint8": i }),
        DbValue::Uint16(i) => json!({ "uint16": i }),
        DbValue::Uint32(i) => json!({ "uint32": i }),
        DbValue::Uint64(i) => json!({ "uint64": i }),
        DbValue::Floating32(f) => json!({ "floating32": f }),
        DbValue::Floating64(f) => json!({ "floating64": f }),
        DbValue::Str(s) => json!({ "str": s }),
        DbValue::Binary(b) => json!({ "binary": b }),
        DbValue::DbNull => json!({ "db-null": null }),
        DbValue::Unsupported => json!({ "unsupported": null }),
    }
}

fn data_type(t: DbDataType) -> &'static str {
    match t {
        DbDataType::Boolean => "boolean",
        DbDataType::Int8 => "int8",
        DbDataType::Int16 => "int16",
        DbDataType::Int32 => "int32",
        DbDataType::Int64 => "int64",
        DbDataType::Uint8 => "uint8",
        DbDataType::Uint16 => "uint16",
        DbDataType::Uint32 => "uint32",
        DbDataType::Uint64 => "uint64",
        DbDataType::Floating32 => "floating32",
        DbDataType::Floating64 => "floating64",
        DbDataType::Str => "str",
        DbDataType::Binary => "binary",
        DbDataType::Other => "other",
    }
}
