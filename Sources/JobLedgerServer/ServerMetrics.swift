import CoreMetrics
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerSQLite
import Prometheus

/// The metrics `/metrics` shows: a swift-metrics factory over a Prometheus registry, to give
/// the engine (`JobEngine.Options.metrics`) without bootstrapping the process-wide system.
public enum ServerMetrics {
    /// A factory that records into `registry`.
    public static func factory(_ registry: PrometheusCollectorRegistry) -> any MetricsFactory {
        PrometheusMetricsFactory(registry: registry)
    }

    /// Puts the series counted only when something happens into `registry` at 0, so that
    /// `/metrics` has them from the start (an alert on `jobledger_storage_paused == 1` or on
    /// `jobledger_projection_dead_total` had nothing to evaluate until the first event):
    /// `jobledger_storage_faults_total` (each kind) and `jobledger_storage_paused` for the
    /// server's own requests, and for the engine and the runner when they record into a factory
    /// of their own (`Options.metrics`, as `serve` gives them this registry), and
    /// `jobledger_projection_{failed,dead}_total` for each of the runner's effect projections.
    static func registerAtZero(_ registry: PrometheusCollectorRegistry, engine: JobEngine, runner: ProjectionRunner?) {
        let factory = Self.factory(registry)
        LedgerMetrics(component: "server", factory: factory).registerStorageSeries()
        if engine.options.metrics != nil { LedgerMetrics(component: "engine", factory: factory).registerStorageSeries() }
        guard let runner, runner.options.metrics != nil else { return }
        let projections = LedgerMetrics(component: "projections", factory: factory)
        projections.registerStorageSeries()
        for name in runner.effects { projections.registerEffectSeries(projection: name.rawValue) }
    }
}
