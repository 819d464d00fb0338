import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

// The example of Docs/Embedding.md § "Your own projection", as it is there.

/// Tells another service when a job finishes: one POST per finished job, at least once, in
/// order, with retries, backoff and dead letters — the outbox's guarantees, none of them
/// written here.
struct JobFinishedWebhook: EffectProjection {
    let name = ProjectionName("webhook")
    let url: String
    /// Sends one body; throws `SinkError.unavailable` to be retried, `.rejected` to give up.
    let post: @Sendable (_ url: String, _ body: String) async throws(SinkError) -> Void

    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
        guard state.status.isTerminal else { return [] }
        let body = JSONValue.object(["job": .string(state.id.rawValue), "state": .string(state.status.rawValue),
                                     "seq": .int(event.seq)]).canonicalText
        return [OutboxDraft(target: url, body: body)]
    }

    func deliver(_ items: [OutboxItem]) async -> Delivery {
        for (i, item) in items.enumerated() {
            do throws(SinkError) { try await post(item.target, item.body) } catch {
                return .failed([item], error, after: items[..<i])  // the rest wait their turn
            }
        }
        return .delivered(items)
    }
}

// End of the example.

/// A receiving end whose answers a test scripts (nil: accept), recording what it accepted.
final class ScriptedEndpoint: Sendable {
    private let state = Mutex<(script: [SinkError?], calls: Int, accepted: [String])>(([], 0, []))
    init(_ script: [SinkError?]) { state.withLock { $0.script = script } }
    func post(_ url: String, _ body: String) async throws(SinkError) {
        let answer: SinkError? = state.withLock { s in
            s.calls += 1
            let next = s.script.isEmpty ? nil : s.script.removeFirst()
            if next == nil { s.accepted.append(body) }
            return next
        }
        if let answer { throw answer }
    }
    var calls: Int { state.withLock { $0.calls } }
    var accepted: [String] { state.withLock { $0.accepted } }
}

@Suite struct CustomProjectionTests {
    func finishJobs(_ f: Fixture, _ n: Int) async throws -> [JobID] {
        var jobs: [JobID] = []
        for i in 0..<n {
            let job = try JobID("job-\(i)")
            _ = try await f.ledger.append([NewEvent(job: job, payload: .queued(.init(kind: "k"))),
                                           NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: f.clock.now().adding(milliseconds: 60_000)))),
                                           NewEvent(job: job, payload: .completed(.init(output: ["i": .int(Int64(i))], attempt: 1)))])
            jobs.append(job)
        }
        return jobs
    }

    func runner(_ f: Fixture, _ hook: JobFinishedWebhook, owner: String = "app", renew: Duration? = nil) -> ProjectionRunner {
        var o = ProjectionRunner.Options(owner: owner)
        o.randomSeed = 9
        o.retry = RetryPolicy(baseMilliseconds: 1_000, capMilliseconds: 1_000)
        o.maxAttempts = 5
        o.leaseMilliseconds = 10_000
        o.renewInterval = renew
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return ProjectionRunner(ledger: f.ledger, clock: f.clock, extra: [hook], options: o)
    }

    @Test func anAppsProjectionFailingTwiceThenSucceedingDeliversEverythingOnceInOrder() async throws {
        let f = try Fixture()
        let endpoint = ScriptedEndpoint([.unavailable("503"), .unavailable("429", retryAfterMilliseconds: 5_000)])
        let hook = JobFinishedWebhook(url: "https://example.com/hooks/jobs", post: endpoint.post)
        let runner = runner(f, hook)
        let jobs = try await finishJobs(f, 3)

        var r = try await runner.catchUp()
        #expect(r.failed == 1 && r.delivered == 0 && endpoint.calls == 1, "\(r) calls \(endpoint.calls)")
        // Backoff: nothing before the retry time (1 s with full jitter, at most).
        f.clock.advance(milliseconds: 1_000)
        r = try await runner.catchUp()
        #expect(r.failed == 1 && endpoint.calls == 2)
        // Retry-After (5 s) is honoured over the shorter backoff.
        f.clock.advance(milliseconds: 4_000)
        #expect(try await runner.catchUp().delivered == 0 && endpoint.calls == 2)
        f.clock.advance(milliseconds: 1_000)
        r = try await runner.catchUp()
        #expect(r.delivered == 3 && endpoint.calls == 5)  // two failed tries, then one call per item
        // Once each, in seq order.
        #expect(endpoint.accepted.map { try? JSONValue(parsing: $0)["job"]?.stringValue } == jobs.map(\.rawValue))
        #expect(try await runner.catchUp().delivered == 0)

        // It stands beside the built-ins: status, and the same items in a replay.
        let status = try #require(try f.ledger.projectionStatus([.jobs, hook.name]).first { $0.name == hook.name })
        #expect(status.sent == 3 && status.pending == 0 && status.dead == 0 && status.checkpoint == 9)
        var fold = ReplayFold(effects: [hook])
        var planned: [PlannedEffect] = []
        _ = try f.ledger.replay(into: &fold, effect: { planned.append($0) })
        #expect(planned.map(\.seq) == [3, 6, 9])
        #expect(planned.map(\.line).first == "seq 3\twebhook\thttps://example.com/hooks/jobs\t{\"job\":\"job-0\",\"seq\":3,\"state\":\"completed\"}")
        #expect(try f.ledger.outboxItems(hook.name).map(\.body) == planned.map(\.draft.body))
    }

    /// Two runners in one process share its owner name, so both hold the lease: they take
    /// turns per projection and file, and each item is delivered once (it was twice).
    @Test func twoRunnersOfOneProcessDeliverEachItemOnce() async throws {
        let f = try Fixture()
        let endpoint = ScriptedEndpoint([])
        let hook = JobFinishedWebhook(url: "https://example.com/hooks/jobs", post: endpoint.post)
        // A second Ledger on the same file, as a second module of an app would open it, on the
        // process's one clock: on the system clock, the items it took in were due only at the
        // real time, later than the test's clock, and neither runner delivered them.
        var c = LedgerConfiguration()
        c.clock = f.clock.function
        let other = try Ledger.open(path: f.ledger.path, configuration: c)
        let a = runner(f, hook), b = ProjectionRunner(ledger: other, clock: f.clock, extra: [hook], options: a.options)
        _ = try await finishJobs(f, 40)
        async let ra = a.catchUp()
        async let rb = b.catchUp()
        let (x, y) = try await (ra, rb)
        #expect(x.delivered + y.delivered == 40, "\(x) \(y)")
        #expect(endpoint.calls == 40 && Set(endpoint.accepted).count == 40)
    }

    @Test func aRejectedItemIsADeadLetterUntilReDriven() async throws {
        let f = try Fixture()
        let endpoint = ScriptedEndpoint([.rejected("400 bad request")])
        let hook = JobFinishedWebhook(url: "https://example.com/hooks/jobs", post: endpoint.post)
        let runner = runner(f, hook)
        _ = try await finishJobs(f, 2)
        let r = try await runner.catchUp()
        #expect(r.dead == 1 && r.delivered == 1)  // the first is dead; the one after it goes on
        #expect(try f.ledger.projectionStatus([hook.name])[0].dead == 1)
        #expect(try await f.ledger.redrive(hook.name) == 1)
        #expect(try await runner.catchUp().delivered == 1)
        #expect(endpoint.accepted.count == 2)
        #expect(try f.ledger.projectionStatus([hook.name])[0].sent == 2)
    }

    @Test func aRunnerKilledMidBatchLosesNothingAndAnotherTakesOver() async throws {
        let f = try Fixture()
        let stuck = Gate()
        let entered = Recorder<Int>()
        let accepted = Recorder<String>()
        // The first runner's endpoint hangs in its first call, as a process killed there would
        // never answer; that runner never renews its lease again.
        let hung = JobFinishedWebhook(url: "https://example.com/hooks/jobs", post: { _, body async throws(SinkError) in
            entered.add(1)
            while !stuck.isOpen { await Task.yield() }
            accepted.add("late: " + body)
        })
        let first = runner(f, hung, owner: "killed", renew: .seconds(3_600))
        _ = try await finishJobs(f, 3)
        let killed = Task { try await first.catchUp() }
        await until("the first runner's delivery to start") { !entered.all.isEmpty }

        // Its lease runs out; a second runner takes the projection over and delivers everything.
        f.clock.advance(milliseconds: 11_000)
        let endpoint = ScriptedEndpoint([])
        let second = runner(f, JobFinishedWebhook(url: "https://example.com/hooks/jobs", post: endpoint.post), owner: "next")
        let r = try await second.catchUp()
        #expect(r.delivered == 3 && endpoint.accepted.count == 3)
        let status = try f.ledger.projectionStatus([ProjectionName("webhook")])[0]
        #expect(status.owner == "next" && status.sent == 3 && status.pending == 0)

        // The killed runner, were it to come back, records nothing.
        stuck.release()
        #expect(try await killed.value.delivered == 0)
        #expect(try f.ledger.projectionStatus([ProjectionName("webhook")])[0].sent == 3)
    }
}
