import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// What a handler or a caller hands the engine that the log cannot record. A `JobError` whose
/// code is not 1…200 bytes, or whose message makes the `failed` event too large, left nothing
/// recorded: the job stayed `running` until a sweep called it `lease_expired` (and ran it again,
/// though the error said not to). A cancel reason too large was accepted, the handler cancelled,
/// and nothing recorded: the job ran again once its lease passed.
@Suite struct UnrecordableOutcomeTests {
    func lastFailure(_ f: Fixture, _ job: JobID) throws -> EventPayload.Failed? {
        var last: EventPayload.Failed?
        try f.ledger.forEachEvent(of: job) { e in if case .failed(let x) = e.payload { last = x } }
        return last
    }

    @Test func anErrorWithACodeTheLogRefusesIsRecordedAsInvalidError() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "long") { _ in throw JobError(code: String(repeating: "x", count: 300), message: "upstream said no", retryable: false) }
        engine.register(kind: "empty") { _ in throw JobError(code: "", message: "no code", retryable: true) }
        let long = try await engine.submit(kind: "long")
        let empty = try await engine.submit(kind: "empty", maxAttempts: 1)
        #expect(try await engine.tick() == 2)

        let a = try #require(try engine.state(of: long))
        #expect(a.status == .failed && a.attempt == 1)
        let fa = try #require(try lastFailure(f, long))
        #expect(fa.code == "invalid_error" && !fa.retryable)
        #expect(fa.message.contains("'code' must be 1…200 bytes long") && fa.message.contains("upstream said no"))
        let b = try #require(try engine.state(of: empty))
        #expect(b.status == .failed)
        #expect(try lastFailure(f, empty)?.code == "invalid_error")
        #expect(try f.types(long) == [.queued, .started, .failed])
    }

    /// 4,000 characters can be far more than 64 KiB: a message of family emoji.
    @Test func anErrorMessageOverThePayloadLimitIsRecordedShortened() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in throw JobError(code: "render", message: String(repeating: "👨‍👩‍👧‍👦", count: 4_000), retryable: true) }
        let job = try await engine.submit(kind: "k", maxAttempts: 2)
        #expect(try await engine.tick() == 1)
        let s = try #require(try engine.state(of: job))
        #expect(s.status == .queued, "retryable, as thrown")
        let failure = try #require(try lastFailure(f, job))
        #expect(failure.code == "invalid_error" && failure.retryable)
        #expect(failure.message.contains("it was code 'render'"))
        #expect(failure.message.utf8.count < 4_000)
    }

    @Test func aCancelReasonTooLargeIsRefusedAndCancelsNothing() async throws {
        let f = try Fixture()
        let engine = f.engine()
        let started = Recorder<Bool>()
        engine.register(kind: "k") { ctx in
            started.add(true)
            try await Task.sleep(for: .seconds(3_600))  // until cancelled
            return JobCompletion()
        }
        let queued = try await engine.submit(kind: "k", runAt: f.clock.now().adding(milliseconds: 60_000))
        let huge = String(repeating: "r", count: 70_000)
        await #expect(throws: LedgerError.self) { try await engine.cancel(queued, reason: huge) }
        #expect(try f.types(queued) == [.queued])

        let running = try await engine.submit(kind: "k")
        let work = Task { try await engine.tick() }
        await until("the attempt runs") { !started.all.isEmpty }
        do {
            try await engine.cancel(running, reason: huge)
            Issue.record("a reason over the payload limit was accepted")
        } catch let LedgerError.payloadTooLarge(job, size, limit) {
            #expect(job == running && size > limit && limit == 64 * 1024)
        }
        #expect(try engine.state(of: running)?.status == .running)
        try await engine.cancel(running, reason: "user closed the tab")
        _ = try await work.value
        #expect(try engine.state(of: running)?.cancelReason == "user closed the tab")
    }
}
