import ArgumentParser
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running job (recorded as an event).")

    @OptionGroup var log: LogOptions
    @OptionGroup var storage: StorageWaitOptions
    @Argument(help: "The job id.") var job: String
    @Option(help: "Why, for the record (default: canceled by operator).") var reason: String?

    /// A blank reason was recorded as one, and read back as `()` (`was already canceled at … ()`).
    func validate() throws {
        if let reason, reason.allSatisfy(\.isWhitespace) {
            throw ValidationError("--reason is \(reason.isEmpty ? "empty" : "only white space"): give the reason, or leave the option out for the default (canceled by operator)")
        }
    }

    func run() async throws {
        try await guarded {
            let id = try wrap { () throws(InvalidJobID) in try JobID(job) }
            let ledger = try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try log.open(create: false) }
            defer { closeLog(ledger) }
            // Canceled already: nothing to do, as the API answers 200 again (a cancel repeated
            // after a lost answer is no failure). But said, with when and why: the new reason was
            // dropped without a word.
            if let s = try await ledger.state(of: id), s.status == .canceled {
                let when = (s.finishedAt ?? s.updatedAt).iso8601
                printErr("jobledger: job \(id) was already canceled at \(when) (\(terminalSafe(s.cancelReason ?? "no reason given"))); nothing was written"
                         + (reason == nil ? "" : ", and the reason given now was not recorded"))
                print("\(id): canceled")
                return
            }
            let engine = quietEngine(ledger)
            let reason = self.reason ?? "canceled by operator"
            try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try await engine.cancel(id, reason: reason) }
            let s = try await ledger.state(of: id)
            // A job that finished first is not canceled, and saying its state with exit 0 read
            // as success (the API answers 409 already-finished).
            if let s, s.status == .completed || s.status == .failed {
                throw fail("job \(id) had already finished (\(s.status.rawValue)) and cannot be canceled; nothing was written", code: 3)
            }
            print("\(id): \(s?.status.rawValue ?? "unknown")")
        }
    }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Requeue a failed job (a dead letter) as a recorded event.")

    @OptionGroup var log: LogOptions
    @OptionGroup var storage: StorageWaitOptions
    @Argument(help: "The job id.") var job: String
    @Option(help: "How many more attempts it gets, \(OptionRanges.attempts.bounds).") var attempts: Int = 1

    func validate() throws { try OptionRanges.attempts.check(attempts) }

    func run() async throws {
        try await guarded {
            let id = try wrap { () throws(InvalidJobID) in try JobID(job) }
            let ledger = try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try log.open(create: false) }
            defer { closeLog(ledger) }
            let engine = quietEngine(ledger)
            // Said as the API says it, rather than as the lifecycle refuses the requeue event.
            func notFailed(_ s: JobState, _ why: String = "") -> ExitCode {
                fail("only a failed job can be retried; job \(id) is \(s.status.rawValue)\(why)", code: 3)
            }
            if let s = try await ledger.state(of: id), s.status != .failed { throw notFailed(s) }
            do {
                try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try await engine.retry(id, attempts: attempts) }
            } catch let e as LedgerError {
                // Another retry (a second process, the API) requeued it between the check and the
                // append, and the log refused this one: said as the check says it.
                switch e {
                case .rejected, .concurrencyConflict:
                    if let s = try await ledger.state(of: id), s.status != .failed { throw notFailed(s, " (another retry requeued it just now)") }
                default: break
                }
                throw e
            }
            print("\(id): queued again with \(attempts) more attempt\(attempts == 1 ? "" : "s")")
        }
    }
}

/// An engine for one-off commands (submit, cancel, retry): logs only warnings (unless
/// `JOBLEDGER_LOG_LEVEL` says otherwise), so stdout and stderr carry just the command's own output.
func quietEngine(_ ledger: Ledger) -> JobEngine {
    var o = JobEngine.Options()
    o.logger = cliLogger("jobledger.engine")
    return JobEngine(ledger: ledger, options: o)
}
