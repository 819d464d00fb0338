import JobLedger
import JobLedgerSQLite
import Logging

/// Waiting out storage faults (a full disk, an I/O error, a log that became read-only or
/// vanished): every write the engine makes shares one `StoragePause`, so claims, lease sweeps,
/// heartbeats and outcomes all wait for the same next try, and one that succeeds resumes them
/// all. Metrics: `jobledger_storage_faults_total` (failed writes, by `kind`) and
/// `jobledger_storage_paused` (1 while paused), both with `component` = `engine`.
extension JobEngine {
    /// The storage fault the engine is waiting out and when it began; nil while storage works.
    /// For a health check: claims are paused meanwhile, and resume by themselves when it clears.
    public var storageFault: (fault: StorageFault, since: Timestamp)? { storage.current }

    /// Tells the pause about `error` when it is a storage fault; returns whether it was one.
    func noteStorageFault(_ error: any Error, during what: String) -> Bool {
        guard let fault = (error as? LedgerError)?.storageFault else { return false }
        storage.failed(fault, during: what)
        return true
    }

    /// Looks whether the log's file is still at its path (a file moved or deleted while open
    /// takes writes that no one will see): false, noted as a fault, when it is not. A file back
    /// in place ends a pause it caused.
    func checkFile(probing fault: StorageFault?) -> Bool {
        do {
            try ledger.checkFileIsThere()
        } catch {
            if error.makesTheLogUnreadable { state.withLock { $0.unreadable = error } }
            _ = noteStorageFault(error, during: "looking at the log's file")
            return false
        }
        if fault?.kind == .vanished { storage.succeeded() }
        return true
    }

    /// What is left of the current fault's `giveUpAfter`; nil while storage works or without one.
    func timeUntilGiveUp() -> Duration? {
        guard let limit = options.storageFaults.giveUpAfter, let (_, since) = storage.current else { return nil }
        let left = limit - .milliseconds(clock.now().milliseconds - since.milliseconds)
        return max(left, .milliseconds(1))
    }

    /// Stops waiting for storage: claims nothing more, cancels the running handlers and leaves
    /// the outcomes that cannot be written to the lease sweep, says so once, and throws the fault.
    func giveUp(_ fault: StorageFault) async throws -> Never {
        let tasks = state.withLock { s in
            s.draining = true
            s.abandoning = true
            return s.running.values.compactMap(\.task)
        }
        storage.wake()
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
        let limit = options.storageFaults.giveUpAfter.map(durationText) ?? "its limit"
        options.logger.error("giving up: the storage fault lasted longer than \(limit): \(fault.summary)\(unrecordedSummary())")
        throw LedgerError.storageFault(fault)
    }

    /// `; 2 outcomes not recorded (…)`, for the line that ends a wait, or "".
    func unrecordedSummary() -> String {
        let lost = state.withLock { s in defer { s.unrecorded.removeAll() }; return s.unrecorded }
        guard !lost.isEmpty else { return "" }
        return "; \(lost.count) event\(lost.count == 1 ? "" : "s") of running attempts not recorded (\(lost.prefix(5).joined(separator: ", "))\(lost.count > 5 ? ", …" : "")): "
            + "those jobs run again once their leases pass"
    }
}
