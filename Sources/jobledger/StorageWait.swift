import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

/// `--storage-wait`: how long a command waits out a storage fault (a full disk, an I/O error, a
/// log that became read-only or vanished) before it stops with exit 6.
struct StorageWaitOptions: ParsableArguments {
    static let defaultSeconds: Double = 5

    @Option(help: ArgumentHelp(
        "Seconds to wait out a storage fault before stopping with exit 6, \(OptionRanges.storageWait.bounds).",
        discussion: "Default: \(Int(StorageWaitOptions.defaultSeconds)) s for a command that ends; a long-running work or project waits until the fault clears. See Docs/Operations.md."))
    var storageWait: Double?

    func validate() throws { try OptionRanges.storageWait.check(storageWait) }

    /// The bound for a run that must end (`oneShot`), or nil: wait until the fault clears.
    func bound(oneShot: Bool) -> Duration? {
        if let storageWait { return .milliseconds(Int64((storageWait * 1000).rounded())) }
        return oneShot ? .seconds(Self.defaultSeconds) : nil
    }
}

/// Runs a command's write, retrying it with backoff while a storage fault lasts, for up to
/// `bound` (nil: until it clears); then stops with exit 6 and a message that names the cause,
/// what to do and (`nothingLost`) why nothing recorded is lost. Says once on stderr that it
/// waits, and once that the fault cleared. A fault of a kind in `notWaitedOut` stops it at once
/// (exit 6, the same message without the wait): `serve` at startup, on a log it may not write.
/// With `waitingOutLocks` (a long-running command opening its log: `work`, `serve`, `project`),
/// another writer's lock held past the busy timeout is waited out too, said once, for as long
/// as it lasts: such a command exited 5 when it started during a backup, as a one-shot does.
@discardableResult
func waitingOutStorageFaults<T>(_ bound: Duration?, nothingLost: String = "this command wrote nothing",
                                notWaitedOut: Set<StorageFault.Kind> = [], waitingOutLocks: Bool = false,
                                _ body: () async throws -> T) async throws -> T {
    let start = ContinuousClock.now
    var delay = Duration.milliseconds(100)
    var announced = false, announcedLock = false
    while true {
        do {
            let result = try await body()
            if announced { printErr("jobledger: the storage fault cleared after \(durationText(ContinuousClock.now - start)); going on") }
            if announcedLock && !announced { printErr("jobledger: the lock was released after \(durationText(ContinuousClock.now - start)); going on") }
            return result
        } catch let e as LedgerError {
            if waitingOutLocks, case .busy(let path, _) = e {
                if !announcedLock {
                    printErr("jobledger: \(path) is locked by another writer (a long transaction, a backup); waiting until it is released (stop with Ctrl-C)")
                    announcedLock = true
                }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
                continue
            }
            guard let fault = e.storageFault else { throw e }
            if notWaitedOut.contains(fault.kind) {
                throw fail("\(fault.summary). To fix: \(fault.remedy), then run the command again. Nothing recorded is lost: \(nothingLost).", code: 6)
            }
            let waited = ContinuousClock.now - start
            if let bound, waited >= bound { throw storageGaveUp(fault, bound: bound, nothingLost: nothingLost) }
            if !announced {
                let how = bound.map { "retrying for up to \(durationText($0)) (--storage-wait)" } ?? "waiting until it clears (stop with Ctrl-C)"
                printErr("jobledger: \(fault.summary); \(how). To fix: \(fault.remedy)")
                announced = true
            }
            try await Task.sleep(for: bound.map { min(delay, $0 - waited) } ?? delay)
            delay = min(delay * 2, .seconds(2))
        }
    }
}

/// The exit-6 refusal for a storage fault that outlasted `--storage-wait`.
func storageGaveUp(_ fault: StorageFault, bound: Duration, nothingLost: String) -> ExitCode {
    // In seconds, as the option is given (`--storage-wait 0` read "0 ms", other values seconds).
    let seconds = Double(bound.components.seconds) + Double(bound.components.attoseconds / 1_000_000_000_000_000) / 1000
    let gaveUp = "storage fault lasted longer than --storage-wait \(seconds.optionText) s, stopping: \(fault.summary)."
    // A deleted -wal or -shm took what was committed into it: not a promise this can make then.
    if fault.lostCompanionFile { return fail("\(gaveUp) To fix: \(fault.remedy).", code: 6) }
    return fail("\(gaveUp) To fix: \(fault.remedy), then run the command again (raise --storage-wait to wait longer). Nothing recorded is lost: \(nothingLost).",
                code: 6)
}

/// `JOBLEDGER_MAX_PAGE_COUNT`: caps the log at that many pages (SQLite's `max_page_count`), so
/// a full disk can be rehearsed without filling one (Docs/Operations.md). Nil when unset.
func maxPageCountFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
    guard let text = environment["JOBLEDGER_MAX_PAGE_COUNT"], !text.isEmpty else { return nil }
    guard let pages = Int(text), (1...4_294_967_294).contains(pages) else {
        throw ValidationError("JOBLEDGER_MAX_PAGE_COUNT must be a whole number of pages, 1…4294967294 (got '\(OptionTime.shown(text))')")
    }
    return pages
}
