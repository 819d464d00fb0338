import Foundation
import GRDB
import GRDBSQLite
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// `verify` checks the file's structure too (`PRAGMA integrity_check`): a damaged page outside the
/// events table (an index, the jobs table) fails it, naming what SQLite found.
@Suite(.timeLimit(.minutes(2)))
struct FileStructureCheckTests {
    let dir = TempDir()

    /// A closed log of 40 finished jobs with its jobs table filled, no -wal beside it.
    func closedLog() async throws -> String {
        let path = dir.path("log.sqlite")
        let ledger = try Ledger.open(path: path)
        for j in 0..<40 { _ = try await ledger.append(lifecycle(jid("job-\(j)"))) }
        let applied = try await ledger.projectionStep(.jobs, limit: 1000) { db, events in
            var states: [JobID: JobState] = [:]
            for e in events { states[e.job] = try Lifecycle.apply(e.payload, to: states[e.job], job: e.job, at: e.recordedAt) }
            try JobsTableProjection().apply(events, states: states, db: db)
        }
        #expect(applied == 240)
        try await ledger.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return path
    }

    /// Overwrites the root page of `name` (a table or an index) with a b-tree page type SQLite
    /// does not know.
    func damageRootPage(of name: String, in path: String) throws {
        let q = try DatabaseQueue(path: path)
        let (root, pageSize) = try q.read { db in
            (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = ?", arguments: [name])!,
             try Int.fetchOne(db, sql: "PRAGMA page_size")!)
        }
        try q.close()
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64((root - 1) * pageSize))
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 8))
        try handle.close()
    }

    @Test(arguments: ["sqlite_autoindex_events_1", "jobs"])
    func aDamagedPageOutsideTheEventsFailsVerify(name: String) async throws {
        let path = try await closedLog()
        #expect(try Ledger.openReadOnly(path: path).verify().isValid)
        try damageRootPage(of: name, in: path)
        let ledger = try Ledger.openReadOnly(path: path)
        // The events themselves still read and check out…
        var events = 0
        try ledger.forEachRawEvent { _ in events += 1 }
        #expect(events == 240)
        // …and the scan of the events alone (what verify was before) finds nothing wrong…
        #expect(try ledger.verify(continuing: nil).report.isValid)
        // …but the file is damaged, and verify says so (SQLite either lists what it found, or
        // refuses the damaged page outright as "malformed").
        let error = await expectLedgerError { _ = try ledger.verify() }
        guard case .storage(let message)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(message.hasPrefix("\(path) is damaged (SQLite: "), "\(message)")
        #expect(message.hasSuffix("); restore it from a backup or an export"), "\(message)")
    }

    /// Runs `sql` with CHECK constraints off, as a writer behind the log's back could.
    func writeIgnoringChecks(_ path: String, _ sql: String) async throws {
        let q = try DatabaseQueue(path: path)
        try await q.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = 1")
            try db.execute(sql: sql)
        }
        try q.close()
    }

    /// What `verify` says is damaged in the log at `path`: thrown when its events check out,
    /// else kept in the report beside the problem its scan found (`VerifyReport.damage`); nil,
    /// recorded as an issue, when it says nothing of damage.
    func damage(_ path: String) async -> String? {
        do {
            let report = try Ledger.openReadOnly(path: path).verify()
            if let damage = report.damage, !report.isValid { return damage }
            Issue.record("verify found no damage: \(String(describing: report.problem))")
            return nil
        } catch .storage(let message) {
            return message
        } catch {
            Issue.record("got \(error)")
            return nil
        }
    }

    /// A read-only connection's integrity_check does not check CHECK constraints (SQLite does not
    /// parse them on one): a jobs row made to break them, and an outbox row, passed `verify`.
    @Test func aRowThatBreaksACheckConstraintFailsVerify() async throws {
        let path = try await closedLog()
        try await writeIgnoringChecks(path, "UPDATE jobs SET state = 'exploded', progress = 7 WHERE id = 'job-3'")
        let message = try #require(await damage(path))
        #expect(message.contains("CHECK constraint failed in jobs: 1 row breaks (state = 'queued' OR"), "\(message)")
        #expect(message.contains("CHECK constraint failed in jobs: 1 row breaks (progress BETWEEN 0 AND 1)"), "\(message)")
    }

    /// A log reached through a symlink: the size checked is its file's (Foundation's
    /// `attributesOfItem` gave the link's own, 8 bytes, and `verify` called the log damaged).
    @Test func aLogReachedThroughASymlinkVerifies() async throws {
        let path = try await closedLog()
        let link = dir.path("link.sqlite")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(try Ledger.openReadOnly(path: link).verify().isValid)
    }

    /// A file cut off inside its last page read as whole (its last page padded with zeros) and
    /// passed `verify`.
    @Test func aFileCutOffInsideAPageFailsVerify() async throws {
        let path = try await closedLog()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size - 100)) == 0)
        let message = try #require(await damage(path))
        #expect(message.contains("the file is \(size - 100) bytes, not a whole number of its 4096-byte pages"), "\(message)")
    }

    @Test func checkExpressionsAreReadAsSQLiteWouldReadThem() {
        let sql = """
            CREATE TABLE t (a INTEGER CHECK (a >= 0), "check (x)" TEXT CHECK(length("check (x)") < 5), checkpoint INTEGER,
                            s TEXT check ( s = ')' OR s = 'it''s (' ), [b(] INT, CONSTRAINT c CHECK ((a + 1) * 2 > 0))
            """
        #expect(CheckConstraints.expressions(in: sql) == ["a >= 0", "length(\"check (x)\") < 5", " s = ')' OR s = 'it''s (' ", "(a + 1) * 2 > 0"])
        #expect(CheckConstraints.expressions(in: "CREATE TABLE u (checked INT, rechecks INT)").isEmpty)
        // Comments are skipped whole: a parenthesis, a quote or the word CHECK in one is not SQL.
        let commented = """
            CREATE TABLE v (n INT CHECK (n >= 0 -- note :)
            ), -- don't touch
            m INT /* check (x y) */ CHECK -- c
            (m >= 0))
            """
        #expect(CheckConstraints.expressions(in: commented) == ["n >= 0 -- note :)\n", "m >= 0"])
    }

    /// An app's own table in the log's file may hold a CHECK that SQLite cannot evaluate in a
    /// query (a double-quoted string, a function of the app's): it is left to SQLite, not a
    /// failure of `verify`; the rest are still asked, comments and all.
    @Test func anAppTableWithUnusualChecksIsCheckedAsFarAsItCanBe() async throws {
        let path = try await closedLog()
        // A plain connection, as an app's own could be: GRDB's refuses double-quoted strings.
        var raw: OpaquePointer?
        #expect(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK)
        #expect(sqlite3_exec(raw, """
            CREATE TABLE app_stats (k TEXT CHECK (k IN ("a", "b")), n INT CHECK (n >= 0 -- never negative :)
            ), m INT CHECK (m < 10));
            INSERT INTO app_stats VALUES ('a', 1, 2);
            """, nil, nil, nil) == SQLITE_OK, "\(String(cString: sqlite3_errmsg(raw)))")
        sqlite3_close(raw)
        #expect(try Ledger.openReadOnly(path: path).verify().isValid)
        try await writeIgnoringChecks(path, "INSERT INTO app_stats VALUES ('a', -5, 2)")
        let message = try #require(await damage(path))
        #expect(message.contains("CHECK constraint failed in app_stats: 1 row breaks (n >= 0 -- never negative :))"), "\(message)")
    }
}
