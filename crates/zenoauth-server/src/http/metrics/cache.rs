//! The store caches in `/metrics`, read at each scrape: per cache
//! (`cache="applications"` …) hits, misses, hit rate and entries, plus
//! invalidation traffic and whether the caches are serving.

use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use zenoauth_store_cache::CachedStores;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

/// Where the server's caches are, once it has them (`serve` sets it).
pub type CacheSlot = Arc<OnceLock<CachedStores>>;

#[derive(Debug)]
pub(super) struct CacheCollector(pub(super) CacheSlot);

fn per_cache<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metrics: impl Iterator<Item = (&'static str, M)>,
    metric_type: prometheus_client::metrics::MetricType,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (cache, metric) in metrics {
        let labels = CacheLabels { cache };
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: M,
) -> Result<(), std::fmt::Error> {
    let family = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(family)
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        let Some(cached) = self.0.get() else { return Ok(()) };
        let stats = cached.stats();
        let caches = || stats.caches.iter();
        per_cache(
            &mut encoder,
            "zenoauth_cache_hits",
            "Lookups answered from a store cache",
            caches().map(|figures| (figures.name.as_str(), ConstCounter::new(figures.hits))),
            MetricType::Counter,
        )?;
        per_cache(
            &mut encoder,
            "zenoauth_cache_misses",
            "Lookups a store cache passed to the database",
            caches().map(|figures| (figures.name.as_str(), ConstCounter::new(figures.misses))),
            MetricType::Counter,
        )?;
        per_cache(
            &mut encoder,
            "zenoauth_cache_hit_ratio",
            "Hits over lookups since start",
            caches().map(|figures| (figures.name.as_str(), ConstGauge::new(figures.hit_rate()))),
            MetricType::Gauge,
        )?;
        per_cache(
            &mut encoder,
            "zenoauth_cache_entries",
            "Entries in a store cache (approximate)",
            caches().map(|figures| {
                (figures.name.as_str(), ConstGauge::new(i64::try_from(figures.entries).unwrap_or(i64::MAX)))
            }),
            MetricType::Gauge,
        )?;
        let count = |value: u64| ConstCounter::new(value);
        single(
            &mut encoder,
            "zenoauth_cache_bypassed",
            "Lookups sent to the database because the caches were not serving",
            count(stats.bypassed),
        )?;
        single(
            &mut encoder,
            "zenoauth_cache_invalidations",
            "Invalidations applied (local writes and other instances' messages)",
            count(stats.invalidations),
        )?;
        single(
            &mut encoder,
            "zenoauth_cache_invalidations_published",
            "Invalidations announced to other instances",
            count(stats.published),
        )?;
        single(
            &mut encoder,
            "zenoauth_cache_publish_failures",
            "Invalidations that could not be announced (other instances rely on the TTL)",
            count(stats.publish_failures),
        )?;
        single(
            &mut encoder,
            "zenoauth_cache_flushes",
            "Times every cache was emptied (invalidation listener connected or lost)",
            count(stats.flushes),
        )?;
        single(
            &mut encoder,
            "zenoauth_cache_serving",
            "1 while cached entries are served (caches on and, with PostgreSQL, the listener connected)",
            ConstGauge::new(i64::from(stats.serving)),
        )?;
        Ok(())
    }
}
