import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// `JobEngine.history(of:)`: a job's events as the log holds them, in order, and nothing for
/// another job or an unknown one.
@Suite("Engine history")
struct EngineHistoryTests {
    @Test("a job's history is its events, oldest first, and only its own")
    func historyIsTheJobsEvents() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ledger = try Ledger.open(path: dir.appendingPathComponent("log.sqlite").path)
        let engine = JobEngine(ledger: ledger, options: .init(workerID: "w1"))
        engine.register(kind: "design") { ctx in
            try await ctx.progress(0.5, message: "half")
            return JobCompletion(output: ["ok": true])
        }
        let job = try await engine.submit(kind: "design", input: ["prompt": "a cat"])
        let other = try await engine.submit(kind: "design", input: ["prompt": "a dog"])
        try await engine.workUntilIdle()
        let history = try engine.history(of: job)
        #expect(history.map(\.type) == [.queued, .started, .progress, .completed])
        #expect(history.map(\.version) == [1, 2, 3, 4])
        #expect(history.allSatisfy { $0.job == job })
        #expect(zip(history, history.dropFirst()).allSatisfy { $0.seq < $1.seq })
        #expect(try engine.history(of: other).allSatisfy { $0.job == other })
        #expect(try engine.history(of: JobID.generate()).isEmpty)
    }
}
