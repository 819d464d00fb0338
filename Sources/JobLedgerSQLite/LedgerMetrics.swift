import Logging
import Metrics

/// The metrics the engine and the projection runner report, in one place: every metric's name,
/// its labels, and the factory they go to (the one given in their options, else the process's
/// `MetricsSystem`). Both components count through it, and both report their storage pauses
/// through `storageObserver`, so the names a dashboard reads cannot drift apart.
///
/// | metric | kind | labels |
/// | --- | --- | --- |
/// | `jobledger_jobs_{submitted,started,completed,failed,retried,claims_lost}_total` | counter | `kind` |
/// | `jobledger_job_queue_wait`, `jobledger_job_run_time` (ms) | timer | `kind` |
/// | `jobledger_projection_{applied,ingested,delivered,failed,dead}_total` | counter | `projection` |
/// | `jobledger_storage_faults_total` | counter | `component` (`engine`, `projections`), `kind` |
/// | `jobledger_storage_paused` (1 while paused) | gauge | `component` |
package struct LedgerMetrics: Sendable {
    /// Which part of JobLedger reports: `engine` or `projections`.
    package let component: String
    private let given: (any MetricsFactory)?

    /// `factory`: where the metrics go (nil: `MetricsSystem.factory`, read at each report, so a
    /// factory bootstrapped later is still used).
    package init(component: String, factory: (any MetricsFactory)?) {
        self.component = component
        self.given = factory
    }

    private var factory: any MetricsFactory { given ?? MetricsSystem.factory }

    /// A job of `kind` was submitted, started, completed, failed or retried, or an attempt lost its claim (`what`).
    package func countJob(_ what: String, kind: String) {
        Counter(label: "jobledger_jobs_\(what)_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    /// How long a job of `kind` waited (`queue_wait`) or ran (`run_time`).
    package func timeJob(_ what: String, kind: String, milliseconds: Int64) {
        Metrics.Timer(label: "jobledger_job_\(what)", dimensions: [("kind", kind)], factory: factory)
            .recordMilliseconds(max(0, milliseconds))
    }

    /// `n` events applied, items taken in, delivered, failed or dead (`what`) by `projection`.
    package func countProjection(_ what: String, projection: String, _ n: Int) {
        guard n > 0 else { return }
        projectionCounter(what, projection: projection).increment(by: Int64(n))
    }

    /// Makes this component's storage series exist before its first fault: the paused gauge at
    /// 0 and the fault counter at 0 for each kind. Until then an alert such as
    /// `jobledger_storage_paused == 1` had no series to evaluate.
    package func registerStorageSeries() {
        for kind in StorageFault.Kind.allCases { _ = faultCounter(kind) }
        pausedGauge().record(0)
    }

    /// Makes an effect projection's `failed` and `dead` counters exist at 0 before its first
    /// failed or dead item.
    package func registerEffectSeries(projection: String) {
        for what in ["failed", "dead"] { _ = projectionCounter(what, projection: projection) }
    }

    private func projectionCounter(_ what: String, projection: String) -> Counter {
        Counter(label: "jobledger_projection_\(what)_total", dimensions: [("projection", projection)], factory: factory)
    }

    private func faultCounter(_ kind: StorageFault.Kind) -> Counter {
        Counter(label: "jobledger_storage_faults_total", dimensions: [("component", component), ("kind", kind.rawValue)], factory: factory)
    }

    private func pausedGauge() -> Gauge {
        Gauge(label: "jobledger_storage_paused", dimensions: [("component", component)], factory: factory)
    }

    /// Logs (to `logger`) and counts what a `StoragePause` of this component reports.
    package func storageObserver(logger: Logger) -> @Sendable (StoragePause.Event) -> Void {
        let metrics = self
        return { event in
            switch event {
            case .note(let note, let message):
                var l = logger
                l[metadataKey: "path"] = "\(note.fault.path)"
                l[metadataKey: "fault"] = "\(note.fault.kind.rawValue)"
                l.log(level: note.isStart ? .error : .warning, "\(message)")
            case .failedTry(let fault):
                metrics.faultCounter(fault.kind).increment()
            case .paused(let paused):
                metrics.pausedGauge().record(paused ? 1 : 0)
            }
        }
    }
}
