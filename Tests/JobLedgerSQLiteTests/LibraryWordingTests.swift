import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
@testable import JobLedgerSQLite
import Testing

/// The library's errors say what is wrong in its own terms: a program embedding it has no
/// `--db`, no `JOBLEDGER_DB` and no `jobledger` commands (the CLI adds those hints itself,
/// `commandLineMessage`).
@Suite struct LibraryWordingTests {
    let dir = TempDir()

    func expectLibraryWording(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!text.contains("--"), "names a command-line flag: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("JOBLEDGER_DB"), "names the CLI's variable: \(text)", sourceLocation: sourceLocation)
        #expect(!text.contains("jobledger "), "names a CLI command: \(text)", sourceLocation: sourceLocation)
    }

    func thrown(_ body: () throws -> Void) -> LedgerError? {
        do { try body() } catch let e as LedgerError { return e } catch { Issue.record("\(error)") }
        return nil
    }

    @Test func noLogAndNoFolderAreSaidWithoutFlags() throws {
        let missing = dir.path("nothing.sqlite")
        let noLog = try #require(thrown { _ = try Ledger.open(path: missing, create: false) })
        #expect(noLog.description == "no JobLedger log at \(missing)")
        expectLibraryWording(noLog.description)

        let inMissingFolder = dir.path("no-such-folder/jobs.sqlite")
        let noFolder = try #require(thrown { _ = try Ledger.open(path: inMissingFolder) })
        #expect(noFolder.description == "storage error: cannot open \(inMissingFolder): the folder \(dir.path("no-such-folder")) does not exist")
        expectLibraryWording(noFolder.description)
    }

    @Test func newerAndDamagedLogsAreSaidWithoutCommands() {
        let newer = LedgerError.newerSchema(path: "jobs.sqlite", found: 9, supported: 6)
        #expect(newer.description == "jobs.sqlite uses log schema v9, but this version of JobLedger supports up to v6; upgrade JobLedger to read it")
        expectLibraryWording(newer.description)

        let damaged = Ledger.map(DatabaseError(resultCode: .SQLITE_CORRUPT, message: "database disk image is malformed"),
                                 path: "jobs.sqlite", configuration: LedgerConfiguration())
        #expect(damaged.description == "storage error: jobs.sqlite is damaged (SQLite: database disk image is malformed); restore it from a backup or an export")
        expectLibraryWording(damaged.description)
    }

    @Test func aTooLongImportLineIsSaidWithoutTheFlag() throws {
        let file = dir.path("events.ndjson")
        try Data("\(String(repeating: "x", count: 100))\n".utf8).write(to: URL(fileURLWithPath: file))
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        let e = try #require(thrown { _ = try CheckedImport.check(handle: handle, maxLineBytes: 50) })
        #expect(e.description == "import failed at line 1: the line is longer than the limit of 50 bytes; raise the limit if the line is genuine; nothing was imported")
        expectLibraryWording(e.description)
    }

    @Test func anExistingReplayScratchFileIsSaidWithoutTheFlag() throws {
        let file = dir.path("scratch.sqlite")
        try Data().write(to: URL(fileURLWithPath: file))
        let e = try #require(thrown { try ReplayScratch.write(rows: [], effects: [], to: file) })
        #expect(e.description == "storage error: \(file) already exists; a replay scratch file is always a new file, and never replaces one")
        expectLibraryWording(e.description)
    }

    /// A log whose events were cut off the end (past a projection's checkpoint) is refused for
    /// writing, saying what to do without naming a command.
    @Test func aLogWithLostEventsIsSaidWithoutCommands() async throws {
        let path = dir.path("cut.sqlite")
        do {
            let ledger = try Ledger.open(path: path)
            for i in 1...3 { _ = try await ledger.append(NewEvent(job: jid("j-\(i)"), payload: queued)) }
        }
        let q = try DatabaseQueue(path: path)
        try await q.write { db in
            try db.execute(sql: "INSERT INTO projections (name, checkpoint, updated_at) VALUES ('jobs', 3, 0)")
            try db.execute(sql: "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 3")
        }
        try q.close()
        let e = try #require(thrown { _ = try Ledger.open(path: path) })
        #expect(e.description.contains("has lost events") && e.description.hasSuffix("restore it from a backup or an export, and verify the restored log"), "\(e)")
        expectLibraryWording(e.description)
    }
}
