import Foundation
import JobLedger
@testable import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// A runner paused by a storage fault with nothing left to write (a lease renewal was what
/// failed) tried no write of its own: on an idle node its projections stayed paused after the
/// disk had room again, and `serve`'s /readyz said 503 for minutes, until another process
/// appended. It tries a write (`probeWrite`) when its next try is due and its step had nothing
/// to do, and resumes.
@Suite(.timeLimit(.minutes(1)))
struct IdlePauseTests {
    @Test func aPausedRunnerWithNothingToWriteResumesOnceAWriteSucceeds() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("jobs.sqlite"))  // the wall clock: the backoff is real
        let job = try JobID("job-1")
        _ = try await ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "k"))))
        _ = try await ledger.append(NewEvent(job: job, payload: .canceled(.init(reason: "test"))))
        var o = ProjectionRunner.Options(owner: "test")
        o.pollInterval = .milliseconds(5)
        o.storageFaults = StorageFaultPolicy(firstRetry: .milliseconds(10), maxRetry: .milliseconds(50))
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: ledger, blobs: LocalFolderBlobStore(path: dir.path("blobs")), broadcasts: BroadcastHub(), options: o)
        _ = try await runner.catchUp()  // nothing left to write
        runner.storage.failed(StorageFault(kind: .full, path: ledger.path, detail: "the disk was full"), during: "renewing a lease")
        #expect(runner.storageFault != nil)
        let live = Task { try await runner.runLive() }
        defer { live.cancel() }
        await until("the runner to find the storage writable again", within: .seconds(20)) { runner.storageFault == nil }
    }
}
