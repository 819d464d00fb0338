import JobLedger
import JobLedgerSQLite
import Logging

/// What the engine counts and times, and how its log lines are labelled.
extension JobEngine {
    // Metrics (names and labels in `LedgerMetrics`, shared with the projection runner):
    // jobledger_jobs_{submitted,started,completed,retried,claims_lost}_total by kind;
    // jobledger_job_queue_wait (runnable → started) and jobledger_job_run_time (started → end).

    var metrics: LedgerMetrics { LedgerMetrics(component: "engine", factory: options.metrics) }

    func count(_ what: String, kind: String) { metrics.countJob(what, kind: kind) }

    func time(_ what: String, kind: String, milliseconds: Int64) { metrics.timeJob(what, kind: kind, milliseconds: milliseconds) }

    func log(_ job: JobID) -> Logger {
        var l = options.logger
        l[metadataKey: "job"] = .string(job.rawValue)
        return l
    }

    /// Logs one message about a job. Its logger (the `job` metadata added to a copy) is made
    /// only when `level` is enabled: made for every claim and every outcome, at thousands of
    /// jobs a second, it was a measurable part of an engine's work for messages nobody saw.
    func log(_ job: JobID, _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
             metadata: @autoclosure () -> Logger.Metadata? = nil,
             file: String = #fileID, function: String = #function, line: UInt = #line) {
        guard options.logger.logLevel <= level else { return }
        log(job).log(level: level, message(), metadata: metadata(), file: file, function: function, line: line)
    }
}
