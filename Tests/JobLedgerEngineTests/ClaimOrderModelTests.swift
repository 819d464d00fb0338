import Foundation
import JobLedger
@testable import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// The engine's claims from its index against a reference model that folds the log with the
/// plain `LedgerFold` and sorts every claimable job each round: a seeded random workload of
/// 10,000 jobs of capped, uncapped and unregistered kinds, with priorities, delayed run-ats and
/// retryable failures (whose retry times delay them again), submitted while the engine works.
@Suite struct ClaimOrderModelTests {
    static let caps: [String: Int?] = ["capped": 3, "free": nil, "small": 5]

    /// What the model claims at `now` with `slots` free and nothing running: every queued job of
    /// a registered kind whose run-at has come, best first, greedily within the caps.
    static func modelClaims(_ fold: LedgerFold, now: Timestamp, slots: Int) -> [JobID] {
        var room: [String: Int] = [:]
        for (kind, cap) in caps { if let cap { room[kind] = cap } }
        let claimable = fold.active.values
            .filter { $0.status == .queued && $0.runAt <= now && caps.keys.contains($0.kind) }
            .map { JobEngine.ClaimCandidate(priority: $0.priority, createdAt: $0.createdAt, id: $0.id, kind: $0.kind) }
            .sorted()
        var out: [JobID] = []
        for c in claimable where out.count < slots {
            if let r = room[c.kind] { if r <= 0 { continue }; room[c.kind] = r - 1 }
            out.append(c.id)
        }
        return out
    }

    @Test func claimsFollowTheReferenceModelOverTenThousandJobs() async throws {
        let f = try Fixture()
        let engine = f.engine(concurrency: 64)
        for (kind, cap) in Self.caps {
            engine.register(kind: kind, retry: RetryPolicy(baseMilliseconds: 20, capMilliseconds: 200), concurrency: cap) { ctx in
                // Deterministic failures: about one attempt in six fails, retryably.
                let h = ctx.job.rawValue.utf8.reduce(UInt64(ctx.attempt)) { ($0 &* 31) &+ UInt64($1) }
                var mix = SplitMix64(seed: h)
                if mix.next() % 6 == 0 { throw JobError(code: "flaky", message: "", retryable: true) }
                return JobCompletion()
            }
        }
        var random = SplitMix64(seed: 16)
        let kinds = ["capped", "free", "small", "unregistered"]
        // Submitted as `JobEngine.submit` writes them, in batches (one transaction each): the
        // engine reads them from the log, lean, as it reads another process's submits.
        func submit(_ n: Int) async throws {
            var batch: [NewEvent] = []
            for _ in 0..<n {
                if random.next() % 3 == 0 { f.clock.advance(milliseconds: 1) }  // ties in age are common: the id decides
                let delayed = random.next() % 5 == 0
                let payload = EventPayload.queued(.init(kind: kinds[Int(random.next() % 4)], priority: Int(random.next() % 4), maxAttempts: 2,
                                                        runAt: delayed ? f.clock.now().adding(milliseconds: Int64(random.next() % 300)) : nil))
                batch.append(NewEvent(job: JobID.generate(at: f.clock.now()), payload: payload, expectedVersion: 0))
            }
            _ = try await f.ledger.append(batch)
        }
        let total = 10_000
        var submitted = 4_000
        try await submit(submitted)
        // The model's work is synchronous and heavy: it runs on a thread of its own, off the
        // cooperative pool, so that the other suites running meanwhile are not starved.
        let reference = Reference(ledger: f.ledger)
        var rounds = 0, claims = 0
        while true {
            let now = f.clock.now()
            let (want, delayedLeft) = try await reference.offPool { r in
                try r.catchUp()
                return (Self.modelClaims(r.model, now: now, slots: 64),
                        r.model.active.values.contains { $0.status == .queued && Self.caps.keys.contains($0.kind) })
            }
            if want.isEmpty && !delayedLeft && submitted == total { break }
            try await engine.tick()
            let got = try await reference.offPool { r in
                var got: [JobID] = []
                try r.ledger.forEachEvent(from: r.seen + 1) { e in if e.type == .started { got.append(e.job) } }
                return got
            }
            #expect(got == want, "round \(rounds): claimed \(got.count), the model \(want.count)")
            if got != want { return }
            claims += got.count
            rounds += 1
            if submitted < total {
                let n = min(60, total - submitted)
                try await submit(n)
                submitted += n
            }
            f.clock.advance(milliseconds: 7)
            await Task.yield()  // the model's work is synchronous: let the other suites' tasks run
        }
        #expect(claims > total * 3 / 4)
        // Every job of a registered kind ended; the unregistered kind's are all still queued.
        let states = try await reference.offPool { r in try r.ledger.jobStates().values }
        #expect(states.count == total)
        #expect(states.allSatisfy { Self.caps.keys.contains($0.kind) ? $0.status.isTerminal : $0.status == .queued })
        #expect(states.contains { $0.status == .failed } && states.contains { $0.attempt > 1 && $0.status == .completed })
    }
}

/// The reference model's fold of the log, used from one thread at a time (`offPool`).
final class Reference: @unchecked Sendable {
    let ledger: Ledger
    var model = LedgerFold()
    var seen: Int64 = 0
    init(ledger: Ledger) { self.ledger = ledger }

    func catchUp() throws {
        try ledger.forEachEvent(from: seen + 1) { e in try model.apply(e); seen = e.seq }
    }

    /// Runs `body` on a Dispatch thread, not on the cooperative pool.
    func offPool<T: Sendable>(_ body: @escaping @Sendable (Reference) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async { c.resume(with: Result { try body(self) }) }
        }
    }
}
