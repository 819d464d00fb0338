import CoreMetrics
import Prometheus

/// The metrics `/metrics` shows: a swift-metrics factory over a Prometheus registry, to give
/// the engine (`JobEngine.Options.metrics`) without bootstrapping the process-wide system.
public enum ServerMetrics {
    /// A factory that records into `registry`.
    public static func factory(_ registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        PrometheusMetricsFactory(registry: registry)
    }
}
