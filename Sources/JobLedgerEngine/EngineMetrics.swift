import JobLedger
import Logging
import Metrics

/// What the engine counts and times, and how its log lines are labelled.
extension JobEngine {
    // MARK: Metrics: jobledger_jobs_{submitted,started,completed,failed,retried}_total by kind;
    // jobledger_job_queue_wait (runnable → started) and jobledger_job_run_time (started → end).

    private var metricsFactory: any MetricsFactory { options.metrics ?? MetricsSystem.factory }

    func count(_ what: String, kind: String) {
        Counter(label: "jobledger_jobs_\(what)_total", dimensions: [("kind", kind)], factory: metricsFactory).increment()
    }

    func time(_ what: String, kind: String, milliseconds: Int64) {
        Metrics.Timer(label: "jobledger_job_\(what)", dimensions: [("kind", kind)], factory: metricsFactory)
            .recordMilliseconds(max(0, milliseconds))
    }

    func log(_ job: JobID) -> Logger {
        var l = options.logger
        l[metadataKey: "job"] = "\(job)"
        return l
    }
}
