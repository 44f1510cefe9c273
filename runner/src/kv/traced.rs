//! A store whose every call is a span of the request that opened it (with telemetry on,
//! `host::key_value` opens guests' stores through this), and counted in the store-call
//! metric. Claims of periodic jobs never go through it.

use super::{KvResult, Store, TickClaim};
use crate::request_trace::RequestTrace;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub struct Traced {
    inner: Arc<dyn Store>,
    trace: RequestTrace,
    label: String,
}

impl Traced {
    pub fn new(inner: Arc<dyn Store>, label: &str, trace: RequestTrace) -> Self {
        Self {
            inner,
            trace,
            label: label.to_string(),
        }
    }

    fn span(&self, operation: &str) -> tracing::Span {
        crate::telemetry::record_store_call("key_value");
        let span = self.trace.child(&format!("key_value.{operation}"));
        span.record("otel.name", format!("key_value.{operation} {}", self.label));
        span
    }
}

#[async_trait]
impl Store for Traced {
    async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.inner.get(key).instrument(self.span("get")).await
    }

    async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.inner
            .set(key, value)
            .instrument(self.span("set"))
            .await
    }

    async fn delete(&self, key: &str) -> KvResult<()> {
        self.inner.delete(key).instrument(self.span("delete")).await
    }

    async fn exists(&self, key: &str) -> KvResult<bool> {
        self.inner.exists(key).instrument(self.span("exists")).await
    }

    async fn get_keys(&self) -> KvResult<Vec<String>> {
        self.inner
            .get_keys()
            .instrument(self.span("get_keys"))
            .await
    }

    async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.inner
            .increment(key, delta)
            .instrument(self.span("increment"))
            .await
    }

    async fn read_counter(&self, key: &str) -> KvResult<Option<i64>> {
        self.inner
            .read_counter(key)
            .instrument(self.span("read_counter"))
            .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        self.inner
            .compare_and_swap(key, expected, new)
            .instrument(self.span("compare_and_swap"))
            .await
    }

    async fn claim_tick(
        &self,
        job: &str,
        tick: i64,
        owner: &str,
        lease: Duration,
    ) -> KvResult<TickClaim> {
        self.inner.claim_tick(job, tick, owner, lease).await
    }

    async fn release_tick(&self, job: &str, owner: &str) -> KvResult<()> {
        self.inner.release_tick(job, owner).await
    }
}
