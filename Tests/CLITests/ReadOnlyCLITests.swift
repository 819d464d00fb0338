import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// The commands that only look at a log open it read-only: they work on a read-only copy,
/// create nothing beside it, change none of its bytes and never migrate it. Tests run as root,
/// for whom chmod stops nothing, so they check the folder's listing and the file's bytes.
@Suite(.timeLimit(.minutes(5)))
struct ReadOnlyCLITests {
    let scratch = Scratch()
    static let logs = FixtureGoldenTests.logs

    func listing(_ folder: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

    /// `file` copied alone into a new folder; with `locked`, file and folder made read-only
    /// (restored by the returned closure, so that the scratch folder can be removed).
    func isolatedCopy(of file: String, in folder: String, locked: Bool) throws -> String {
        let dir = scratch.path(folder)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + URL(fileURLWithPath: file).lastPathComponent
        try FileManager.default.copyItem(atPath: file, toPath: path)
        if locked {
            try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir)
        }
        return path
    }

    func unlock(_ folder: String) {
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path(folder))
    }

    func golden(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: Self.logs.appendingPathComponent("golden/\(name)")), as: UTF8.self)
    }

    @Test func readCommandsOnAReadOnlyCopyWorkAndCreateNothing() async throws {
        let source = Self.logs.appendingPathComponent("incident-broadcast-down.sqlite").path
        let path = try isolatedCopy(of: source, in: "ro", locked: true)
        defer { unlock("ro") }
        let before = try fileBytes(path)
        let m = try FixtureGoldenTests.manifest("incident-broadcast-down")

        func run(_ args: [String]) async throws -> CLIResult {
            let r = try await jobledger(args + ["--db", path], in: scratch)
            #expect(r.status == 0, "\(r)")
            return r
        }
        let verify = try await run(["verify"])
        #expect(verify.stdout.hasPrefix("ok: 40 events, 4 jobs"), "\(verify)")
        let digest = try await run(["digest"])
        #expect(verify.stdout.split(separator: "\n").first.map { $0.hasSuffix("head \(digest.stdout.dropLast())") } == true, "\(verify) \(digest)")
        #expect(try await run(["export"]).stdout.split(separator: "\n").count == 40)
        #expect(try await run(["history", m.job]).stdout.hasPrefix("job \(m.job) · kind design"))
        #expect(try await run(["jobs"]).stdout.split(separator: "\n").count == 5)
        #expect(try await run(["jobs", "--json", "--state", "completed"]).stdout.hasPrefix("[{"))
        #expect(try await run(["state", m.job]).stdout == (try golden("incident-broadcast-down.db-state.txt")))
        #expect(try await run(["state", m.job, "--as-of", m.asOf]).stdout == (try golden("incident-broadcast-down.db-state-as-of.txt")))
        #expect(try await run(["projections"]).stdout == (try golden("incident-broadcast-down.projections.txt")))
        #expect(try await run(["replay"]).stdout.contains("completed"))
        #expect(try await run(["replay", "--effects", "--until-seq", "25"]).stdout.contains("broadcast"))
        #expect(try await run(["replay", "--check"]).stdout.hasPrefix("ok:"))
        let diff = try await jobledger(["diff", path, "\(path)@25"], in: scratch)
        #expect(diff.status == 1 && diff.stdout.contains("differ"), "\(diff)")
        let same = try await jobledger(["diff", path, path], in: scratch)
        #expect(same.status == 0 && same.stdout.hasSuffix("no differences\n"), "\(same)")

        #expect(try listing(scratch.path("ro")) == ["incident-broadcast-down.sqlite"], "no -wal or -shm beside a log that was only read")
        #expect(try fileBytes(path) == before, "reading changed the file's bytes")
    }

    /// The log of `demo-3-jobs.ndjson` in a fresh folder, with its jobs table taken up to
    /// `checkpoint` only (0: never run).
    func demoLog(_ folder: String, checkpoint: Int) async throws -> String {
        try FileManager.default.createDirectory(atPath: scratch.path(folder), withIntermediateDirectories: true)
        let path = scratch.path("\(folder)/log.sqlite")
        let r = try await jobledger(["import", "--db", path, Self.logs.appendingPathComponent("demo-3-jobs.ndjson").path], in: scratch)
        #expect(r.status == 0, "\(r)")
        if checkpoint > 0 {
            let ledger = try Ledger.open(path: path)
            // The jobs projection's first step only (every job of the first events begins in them).
            let applied = try await ledger.projectionStep(.jobs, limit: checkpoint) { db, events in
                var states: [JobID: JobState] = [:]
                for e in events { states[e.job] = try Lifecycle.apply(e.payload, to: states[e.job], job: e.job, at: e.recordedAt) }
                try JobsTableProjection().apply(events, states: states, db: db)
            }
            #expect(applied == checkpoint)
            try await ledger.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        return path
    }

    @Test(arguments: [0, 7])
    func jobsOnALaggingTableShowsWhatACatchUpWouldAndWritesNothing(checkpoint: Int) async throws {
        let lagging = try await demoLog("lagging", checkpoint: checkpoint)
        let path = try isolatedCopy(of: lagging, in: "ro", locked: true)
        defer { unlock("ro") }
        let before = try fileBytes(path)
        // What `jobs` showed before it was read-only: the table brought up to the log, then read.
        let caughtUp = try isolatedCopy(of: lagging, in: "caught-up", locked: false)
        let rebuild = try await jobledger(["projections", "rebuild", "--db", caughtUp], in: scratch)
        #expect(rebuild.status == 0, "\(rebuild)")
        for args in [["jobs"], ["jobs", "--json"], ["jobs", "--state", "completed"], ["jobs", "--state", "failed"]] {
            let expected = try await jobledger(args + ["--db", caughtUp], in: scratch)
            let actual = try await jobledger(args + ["--db", path], in: scratch)
            #expect(actual.status == expected.status && actual.stdout == expected.stdout && actual.stderr == expected.stderr,
                    "read-only: \(actual)\ncaught up: \(expected)")
        }
        #expect(try listing(scratch.path("ro")) == ["log.sqlite"])
        #expect(try fileBytes(path) == before)
    }

    @Test func noReadCommandMigratesAnOlderLog() async throws {
        let current = try await demoLog("current", checkpoint: 0)
        var raws: [RawEvent] = []
        try Ledger.openReadOnly(path: current).forEachRawEvent { raws.append($0) }
        let rows = raws
        let path = scratch.path("old/log.sqlite")
        try FileManager.default.createDirectory(atPath: scratch.path("old"), withIntermediateDirectories: true)
        do {
            let q = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(q, upTo: "v2: a failed job may be requeued")
            try await q.write { db in
                for r in rows {
                    try db.execute(sql: "INSERT INTO events (\(RawEvent.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   arguments: [r.seq, r.jobID, r.version, r.type, r.payload, r.recordedAt.milliseconds,
                                               r.idempotencyKey, r.payloadDigest, r.prevHash, r.hash])
                }
            }
            try q.close()
        }
        let before = try fileBytes(path)
        let job = rows[0].jobID
        for args in [["verify"], ["export"], ["digest"], ["history", job], ["jobs"], ["state", job], ["replay"],
                     ["replay", "--effects"], ["projections"]] {
            let old = try await jobledger(args + ["--db", path], in: scratch)
            #expect(old.status == 0, "\(old)")
            // The same answers as from the current schema; but the blob projection's row: the
            // current log was made by `import`, which starts it after the imported events (an
            // export carries no artefacts to upload), while a v2 log has no projections yet.
            let new = try await jobledger(args + ["--db", current], in: scratch)
            func withoutBlob(_ text: String) -> String { text.split(separator: "\n").filter { !$0.hasPrefix("blob ") }.joined(separator: "\n") }
            #expect(withoutBlob(old.stdout) == withoutBlob(new.stdout), "\(old)\n\(new)")
        }
        let diff = try await jobledger(["diff", path, current], in: scratch)
        #expect(diff.status == 0, "\(diff)")
        let check = try await jobledger(["replay", "--check", "--db", path], in: scratch)
        expectRefusal(check, exit: 2, mentions: ["schema v2", "no jobs table", "jobledger project --once"])
        #expect(try listing(scratch.path("old")) == ["log.sqlite"])
        #expect(try fileBytes(path) == before, "still schema v2, byte for byte")
    }

    @Test func aForeignDatabaseWithALeftoverWALIsRefusedAndNothingIsCheckpointedIntoIt() async throws {
        // Another application's database as a crash leaves it: its last rows only in the -wal.
        let live = scratch.path("live")
        try FileManager.default.createDirectory(atPath: live, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: live + "/other.sqlite")
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL; CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('Ada')")
        }
        try FileManager.default.createDirectory(atPath: scratch.path("crashed"), withIntermediateDirectories: true)
        let path = scratch.path("crashed/other.sqlite")
        for suffix in ["", "-wal", "-shm"] {
            try FileManager.default.copyItem(atPath: live + "/other.sqlite" + suffix, toPath: path + suffix)
        }
        try queue.close()
        let main = try fileBytes(path), wal = try fileBytes(path + "-wal")
        #expect(!wal.isEmpty)
        for args in [["verify"], ["jobs"], ["export"], ["digest"], ["history", "a"], ["state", "a"], ["replay"],
                     ["append", "--type", "queued", "--payload", queuedPayload], ["import", "-"]] {
            let r = try await jobledger(args + ["--db", path], in: scratch)
            expectRefusal(r, exit: 4, mentions: [path, "is not a JobLedger log", "1 other object and no JobLedger marker"])
        }
        #expect(try fileBytes(path) == main, "the -wal was checkpointed into the other application's file")
        #expect(try fileBytes(path + "-wal") == wal)
        #expect(try listing(scratch.path("crashed")) == ["other.sqlite", "other.sqlite-shm", "other.sqlite-wal"])
    }
}
