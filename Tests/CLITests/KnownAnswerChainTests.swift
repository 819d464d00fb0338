import Foundation
import JobLedgerTestSupport
import Testing

/// The hash chain checked against its documented definition by code that shares nothing with
/// the Swift implementation: `Fixtures/hashchain/check_chain.py` (Python's hashlib) over
/// exported NDJSON. The committed head was computed by that script, not by jobledger.
@Suite struct KnownAnswerChainTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/hashchain")
    static let script = folder.appendingPathComponent("check_chain.py").path

    /// Runs the checker on a file; its exit status and output.
    func python(_ export: String) async throws -> (status: Int32, output: String) {
        try await offPool { Result { try Self.runPython(export) } }.get()
    }

    static func runPython(_ export: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, export]
        let out = childPipe()
        p.standardOutput = out
        try startChild(p)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        waitForChildExit(p, within: .seconds(600))
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The committed export: 26 events hashed under jobledger/v1 (an older log, imported),
    /// then 4 under jobledger/v2, with idempotency keys and non-ASCII text.
    @Test func jobledgerReproducesTheHeadPythonComputedFromTheDefinition() async throws {
        let expected = try String(contentsOf: Self.folder.appendingPathComponent("known-answer.head"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let export = Self.folder.appendingPathComponent("known-answer.ndjson").path
        let checked = try await python(export)
        #expect(checked.status == 0 && checked.output == "head \(expected)\n", "\(checked.output)")

        let scratch = Scratch()
        let db = scratch.path("known.sqlite")
        let imported = try await jobledger(["import", "--db", db, export], in: scratch)
        #expect(imported.status == 0, "\(imported)")
        #expect(try await jobledger(["digest", "--db", db], in: scratch).stdout == expected + "\n")
        let verify = try await jobledger(["verify", "--db", db], in: scratch)
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stdout.contains("hash rules: seq 1–26 under jobledger/v1 (idempotency keys not covered); seq 27–30 under jobledger/v2"), "\(verify)")
    }

    /// A log written now, with idempotency keys: Python recomputes the same head from its export.
    @Test func aNewLogsExportIsCheckedByTheIndependentScript() async throws {
        let scratch = Scratch()
        let db = scratch.path("new.sqlite")
        let job = try await append(db, type: "queued", payload: queuedPayload, extra: ["--idempotency-key", "order-42/ünïcode"], in: scratch)
        try await append(db, type: "started", job: job, payload: startedPayload(), in: scratch)
        try await append(db, type: "progress", job: job, payload: progressPayload, extra: ["--idempotency-key", "tick 1"], in: scratch)
        try await append(db, type: "completed", job: job, payload: completedPayload, in: scratch)
        let export = try await jobledger(["export", "--db", db], in: scratch)
        let file = scratch.path("new.ndjson")
        try Data(export.stdout.utf8).write(to: URL(fileURLWithPath: file))
        let digest = try await jobledger(["digest", "--db", db], in: scratch).stdout
        let checked = try await python(file)
        #expect(checked.status == 0 && checked.output == "head \(digest)", "\(checked.output) vs \(digest)")

        // An idempotency key edited in the export: both the script and an import refuse it.
        let edited = scratch.path("edited.ndjson")
        try Data(export.stdout.replacingOccurrences(of: "tick 1", with: "tick 2").utf8).write(to: URL(fileURLWithPath: edited))
        let refused = try await python(edited)
        #expect(refused.status == 1 && refused.output.contains("PROBLEM line 3: hash is not"), "\(refused.output)")
        let imported = try await jobledger(["import", "--db", scratch.path("copy.sqlite"), edited], in: scratch)
        expectRefusal(imported, exit: 2, mentions: ["line 3", "idempotency key"])
    }
}
