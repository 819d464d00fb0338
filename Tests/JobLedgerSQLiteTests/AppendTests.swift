import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Testing

@Suite struct AppendTests {
    @Test func roundTripOnARealFile() async throws {
        let dir = TempDir()
        let clock = TestClock()
        let path = dir.path("log.sqlite")
        do {
            let ledger = try Ledger.open(path: path, configuration: config(clock: clock))
            for e in lifecycle(jid("job-1")) {
                clock.advance(10)
                _ = try await ledger.append(e)
            }
        }
        // Reopen: everything is read back from the file, in order, with the clock's times.
        let ledger = try Ledger.open(path: path, configuration: config(clock: clock), create: false)
        var seen: [StoredEvent] = []
        try ledger.forEachEvent { seen.append($0) }
        #expect(seen.map(\.seq) == [1, 2, 3, 4, 5, 6])
        #expect(seen.map(\.version) == [1, 2, 3, 4, 5, 6])
        #expect(seen.map(\.payload) == lifecycle(jid("job-1")).map(\.payload))
        let expectedTimes: [Int64] = (1...6).map { (i: Int) -> Int64 in 1_795_000_000_000 + Int64(i) * 10 }
        #expect(seen.map(\.recordedAt.milliseconds) == expectedTimes)
        #expect(seen[0].prevHash == HashChain.genesis)
        #expect(zip(seen.dropFirst(), seen).allSatisfy { $0.prevHash == $1.hash })
        let state = try #require(try await ledger.state(of: jid("job-1")))
        #expect(state.status == .completed)
        #expect(state.output == .object(["ok": .bool(true)]))
        #expect(try ledger.head() == ChainHead(seq: 6, hash: seen[5].hash))
        #expect(try ledger.verify().isValid)
    }

    @Test func refusedEventWritesNothing() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        for e in lifecycle(jid("j")) { _ = try await ledger.append(e) }
        let head = try ledger.head()
        let error = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("j"), payload: progress(0.9))) }
        guard case .rejected(let l) = error else { Issue.record("expected rejection, got \(String(describing: error))"); return }
        #expect(l.rule == .terminal && l.state == .completed && l.event == .progress)
        let unknown = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("nobody"), payload: started())) }
        #expect(unknown == .rejected(LifecycleError(job: jid("nobody"), state: nil, event: .started, rule: .unknownJob)))
        #expect(try ledger.head() == head)
        #expect(try ledger.eventCount() == 6)
    }

    @Test func aBatchIsAllOrNothing() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let error = await expectLedgerError {
            _ = try await ledger.append([NewEvent(job: jid("a"), payload: queued), NewEvent(job: jid("a"), payload: progress(0.5))])
        }
        #expect(error == .rejected(LifecycleError(job: jid("a"), state: .queued, event: .progress, rule: .notRunning)))
        #expect(try ledger.eventCount() == 0)
        let ok = try await ledger.append([NewEvent(job: jid("a"), payload: queued), NewEvent(job: jid("a"), payload: started())])
        #expect(ok.map(\.version) == [1, 2])
    }

    @Test func payloadOverTheLimitIsRefused() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config(maxPayload: 200))
        let big = EventPayload.queued(.init(kind: "design", input: .string(String(repeating: "x", count: 300))))
        let error = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("big"), payload: big)) }
        guard case .payloadTooLarge(_, let size, let limit) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(size > 300 && limit == 200)
        #expect(try ledger.eventCount() == 0)
    }

    @Test func payloadsBuiltInSwiftAreCheckedLikeDecodedOnes() async throws {
        // A payload value outside the rules (that the log could not read back) is refused.
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        for bad in [EventPayload.queued(.init(kind: "design", maxAttempts: 0)),
                    .queued(.init(kind: "")),
                    .queued(.init(kind: "k", priority: 2_000_000)),
                    .queued(.init(kind: "k", runAt: Timestamp(milliseconds: 253_402_300_800_000))),  // year 10000
                    .started(.init(worker: "w", attempt: 0, leaseDeadline: .now))] {
            let e = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("j"), payload: bad)) }
            guard case .invalidPayload = e else { Issue.record("got \(String(describing: e)) for \(bad)"); continue }
        }
        #expect(try ledger.eventCount() == 0)
    }

    @Test func idempotencyKeyReturnsTheOriginalAndWritesNothing() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let first = try await ledger.append(NewEvent(job: jid("first"), payload: queued, idempotencyKey: "req-42"))
        let again = try await ledger.append(NewEvent(job: jid("second"), payload: queued, idempotencyKey: "req-42"))
        #expect(again == first)
        #expect(again.job == jid("first"))
        #expect(try ledger.eventCount() == 1)
        #expect(try await ledger.state(of: jid("second")) == nil)
        // Within one batch too.
        let batch = try await ledger.append([NewEvent(job: jid("third"), payload: queued, idempotencyKey: "k"),
                                             NewEvent(job: jid("fourth"), payload: queued, idempotencyKey: "k")])
        #expect(batch[0] == batch[1])
        #expect(try ledger.eventCount() == 2)
        // A key out of bounds is bad input, refused before it reaches the table's CHECK.
        for bad in ["", String(repeating: "k", count: 257)] {
            let e = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("x"), payload: queued, idempotencyKey: bad)) }
            guard case .invalidPayload = e else { Issue.record("got \(String(describing: e))"); continue }
        }
        #expect(try ledger.eventCount() == 2)
    }

    @Test func expectedVersionGuardsAgainstLostUpdates() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        _ = try await ledger.append(NewEvent(job: jid("j"), payload: queued, expectedVersion: 0))
        let error = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("j"), payload: started(), expectedVersion: 0)) }
        #expect(error == .concurrencyConflict(job: jid("j"), expected: 0, actual: 1))
        let s = try await ledger.append(NewEvent(job: jid("j"), payload: started(), expectedVersion: 1))
        #expect(s.version == 2)
    }

    @Test func twoConnectionsRacingForTheSameVersionExactlyOneWins() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let a = try Ledger.open(path: path)
        let b = try Ledger.open(path: path)
        for round in 0..<20 {
            let job = jid("race-\(round)")
            _ = try await a.append(NewEvent(job: job, payload: queued))
            // Each connection has seen version 1; both try to be version 2.
            async let ra: Result<StoredEvent, LedgerError> = result { try await a.append(NewEvent(job: job, payload: started(worker: "a"), expectedVersion: 1)) }
            async let rb: Result<StoredEvent, LedgerError> = result { try await b.append(NewEvent(job: job, payload: started(worker: "b"), expectedVersion: 1)) }
            let results = await [ra, rb]
            let wins = results.filter { if case .success = $0 { true } else { false } }
            #expect(wins.count == 1)
            for r in results { if case .failure(let e) = r { #expect(e == .concurrencyConflict(job: job, expected: 1, actual: 2)) } }
        }
        #expect(try a.verify().isValid)
    }

    @Test func aStaleCacheInAnotherConnectionNeverLetsAnIllegalEventIn() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let a = try Ledger.open(path: path)
        let b = try Ledger.open(path: path)
        _ = try await a.append([NewEvent(job: jid("j"), payload: queued), NewEvent(job: jid("j"), payload: started())])
        // b completes the job; a still has it cached as running.
        _ = try await b.append(NewEvent(job: jid("j"), payload: completed))
        let error = await expectLedgerError { _ = try await a.append(NewEvent(job: jid("j"), payload: progress(0.5))) }
        #expect(error == .rejected(LifecycleError(job: jid("j"), state: .completed, event: .progress, rule: .terminal)))
        #expect(try a.verify().isValid)
    }

    @Test func aCachedStateGoneStaleBeforeAnUnrelatedBatchIsNotTrusted() async throws {
        // a caches k; b moves k on; a appends to j (a batch that sees b's commit but not k);
        // a then appends to k: its cached k is stale and must not be trusted.
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let a = try Ledger.open(path: path)
        let b = try Ledger.open(path: path)
        _ = try await a.append([NewEvent(job: jid("j"), payload: queued), NewEvent(job: jid("k"), payload: queued)])
        _ = try await b.append(NewEvent(job: jid("k"), payload: started()))
        _ = try await a.append(NewEvent(job: jid("j"), payload: started()))
        let e = try await a.append(NewEvent(job: jid("k"), payload: progress(0.5)))
        #expect(e.version == 3)
        #expect(try a.verify().isValid)
    }

    /// A lone `queued` for a job the ledger has no state for is inserted first and checked by
    /// `UNIQUE(job_id, version)`; when the job exists, it is validated against the log instead.
    @Test func aQueuedForAJobNotInTheCacheIsValidatedAgainstTheLog() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let a = try Ledger.open(path: path)
        let b = try Ledger.open(path: path)
        // Terminal jobs leave the cache: a requeue of a completed job is refused, nothing written.
        for e in lifecycle(jid("done")) { _ = try await a.append(e) }
        let head = try a.head()
        let refused = await expectLedgerError { _ = try await a.append(NewEvent(job: jid("done"), payload: queued)) }
        #expect(refused == .rejected(LifecycleError(job: jid("done"), state: .completed, event: .queued, rule: .terminal)))
        #expect(try a.head() == head)
        // A dead-letter requeue of a failed job (not cached either) is legal: it lands at the next version.
        _ = try await a.append([NewEvent(job: jid("dead"), payload: queued), NewEvent(job: jid("dead"), payload: started())])
        _ = try await a.append(NewEvent(job: jid("dead"), payload: .failed(.init(code: "E", message: "no", retryable: false, attempt: 1))))
        let before = try #require(try a.head())
        let requeued = try await a.append(NewEvent(job: jid("dead"), payload: queued))
        #expect(requeued.version == 4 && requeued.seq == before.seq + 1 && requeued.prevHash == before.hash)
        #expect(try await a.state(of: jid("dead"))?.status == .queued)
        // A job another connection queued is unknown to b's cache: b's `queued` for it is refused.
        _ = try await a.append(NewEvent(job: jid("elsewhere"), payload: queued))
        let twice = await expectLedgerError { _ = try await b.append(NewEvent(job: jid("elsewhere"), payload: queued)) }
        #expect(twice == .rejected(LifecycleError(job: jid("elsewhere"), state: .queued, event: .queued, rule: .jobExists)))
        // A new job still starts at version 1, also with an expected version of 0.
        #expect(try await b.append(NewEvent(job: jid("fresh"), payload: queued, expectedVersion: 0)).version == 1)
        #expect(try a.eventCount() == 6 + 4 + 1 + 1)
        #expect(try a.verify().isValid)
    }

    /// A leader that forgot to resume a caller would hang here: the time limit turns that into
    /// a failure.
    @Test(.timeLimit(.minutes(2))) func concurrentAppendsAreGroupCommitted() async throws {
        let dir = TempDir()
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path, configuration: config(busy: .seconds(120)))
        // Another connection holds the write lock, so the first caller (the leader) waits in
        // SQLite while the other 63 queue up behind it.
        let holder = try rawQueue(path)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let tasks = (0..<64).map { t in
            Task { try await ledger.append(NewEvent(job: jid("t\(t)"), payload: queued)) }
        }
        // Wait (bounded, without sleeping) until all 64 requests have reached the committer.
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while ledger.receivedAppends < 64 && ContinuousClock.now < deadline { await Task.yield() }
        try await holder.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        #expect(ledger.receivedAppends == 64, "only \(ledger.receivedAppends) of 64 appends reached the committer within 120 s")
        for t in tasks { _ = try await t.value }
        // The leader's first batch (taken before it blocked), then everyone who queued behind
        // it: at most two transactions for 64 appends.
        #expect(ledger.appendTransactions <= 2)
        #expect(try ledger.eventCount() == 64)

        // And under free-running concurrency, every append still lands exactly once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<64 {
                group.addTask {
                    for e in lifecycle(jid("t\(t)")).dropFirst() { _ = try await ledger.append(e) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try ledger.eventCount() == 64 * 6)
        let report = try ledger.verify()
        #expect(report.isValid && report.jobs == 64)
    }

    @Test func recordedTimesComeFromTheInjectedClock() async throws {
        let dir = TempDir()
        let clock = TestClock()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config(clock: clock))
        let e = try await ledger.append(NewEvent(job: jid("j"), payload: .queued(.init(kind: "k", runAt: clock.current.adding(milliseconds: 1000)))))
        #expect(e.recordedAt == clock.current)
        let early = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("j"), payload: started())) }
        guard case .rejected(let l) = early, case .tooEarly = l.rule else { Issue.record("got \(String(describing: early))"); return }
        clock.advance(1000)
        _ = try await ledger.append(NewEvent(job: jid("j"), payload: started()))
    }

    @Test func assetsAreContentAddressedAndStoredOnce() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let bytes = Data("fake png bytes".utf8)
        let a = try await ledger.stageAsset(bytes, contentType: "image/png")
        let b = try await ledger.stageAsset(bytes, contentType: "image/png")
        #expect(a == b)
        #expect(a.sha256 == "86610c40efe63f0a46c58c4b605c164b4ffa3a3ad3f1dcf13e6ba4c59cb3ce16")
        #expect(a.size == Int64(bytes.count))
        #expect(try ledger.assetBytes(a.sha256) == bytes)
        #expect(try ledger.assetTotals().count == 1)
        #expect(throws: LedgerError.unknownAsset(sha256: String(repeating: "0", count: 64))) { try ledger.assetBytes(String(repeating: "0", count: 64)) }
    }
}

func result<T>(_ body: () async throws -> T) async -> Result<T, LedgerError> {
    do { return .success(try await body()) } catch let e as LedgerError { return .failure(e) } catch { return .failure(.storage("\(error)")) }
}
