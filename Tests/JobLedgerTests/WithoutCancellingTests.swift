import Synchronization
import Testing
@testable import JobLedger

/// `withoutCancelling`: the operation's own task is never cancelled; a cancelled caller stops
/// waiting at once.
@Suite struct WithoutCancellingTests {
    @Test func theOperationsResultAndErrorComeThrough() async throws {
        #expect(try await withoutCancelling { 42 } == 42)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await withoutCancelling { () async throws -> Int in throw Boom() } }
    }

    @Test func aCancelledCallerStopsWaitingWhileTheOperationRunsOnUncancelled() async throws {
        let (started, startedGo) = AsyncStream<Void>.makeStream()
        let (release, releaseGo) = AsyncStream<Void>.makeStream()
        let (ended, endedGo) = AsyncStream<Bool>.makeStream()
        let caller = Task {
            try await withoutCancelling { () async -> Int in
                startedGo.yield()
                for await _ in release { break }  // held until the test lets it go
                endedGo.yield(Task.isCancelled)
                return 1
            }
        }
        for await _ in started { break }
        caller.cancel()
        // The caller is released by the cancellation alone: the operation is still held.
        await #expect(throws: CancellationError.self) { try await caller.value }
        releaseGo.yield()
        var sawCancelled: Bool?
        for await c in ended { sawCancelled = c; break }
        #expect(sawCancelled == false, "the operation's task must never be cancelled")
    }

    @Test func aCallerCancelledBeforeItWaitsStillGetsCancellationError() async throws {
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await withoutCancelling { 7 }
        }
        // Either the operation won the race or the cancellation did; never a hang.
        do { #expect(try await caller.value == 7) } catch { #expect(error is CancellationError) }
    }

    @Test func aDeadlineEndsTheWaitAtItsTimeWhileTheOperationRunsOn() async throws {
        let (release, releaseGo) = AsyncStream<Void>.makeStream()
        let (ended, endedGo) = AsyncStream<Bool>.makeStream()
        let start = ContinuousClock.now
        do {
            _ = try await withoutCancelling(within: .milliseconds(300)) { () async -> Int in
                for await _ in release { break }  // held until the test lets it go
                endedGo.yield(Task.isCancelled)
                return 1
            }
            Issue.record("the deadline must end the wait")
        } catch let e as DeadlineExceeded {
            #expect(e.limit == .milliseconds(300))
        }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(300) && waited < .seconds(5), "\(waited)")
        releaseGo.yield()
        var sawCancelled: Bool?
        for await c in ended { sawCancelled = c; break }
        #expect(sawCancelled == false, "the operation's task must never be cancelled")
    }

    @Test func anOperationThatEndsInTimeIsNotCutShort() async throws {
        #expect(try await withoutCancelling(within: .seconds(30)) { 5 } == 5)
        #expect(wholeSecondsCovering(.milliseconds(1)) == 1 && wholeSecondsCovering(.milliseconds(999)) == 1)
        #expect(wholeSecondsCovering(.milliseconds(1000)) == 1 && wholeSecondsCovering(.milliseconds(1500)) == 2)
    }
}
