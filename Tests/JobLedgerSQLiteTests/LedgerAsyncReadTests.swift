import Dispatch
import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The log's async reads give their reader connection back on the reader's own queue, not once
/// the awaiting task runs again. GRDB's async `read` gave it back only then; so when every thread
/// that could run those tasks was itself waiting in a synchronous read for a reader (the
/// cooperative pool has one thread per core, and `serve`'s routes and the engine's claim round
/// read synchronously), no reader came back and the process hung for good: `serve` under a few
/// dozen concurrent requests stopped answering anything, `/healthz` and SIGTERM included.
@Suite struct LedgerAsyncReadTests {
    /// Runs tasks on one serial queue: a cooperative pool of one thread, which a test can fill.
    final class OneThreadExecutor: TaskExecutor, @unchecked Sendable {
        let queue = DispatchQueue(label: "jobledger-tests.one-thread-executor")
        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
    }

    /// A read that waits on the calling thread (what `serve`'s routes do).
    static func readNow(_ ledger: Ledger, _ job: JobID) throws -> JobState? { try ledger.state(of: job) }

    @Test func aSynchronousReadGetsAReaderWhileAsyncReadsWaitForItsThread() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config())
        let job = jid("job-a")
        _ = try await ledger.append(NewEvent(job: job, payload: queued))
        let executor = OneThreadExecutor()
        let done = DispatchSemaphore(value: 0)
        // More async readers than the pool has connections (5), each started before the
        // synchronous reads take the one thread: their reads finish while that thread is busy,
        // and each must give its connection back without it.
        let work = Task(executorPreference: executor) {
            defer { done.signal() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask { for _ in 0..<20 { _ = try await ledger.state(of: job) } }
                }
                group.addTask { for _ in 0..<500 { _ = try Self.readNow(ledger, job) } }
                try await group.waitForAll()
            }
        }
        // A watchdog on a thread of its own: on the old code the work never finishes.
        let finished = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async { c.resume(returning: done.wait(timeout: .now() + 60) == .success) }
        }
        #expect(finished, "the reads did not finish within 60 s: the one thread waits for a reader that only it can give back")
        if finished { try await work.value }
    }
}
