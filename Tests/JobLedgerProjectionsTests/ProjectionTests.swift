import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

@Suite struct ProjectionTests {
    @Test func jobsTableFollowsTheLogExactlyOnce() async throws {
        let f = try Fixture()
        let runner = f.runner()
        let a = try await f.appendHappyJob()
        let report = try await runner.catchUp()
        #expect(report.applied == 7)
        let rows = try f.ledger.storedJobRows()
        #expect(rows.count == 1 && rows[0].id == a && rows[0].state == .completed && rows[0].version == 7)
        // Nothing new: nothing applied again.
        #expect(try await runner.catchUp().applied == 0)
        #expect(try f.status(.jobs).applied == 7 && f.status(.jobs).checkpoint == 7)
        #expect(try rows == f.rebuiltRows().values.sorted { $0.id < $1.id })
    }

    @Test func blobsLandAtDeterministicPathnamesAndTheirURLsReachRowsAndMessages() async throws {
        let f = try Fixture()
        let hub = BroadcastHub()
        let messages = hub.subscribe()
        let store = LocalFolderBlobStore(path: f.dir.path("blobs"))
        let runner = f.runner(blobs: store, sink: hub, coalesce: false)
        let job = try await f.appendHappyJob(progressTicks: 1)
        try await runner.catchUp()
        let listed = try await store.list(prefix: "jobs/\(job)/")
        #expect(listed.map(\.pathname).count == 2)
        #expect(listed.allSatisfy { $0.pathname.hasPrefix("jobs/\(job)/lowres-") || $0.pathname.hasPrefix("jobs/\(job)/final-") })
        let row = try #require(try f.ledger.storedJobRows().first)
        #expect(row.previewURL == listed.first { $0.pathname.contains("/lowres-") }?.url)
        #expect(row.resultURL == listed.first { $0.pathname.contains("/final-") }?.url)
        #expect(FileManager.default.contents(atPath: URL(string: row.resultURL!)!.path) == Data("final-\(job)".utf8))
        hub.finish()
        var got: [Publication] = []
        for await p in messages { got.append(p) }
        #expect(got.map(\.message.type) == [.queued, .started, .progress, .lowres, .completed])
        try #require(got.count == 5)
        #expect(got.allSatisfy { $0.stream == "job:\(job)" })
        #expect(got[3].message.previewURL == row.previewURL)
        #expect(got[4].message.resultURL == row.resultURL && got[4].message.state == .completed)
        // A second pass re-uploads nothing and sends nothing.
        #expect(try await runner.catchUp() == ProjectionRunner.Report())
    }

    /// The hub is in the process: each message is stored as sent when its event is taken in
    /// and handed over as that commits; none waits for a second pass, none is coalesced, and a
    /// catch-up reports them as delivered.
    @Test func theHubGetsEveryMessageAsItsEventIsTakenIn() async throws {
        let f = try Fixture()
        let hub = BroadcastHub()
        let messages = hub.subscribe()
        let runner = f.runner(sink: hub)  // coalescing on: it must not touch what the hub got
        let job = try await f.appendHappyJob(progressTicks: 3)
        let report = try await runner.catchUp()
        let items = try f.ledger.outboxItems(.broadcast)
        #expect(items.count == 7)
        #expect(items.allSatisfy { $0.status == .sent && $0.attempts == 1 && $0.sentAt != nil }, "\(items.map(\.status))")
        #expect(report.delivered == 7 && hub.deliveredCount == 7)
        hub.finish()
        var got: [Publication] = []
        for await p in messages { got.append(p) }
        #expect(got.map(\.message.seq) == items.map(\.seq))
        #expect(got.map(\.message.type) == [.queued, .started, .progress, .progress, .progress, .lowres, .completed])
        #expect(got.allSatisfy { $0.stream == "job:\(job)" })
        #expect(try await runner.catchUp() == ProjectionRunner.Report())
    }

    /// Items still pending from another sink (a log that broadcast to AnyCable before, or a run
    /// that stopped first) go to the hub first, from the outbox, in order; only then are new ones
    /// handed over as they are taken in.
    @Test func pendingItemsReachTheHubBeforeAnythingTakenInAfterThem() async throws {
        let f = try Fixture()
        let down = ScriptedSink()
        down.down.withLock { $0 = .unavailable("503") }
        let first = try await f.appendHappyJob(progressTicks: 2)
        _ = try await f.runner(sink: down, coalesce: false).catchUp()
        let pending = try f.ledger.outboxItems(.broadcast).filter { $0.status == .pending }
        try #require(pending.count == 6)
        let hub = BroadcastHub()
        let messages = hub.subscribe()
        let runner = f.runner(sink: hub, coalesce: false)
        f.clock.advance(milliseconds: 60_000)  // past the failed try's backoff
        let second = try await f.appendHappyJob(progressTicks: 2)
        _ = try await runner.catchUp()
        let third = try await f.appendHappyJob(progressTicks: 2)
        _ = try await runner.catchUp()
        hub.finish()
        var got: [Publication] = []
        for await p in messages { got.append(p) }
        let items = try f.ledger.outboxItems(.broadcast)
        #expect(items.count == 18 && items.allSatisfy { $0.status == .sent })
        #expect(got.map(\.message.seq) == items.map(\.seq), "in seq order, each once")
        #expect(got.map(\.stream) == [first, second, third].flatMap { j in Array(repeating: "job:\(j)", count: 6) })
        // The third job's, taken in with nothing pending, were stored as sent by their one try.
        #expect(items.suffix(6).allSatisfy { $0.attempts == 1 })
        #expect(items.prefix(6).allSatisfy { $0.attempts == 2 })
    }

    @Test func aSinkFailingThreeTimesThenSucceedingDeliversEverythingOnceInOrder() async throws {
        let f = try Fixture()
        let down = SinkError.unavailable("503 Service Unavailable")
        let sink = ScriptedSink([down, down, down])
        let runner = f.runner(sink: sink, retry: RetryPolicy(baseMilliseconds: 1000, capMilliseconds: 4000), coalesce: false)
        try await f.appendHappyJob(progressTicks: 2)
        var report = try await runner.catchUp()
        #expect(report.failed > 0 && report.delivered == 0 && sink.received.isEmpty)
        var pending = try f.ledger.outboxItems(.broadcast, status: .pending)
        #expect(pending.count == 6 && pending.allSatisfy { $0.attempts == 1 })
        // Backoff: the next try is within the jittered ceiling (1 s after the first failure).
        let wait = pending[0].nextAttemptAt.milliseconds - f.clock.now().milliseconds
        #expect((0...1000).contains(wait))
        for _ in 0..<10 where sink.received.isEmpty {
            f.clock.advance(milliseconds: 4000)
            report = try await runner.catchUp()
        }
        #expect(sink.calls == 4)
        #expect(sink.received.map(\.message.version) == Array(1...6))
        pending = try f.ledger.outboxItems(.broadcast, status: .sent)
        #expect(pending.count == 6 && pending.allSatisfy { $0.attempts == 4 })
    }

    @Test func retryAfterIsHonouredToTheMillisecond() async throws {
        let f = try Fixture()
        let sink = ScriptedSink([.unavailable("429 Too Many Requests", retryAfterMilliseconds: 5000)])
        let runner = f.runner(sink: sink, retry: RetryPolicy(baseMilliseconds: 10, capMilliseconds: 10))
        _ = try await f.ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
        try await runner.catchUp()
        let item = try #require(try f.ledger.outboxItems(.broadcast).first)
        #expect(item.status == .pending && item.nextAttemptAt == f.clock.now().adding(milliseconds: 5000))
        #expect(item.lastError == "429 Too Many Requests (retry after 5000 ms)")
        f.clock.advance(milliseconds: 4999)
        #expect(try await runner.catchUp().delivered == 0)
        f.clock.advance(milliseconds: 1)
        #expect(try await runner.catchUp().delivered == 1)
        #expect(sink.calls == 2)
    }

    @Test func aRejectingSinkDeadLettersAtOnceAndOthersCarryOn() async throws {
        let f = try Fixture()
        let sink = ScriptedSink([.rejected("401: check ANYCABLE_BROADCAST_KEY")])
        let runner = f.runner(sink: sink)
        _ = try await f.ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
        try await runner.catchUp()
        #expect(try f.status(.broadcast).dead == 1)
        #expect(try f.status(.broadcast).lastError == "401: check ANYCABLE_BROADCAST_KEY")
        // A later event is delivered: a dead letter does not block the line.
        _ = try await f.ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
        #expect(try await runner.catchUp().delivered == 1)
        #expect(sink.calls == 2)
    }

    @Test func aSinkDownForTheWholeRunLosesNothingAndRedriveDeliversIt() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        sink.down.withLock { $0 = .unavailable("connection refused") }
        let runner = f.runner(sink: sink, maxAttempts: 3, retry: RetryPolicy(baseMilliseconds: 100, capMilliseconds: 100), coalesce: false)
        var jobs: [JobID] = []
        for _ in 0..<5 {
            // Appends go on while the sink is down.
            jobs.append(try await f.appendHappyJob(progressTicks: 2))
            try await runner.catchUp()
            f.clock.advance(milliseconds: 100)
        }
        for _ in 0..<5 { f.clock.advance(milliseconds: 100); try await runner.catchUp() }
        #expect(try f.ledger.eventCount() == 30)
        #expect(try f.ledger.storedJobRows().allSatisfy { $0.state == .completed })  // the state projection is unaffected
        var s = try f.status(.broadcast)
        #expect(s.dead == 30 && s.pending == 0 && s.sent == 0 && s.lag == 0)
        #expect(s.lastError == "connection refused")
        sink.down.withLock { $0 = nil }
        #expect(try await runner.catchUp().delivered == 0)  // dead letters wait for an operator
        // Re-drive: the 10 dead progress messages are superseded by their jobs' later messages
        // (a browser must not get progress after the end), the other 20 go out.
        #expect(try await f.ledger.redrive(.broadcast) == 20)
        try await runner.catchUp()
        s = try f.status(.broadcast)
        #expect(s.sent == 20 && s.coalesced == 10 && s.dead == 0)
        expectOrderedPerJob(sink.received)
        #expect(Set(sink.received.filter(\.message.isTerminal).map(\.message.job)) == Set(jobs))
    }

    @Test func coalescingDropsStaleProgressButNeverReordersOrSendsProgressAfterTheEnd() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        sink.down.withLock { $0 = .unavailable("timeout") }
        let runner = f.runner(sink: sink, maxAttempts: 100, retry: RetryPolicy(baseMilliseconds: 50, capMilliseconds: 50))
        // Sink down while jobs make progress: the backlog's progress collapses per job.
        var jobs: [JobID] = []
        for _ in 0..<3 { jobs.append(try await f.appendHappyJob(progressTicks: 10)) }
        try await runner.catchUp()
        let s = try f.status(.broadcast)
        #expect(s.coalesced > 0)
        sink.down.withLock { $0 = nil }
        f.clock.advance(milliseconds: 1000)
        try await runner.catchUp()
        let got = sink.received
        expectOrderedPerJob(got)
        for job in jobs {
            let mine = got.filter { $0.message.job == job }
            #expect(mine.last?.message.type == .completed)
            #expect(mine.filter { $0.message.type == .progress }.count <= 1)
        }
        #expect(try f.status(.broadcast).pending == 0)
    }

    @Test func aDeadUploadHoldsNoOneElseAndTheBroadcastWaitsForLiveUploads() async throws {
        let f = try Fixture()
        let store = FlakyBlobStore(path: f.dir.path("blobs"))
        store.down.withLock { $0 = .unavailable("blob store 503") }
        let sink = ScriptedSink()
        let runner = f.runner(blobs: store, sink: sink, maxAttempts: 2, retry: RetryPolicy(baseMilliseconds: 10, capMilliseconds: 10), coalesce: false)
        let job = try await f.appendHappyJob(progressTicks: 1)
        try await runner.catchUp()
        // The upload of the preview (v4) is pending: the broadcast stops before it.
        #expect(sink.received.map(\.message.version) == [1, 2, 3])
        #expect(try f.ledger.storedJobRows()[0].state == .completed)  // the jobs table does not wait
        store.down.withLock { $0 = nil }
        f.clock.advance(milliseconds: 10)
        try await runner.catchUp()
        #expect(sink.received.map(\.message.version) == [1, 2, 3, 4, 5])
        let urls = try f.ledger.blobURLs()
        #expect(urls.count == 2 && urls.keys.allSatisfy { $0.hasPrefix("jobs/\(job)/") })
        #expect(sink.received[3].message.previewURL == urls.first { $0.key.contains("lowres") }?.value)
    }

    /// Live, the broadcast waits for the uploads before it (their frontier), and the upload
    /// projection moving on wakes it: a job's messages go out as soon as the uploads allow,
    /// not at the broadcast's next poll (ten minutes here, so a wait for it fails the test).
    @Test func liveTheBroadcastIsWokenWhenTheUploadsMoveOnNotByItsPoll() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        var o = ProjectionRunner.Options(owner: "test-runner")
        o.pollInterval = .seconds(600)
        o.coalesceProgress = false
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let runner = ProjectionRunner(ledger: f.ledger, clock: f.clock, blobs: LocalFolderBlobStore(path: f.dir.path("blobs")),
                                      broadcasts: sink, options: o)
        let live = Task { try await runner.runLive() }
        defer { live.cancel() }
        var sent = 0
        for _ in 0..<6 {
            let job = JobID.generate()
            for payload in [EventPayload.queued(.init(kind: "design")),
                            .started(.init(worker: "w", attempt: 1, leaseDeadline: f.clock.now().adding(milliseconds: 60_000)))] {
                _ = try await f.ledger.append(NewEvent(job: job, payload: payload))
                sent += 1
                await until("message \(sent) to the sink") { sink.received.count == sent }
                if sink.received.count != sent { return }
            }
        }
        #expect(sink.received.map(\.message.seq) == Array(1...Int64(sent)))
    }

    /// The live loops and a `catchUp` running at the same time (a worker catching up while its
    /// projections still run) take turns per projection: nothing is delivered twice.
    @Test func liveLoopsAndCatchUpTogetherDeliverEachMessageOnce() async throws {
        let f = try Fixture()
        let sink = ScriptedSink()
        let runner = f.runner(sink: sink, coalesce: false)
        for _ in 0..<40 { try await f.appendHappyJob(progressTicks: 2) }
        let live = Task { try await runner.runLive() }
        async let a: Void = { for _ in 0..<5 { _ = try await runner.catchUp() } }()
        async let b: Void = { for _ in 0..<5 { _ = try await runner.catchUp() } }()
        _ = try await (a, b)
        await until { (try? f.status(.broadcast)).map { $0.lag == 0 && $0.pending == 0 } ?? false }
        live.cancel()
        _ = try? await live.value
        let seqs = sink.received.map(\.message.seq)
        #expect(seqs.count == 240)
        #expect(Set(seqs).count == seqs.count, "a message was delivered twice")
        #expect(seqs == seqs.sorted())
    }

    /// Re-driving an old dead upload while the store is still down holds back no broadcast:
    /// its message went out long ago, so only uploads after the broadcast's checkpoint count.
    @Test func aReDrivenOldUploadDoesNotFreezeTheBroadcast() async throws {
        let f = try Fixture()
        let store = FlakyBlobStore(path: f.dir.path("blobs"))
        store.down.withLock { $0 = .unavailable("blob store 503") }
        let sink = ScriptedSink()
        let runner = f.runner(blobs: store, sink: sink, maxAttempts: 1, coalesce: false)
        try await f.appendHappyJob(progressTicks: 1)
        try await runner.catchUp()
        #expect(try f.status(.blob).dead == 2)
        #expect(sink.received.count == 5 && sink.received[3].message.previewURL == nil)  // sent without a URL
        #expect(try await f.ledger.redrive(.blob) == 2)
        // The re-driven uploads fail again and back off for a minute: pending, not due.
        store.down.withLock { $0 = .unavailable("blob store 503", retryAfterMilliseconds: 60_000) }
        let patient = f.runner(blobs: store, sink: sink, maxAttempts: 5, coalesce: false)
        let later = try await f.appendHappyJob(progressTicks: 1)
        try await patient.catchUp()
        #expect(try f.status(.blob).pending == 4)  // the two old ones and the new job's two
        // The new job's queued, started and progress messages go out while the old uploads retry.
        #expect(sink.received.filter { $0.message.job == later }.map(\.message.version).prefix(3) == [1, 2, 3])
    }

    /// A sink call cut off by shutdown is not a failed try: the items stay pending, due, with
    /// no try used up, and the next run delivers them.
    @Test func aDeliveryCutOffByShutdownIsNotAFailedTry() async throws {
        final class StallingSink: BroadcastSink {
            let entered = Mutex(false)
            let stall = Mutex(true)
            let received = Mutex<[Publication]>([])
            func deliver(_ publications: [Publication]) async throws(SinkError) {
                if stall.withLock({ $0 }) {
                    entered.withLock { $0 = true }
                    await until("the delivery's cancellation") { Task.isCancelled }
                    throw .unavailable("request cancelled")
                }
                received.withLock { $0 += publications }
            }
        }
        let f = try Fixture()
        let sink = StallingSink()
        let runner = f.runner(sink: sink)
        _ = try await f.ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
        let run = Task { try await runner.catchUp() }
        await until { sink.entered.withLock { $0 } }
        run.cancel()
        _ = try? await run.value
        let item = try #require(try f.ledger.outboxItems(.broadcast).first)
        #expect(item.status == .pending && item.attempts == 0 && item.nextAttemptAt <= f.clock.now())
        sink.stall.withLock { $0 = false }
        #expect(try await runner.catchUp().delivered == 1)
        #expect(sink.received.withLock { $0.count } == 1)
    }

    @Test func anAbsurdRetryAfterIsCapped() async throws {
        let f = try Fixture()
        let sink = ScriptedSink([.unavailable("429", retryAfterMilliseconds: 86_400_000 * 365)])
        let runner = f.runner(sink: sink, retry: RetryPolicy(baseMilliseconds: 10, capMilliseconds: 10))
        _ = try await f.ledger.append(NewEvent(job: .generate(), payload: .queued(.init(kind: "design"))))
        try await runner.catchUp()
        let item = try #require(try f.ledger.outboxItems(.broadcast).first)
        #expect(item.nextAttemptAt == f.clock.now().adding(milliseconds: runner.options.maxRetryAfterMilliseconds))
    }

    @Test func aCancelledRunnerGivesUpItsLeases() async throws {
        let f = try Fixture()
        let runner = f.runner(sink: ScriptedSink())
        try await f.appendHappyJob()
        let live = Task { try await runner.runLive() }
        await until { (try? f.ledger.projectionOwner(.broadcast)) == "test-runner" }
        #expect(try f.ledger.projectionOwner(.broadcast) == "test-runner")
        live.cancel()
        _ = try? await live.value
        #expect(try f.ledger.projectionOwner(.broadcast) == nil)
    }

    @Test func rebuiltEqualsStoredAfterALongRandomRun() async throws {
        let f = try Fixture()
        let store = LocalFolderBlobStore(path: f.dir.path("blobs"))
        let sink = ScriptedSink()
        let runner = f.runner(blobs: store, sink: sink, coalesce: false)
        var random = SplitMix64(seed: 2026)
        var states: [JobID: JobState] = [:]
        var open: [JobID] = []
        for step in 0..<1500 {
            if open.isEmpty || random.nextDouble() < 0.15 {
                let job = JobID.generate()
                let q = EventPayload.queued(.init(kind: "design", maxAttempts: 1 + Int(random.next() % 3)))
                let e = try await f.ledger.append(NewEvent(job: job, payload: q))
                states[job] = try Lifecycle.apply(q, to: nil, job: job, at: e.recordedAt)
                open.append(job)
            } else {
                let i = Int(random.next() % UInt64(open.count))
                let job = open[i]
                let s = states[job]!
                let payload = try await randomNext(for: s, random: &random, ledger: f.ledger, now: f.clock.now())
                let e = try await f.ledger.append(NewEvent(job: job, payload: payload))
                let after = try Lifecycle.apply(payload, to: s, job: job, at: e.recordedAt)
                states[job] = after
                if after.status.isTerminal { open.remove(at: i) }
            }
            f.clock.advance(milliseconds: Int64(random.next() % 50))
            if step % 97 == 0 { try await runner.catchUp() }
            if random.nextDouble() < 0.01 { sink.down.withLock { $0 = random.nextDouble() < 0.5 ? .unavailable("flap") : nil } }
        }
        sink.down.withLock { $0 = nil }
        for _ in 0..<20 { f.clock.advance(milliseconds: 1000); try await runner.catchUp() }
        let stored = try f.ledger.storedJobRows()
        let rebuilt = try f.rebuiltRows()
        #expect(stored.count == rebuilt.count && stored.count == states.count)
        for row in stored {
            let other = try #require(rebuilt[row.id])
            #expect(row.differences(from: other).isEmpty, "job \(row.id): \(row.differences(from: other))")
        }
        #expect(try f.status(.jobs).applied == Int64(try f.ledger.eventCount()))
        expectOrderedPerJob(sink.received)
        #expect(try f.status(.broadcast).pending == 0 && f.status(.blob).pending == 0)
    }
}
