import Foundation
import Testing

/// The recorded scenario logs under `Fixtures/logs/` replayed by the real CLI, compared
/// byte for byte with their golden outputs under `Fixtures/logs/golden/`. A change to the
/// replay, the broadcast message or the effects shows up here as a diff to review; after a
/// deliberate change, re-record with `JOBLEDGER_RECORD_GOLDENS=1 swift test --filter FixtureGoldenTests`.
@Suite struct FixtureGoldenTests {
    static let logs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/logs")
    static let recording = ProcessInfo.processInfo.environment["JOBLEDGER_RECORD_GOLDENS"] == "1"

    static let scenarios = ["happy-path", "retry-then-success", "worker-crash-lease-expiry", "cancel-mid-run", "incident-broadcast-down"]

    struct Manifest { let job: String; let asOf: String }

    static func manifest(_ name: String) throws -> Manifest {
        let data = try Data(contentsOf: logs.appendingPathComponent("\(name).json"))
        let o = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Manifest(job: try #require(o["job"] as? String), asOf: try #require(o["as_of"] as? String))
    }

    /// Compares `actual` with the golden file, or writes it when recording.
    static func expectGolden(_ actual: CLIResult, _ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(actual.status == 0, "\(actual)", sourceLocation: sourceLocation)
        let url = logs.appendingPathComponent("golden/\(file)")
        if recording {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(actual.stdout.utf8).write(to: url)
            return
        }
        let golden = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        if actual.stdout != golden {
            let a = actual.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let g = golden.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(a, g).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, g.count)
            Issue.record("""
                \(file) differs from the golden output at line \(first + 1):
                  golden: \(first < g.count ? String(g[first]) : "<end>")
                  actual: \(first < a.count ? String(a[first]) : "<end>")
                """, sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: scenarios)
    func replayStateAndEffectsMatchTheGoldens(_ name: String) async throws {
        let scratch = Scratch()
        let db = scratch.path("\(name).sqlite")
        let imported = try await jobledger(["import", "--db", db, Self.logs.appendingPathComponent("\(name).ndjson").path], in: scratch)
        #expect(imported.status == 0, "\(imported)")
        let m = try Self.manifest(name)
        try Self.expectGolden(try await jobledger(["replay", "--db", db], in: scratch), "\(name).replay.txt")
        try Self.expectGolden(try await jobledger(["replay", "--effects", "--db", db], in: scratch), "\(name).effects.txt")
        try Self.expectGolden(try await jobledger(["state", m.job, "--as-of", m.asOf, "--db", db], in: scratch), "\(name).state.txt")
        #expect(try await jobledger(["verify", "--db", db], in: scratch).status == 0)
    }

    /// The incident's database, with its outbox as the broadcast projection left it: what the
    /// playbook in Docs/Replay.md walks through.
    @Test func theIncidentDatabaseShowsWhatTheBrowserMissed() async throws {
        let scratch = Scratch()
        let db = scratch.path("incident.sqlite")
        try FileManager.default.copyItem(at: Self.logs.appendingPathComponent("incident-broadcast-down.sqlite"), to: URL(fileURLWithPath: db))
        let m = try Self.manifest("incident-broadcast-down")
        try Self.expectGolden(try await jobledger(["projections", "--db", db], in: scratch), "incident-broadcast-down.projections.txt")
        try Self.expectGolden(try await jobledger(["state", m.job, "--db", db], in: scratch), "incident-broadcast-down.db-state.txt")
        try Self.expectGolden(try await jobledger(["state", m.job, "--as-of", m.asOf, "--db", db], in: scratch), "incident-broadcast-down.db-state-as-of.txt")
        let check = try await jobledger(["replay", "--check", "--db", db], in: scratch)
        #expect(check.status == 0 && check.stdout.hasPrefix("ok:"), "\(check)")
        // The operator's fix: re-drive the dead letters; the superseded progress is dropped and
        // the rest is delivered (here to the in-process hub).
        let retry = try await jobledger(["projections", "retry", "broadcast", "--db", db], in: scratch)
        #expect(retry.status == 0, "\(retry)")
        let project = try await jobledger(["project", "--once", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        let after = try await jobledger(["projections", "--db", db, "--json"], in: scratch)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [[String: Any]])
        let broadcast = try #require(list.first { $0["name"] as? String == "broadcast" })
        #expect(broadcast["dead"] as? Int == 0 && broadcast["pending"] as? Int == 0, "\(broadcast)")
        let tail = try await jobledger(["tail", "--no-follow", "--job", m.job, "--db", db], in: scratch)
        #expect(tail.stdout.contains(#""type":"completed""#), "\(tail)")
    }
}
