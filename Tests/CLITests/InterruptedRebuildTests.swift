import Foundation
import JobLedger
import JobLedgerSQLite
import JobLedgerTestSupport
import Testing

/// `projections rebuild` interrupted once it has emptied the jobs table leaves it partly
/// rebuilt: it said nothing (exit 130). It says so now, and what finishes it.
@Suite(.timeLimit(.minutes(10)))
struct InterruptedRebuildTests {
    let scratch = Scratch()

    @Test func anInterruptedRebuildSaysTheTableIsPartlyRebuilt() async throws {
        let db = scratch.path("big.sqlite")
        let input = scratch.path("all.ndjson")
        let count = 60_000
        let lines = (0..<count).map { #"{"job_id":"job-\#($0)","type":"queued","recorded_at":"2026-11-29T00:00:00Z","payload":{"kind":"design"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try await jobledger(["import", input, "--db", db], in: scratch).status == 0)
        #expect(try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch).status == 0)

        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["projections", "rebuild", "--db", db]
        let err = childPipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try startChild(p)
        // The table is emptied when its checkpoint falls below the head: interrupted then.
        var emptied = false
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while p.isRunning && ContinuousClock.now < end {
            if let status = try? Ledger.openReadOnly(path: db).projectionStatus([.jobs]).first, status.checkpoint < Int64(count) {
                emptied = true
                break
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(emptied, "the rebuild was not seen emptying the table (it ended first?)")
        kill(p.processIdentifier, SIGINT)
        let said = await waitForLine(containing: "interrupted", in: err.fileHandleForReading)
        await waitForExit(p, "projections rebuild after SIGINT")
        #expect(p.terminationStatus == 130)
        #expect(said?.hasPrefix("jobledger: interrupted: the jobs table is partly rebuilt (through seq ") == true
                && said?.contains("`jobledger project --once --db \(db)`") == true && said?.contains("projections rebuild") == true,
                "\(said ?? "nothing said")")
        // What it says finishes it does.
        #expect(try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch).status == 0)
        let status = try #require(try Ledger.openReadOnly(path: db).projectionStatus([.jobs]).first)
        #expect(status.checkpoint == Int64(count))
    }
}
