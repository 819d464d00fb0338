import Foundation
import GRDB
import Testing

/// Every refusal: the documented exit code, one clear stderr line, and nothing written.
@Suite(.timeLimit(.minutes(2)))
struct RefusalTests {
    let scratch = Scratch()
    var db: String { scratch.path("log.sqlite") }

    // MARK: Lifecycle (exit 3)

    @Test func progressOnAQueuedJobIsRefusedAndWritesNothing() async throws {
        let job = try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", job, "--type", "progress", "--payload", progressPayload], in: scratch)
        expectRefusal(r, exit: 3, mentions: ["job \(job)", "'progress'", "queued job", "needs a running job"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test(arguments: [
        ("canceled", #"{"reason":"too late"}"#),
        ("progress", #"{"attempt":1,"fraction":0.9}"#),
        ("started", #"{"worker":"w1","attempt":2,"lease_deadline":"2030-01-01T00:00:00Z"}"#),
        ("completed", #"{"attempt":1}"#),
    ])
    func anyEventOnACompletedJobIsRefusedAndWritesNothing(type: String, payload: String) async throws {
        let job = try await logWithCompletedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", job, "--type", type, "--payload", payload], in: scratch)
        expectRefusal(r, exit: 3, mentions: ["job \(job)", "'\(type)'", "completed job", "accepts no more events"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func anEventForAnUnknownJobIsRefusedAndWritesNothing() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--type", "started", "--job", "nope", "--payload", startedPayload()], in: scratch)
        expectRefusal(r, exit: 3, mentions: ["job nope", "'started'", "does not exist"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func aVersionConflictIsRefusedAndWritesNothing() async throws {
        let job = try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", job, "--type", "started", "--payload", startedPayload(),
                                     "--expect-version", "5"], in: scratch)
        expectRefusal(r, exit: 3, mentions: ["concurrency conflict", "job \(job)", "expected version 5", "at version 1"])
        #expect(try await snapshot(db, in: scratch) == before)
        // The right version is accepted.
        try await append(db, type: "started", job: job, payload: startedPayload(), extra: ["--expect-version", "1"], in: scratch)
    }

    // MARK: Bad input (exit 2)

    @Test(arguments: [#"{"kind":"#, #"{"kind":"design""#, "not json", #"{"kind":"design",}"#])
    func malformedJSONIsRefusedAndWritesNothing(payload: String) async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--type", "queued", "--payload", payload], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["queued payload", "JSON"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func aPayloadOverTheSizeLimitIsRefusedAndWritesNothing() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let big = #"{"kind":"design","input":{"prompt":"\#(String(repeating: "x", count: 500))"}}"#
        let r = try await jobledger(["append", "--db", db, "--type", "queued", "--payload", big, "--max-payload-bytes", "100"], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["payload for job", "over the limit of 100 bytes"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    /// `--type` is a fixed vocabulary: another value is a usage error (exit 64) listing the types.
    @Test func anUnknownEventTypeIsRefusedWithTheValidTypes() async throws {
        let job = try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", job, "--type", "exploded", "--payload", "{}"], in: scratch)
        #expect(r.status == 64, "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
        for m in ["'exploded'", "--type", "queued", "started", "progress", "lowres", "completed", "failed", "canceled"] {
            #expect(r.stderr.contains(m), "stderr should mention \(m): \(r)")
        }
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test(arguments: ["job 1", "jobs/1", "", String(repeating: "a", count: 129)])
    func anInvalidJobIDIsRefusedAndWritesNothing(id: String) async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--job", id, "--type", "canceled", "--payload", "{}"], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["invalid job id", "A-Z a-z 0-9 - _ . :"])
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test func anInvalidJobIDIsRefusedByHistoryToo() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let r = try await jobledger(["history", "--db", db, "a/b"], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["invalid job id 'a/b'"])
    }

    @Test func aBadExpectHeadIsRefused() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let r = try await jobledger(["verify", "--db", db, "--expect-head", "12:nothex"], in: scratch)
        expectRefusal(r, exit: 2, mentions: ["--expect-head", "SEQ:HASH"])
    }

    // MARK: Not a log (exit 4)

    @Test func aTextFileIsNotALogAndIsLeftUnchanged() async throws {
        let path = scratch.path("notes.txt")
        try Data("remember the milk\n".utf8).write(to: URL(fileURLWithPath: path))
        let bytes = try fileBytes(path)
        for args in [["append", "--db", path, "--type", "queued", "--payload", queuedPayload],
                     ["jobs", "--db", path], ["verify", "--db", path], ["import", "--db", path, "-"]] {
            let r = try await jobledger(args, in: scratch)
            expectRefusal(r, exit: 4, mentions: [path, "is not a JobLedger log", "not an SQLite database"])
        }
        #expect(try fileBytes(path) == bytes)
        #expect(!scratch.exists("notes.txt-wal") && !scratch.exists("notes.txt-shm") && !scratch.exists("notes.txt-journal"))
    }

    /// A folder given as the log, or a log in a folder that does not exist: said in those words,
    /// with the path (SQLite itself says "unable to open database file" and nothing more).
    @Test func aFolderOrAMissingFolderIsNamed() async throws {
        let folder = scratch.path("logs")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for args in [["submit", "design", "--db", folder], ["jobs", "--db", folder], ["verify", "--db", folder]] {
            let r = try await jobledger(args, in: scratch)
            expectRefusal(r, exit: 4, mentions: [folder, "is not a JobLedger log", "it is a folder"])
        }
        let missing = scratch.path("no-such-folder/jobs.sqlite")
        for args in [["submit", "design", "--db", missing, "--storage-wait", "0"], ["append", "--db", missing, "--type", "queued", "--payload", queuedPayload]] {
            let r = try await jobledger(args, in: scratch)
            // The library says what is wrong; the command line adds where the path came from.
            expectRefusal(r, exit: 6, mentions: [missing, "the folder", "does not exist (check --db or JOBLEDGER_DB)"])
        }
        #expect(!scratch.exists("no-such-folder"))
    }

    /// A job that finished before the cancel is not canceled: exit 3 and nothing written (it
    /// printed the job's state and exited 0, which read as done).
    @Test func cancelingAFinishedJobIsRefused() async throws {
        let db = scratch.path("c.sqlite")
        let id = try await jobledger(["submit", "design", "--db", db], in: scratch).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await jobledger(["work", "--db", db, "--until-idle", "--fail-rate", "0", "--step-ms", "0"], in: scratch).status == 0)
        let before = try await jobledger(["history", id, "--db", db, "--json"], in: scratch).stdout
        let r = try await jobledger(["cancel", id, "--db", db], in: scratch)
        expectRefusal(r, exit: 3, mentions: [id, "already finished (completed)", "nothing was written"])
        // Nor is it retried: said as the API says it.
        expectRefusal(try await jobledger(["retry", id, "--db", db], in: scratch), exit: 3, mentions: ["only a failed job can be retried; job \(id) is completed"])
        #expect(try await jobledger(["history", id, "--db", db, "--json"], in: scratch).stdout == before)
    }

    /// A device or a pipe given as the log is refused before SQLite opens it: `/dev/null` read as
    /// an empty file, so a log was "created" there (leaving `/dev/null-journal`) and failed with a
    /// false I/O error, and a FIFO blocked.
    @Test func aDeviceOrAPipeIsNotALog() async throws {
        let fifo = scratch.path("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for path in ["/dev/null", fifo] {
            for args in [["submit", "design", "--db", path], ["jobs", "--db", path], ["verify", "--db", path]] {
                let r = try await jobledger(args, in: scratch)
                expectRefusal(r, exit: 4, mentions: [path, "is not a JobLedger log", path == fifo ? "a pipe (FIFO)" : "a device"])
            }
        }
        #expect(!FileManager.default.fileExists(atPath: "/dev/null-journal") && !FileManager.default.fileExists(atPath: "/dev/null-wal"))
    }

    @Test(arguments: ["DELETE", "WAL"])
    func anotherApplicationsSQLiteDatabaseIsNotALogAndIsLeftUnchanged(journalMode: String) async throws {
        let path = scratch.path("other.sqlite")
        try rawSQL(path, """
            PRAGMA journal_mode = \(journalMode);
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('Ada');
            """)
        let bytes = try fileBytes(path)
        for args in [["append", "--db", path, "--type", "queued", "--payload", queuedPayload],
                     ["jobs", "--db", path], ["digest", "--db", path], ["export", "--db", path]] {
            let r = try await jobledger(args, in: scratch)
            expectRefusal(r, exit: 4, mentions: [path, "is not a JobLedger log", "no JobLedger marker"])
        }
        #expect(try fileBytes(path) == bytes, "the other application's database must not be changed (e.g. switched to WAL)")
        #expect(!scratch.exists("other.sqlite-wal") && !scratch.exists("other.sqlite-shm"))
    }

    @Test func anSQLiteDatabaseWithAnotherApplicationIDIsNotALogAndIsLeftUnchanged() async throws {
        let path = scratch.path("other.sqlite")
        try rawSQL(path, "PRAGMA application_id = 1234; CREATE TABLE t (x);")
        let bytes = try fileBytes(path)
        let r = try await jobledger(["verify", "--db", path], in: scratch)
        expectRefusal(r, exit: 4, mentions: [path, "is not a JobLedger log", "application id is 1234"])
        #expect(try fileBytes(path) == bytes)
    }

    @Test func aLogWithANewerSchemaIsRefusedAndItsEventsAreUntouched() async throws {
        try await logWithCompletedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let version = try await DatabaseQueue(path: db).read { try Int.fetchOne($0, sql: "PRAGMA user_version") } ?? 0
        try rawSQL(db, "PRAGMA user_version = 99")
        for args in [["append", "--db", db, "--type", "queued", "--payload", queuedPayload],
                     ["jobs", "--db", db], ["verify", "--db", db], ["digest", "--db", db], ["export", "--db", db]] {
            let r = try await jobledger(args, in: scratch)
            expectRefusal(r, exit: 4, mentions: [db, "schema v99", "supports up to v9"])
        }
        try rawSQL(db, "PRAGMA user_version = \(version)")
        #expect(try await snapshot(db, in: scratch) == before)
    }

    @Test(arguments: [["jobs"], ["verify"], ["digest"], ["history", "job-1"], ["export"]])
    func aReadCommandOnAMissingLogIsRefusedAndCreatesNothing(command: [String]) async throws {
        let r = try await jobledger(command + ["--db", db], in: scratch)
        expectRefusal(r, exit: 4, mentions: ["no JobLedger log at \(db) (check --db or JOBLEDGER_DB)"])
        #expect(!scratch.exists("log.sqlite"))
        #expect(!scratch.exists("log.sqlite-wal") && !scratch.exists("log.sqlite-shm"))
    }

    // MARK: Locked (exit 5)

    /// How long the refused command took is not measured against the wall clock (a loaded
    /// machine can take seconds to start a process); it is compared with a writer that waits
    /// for the same lock with `--busy-timeout 60`, started first: the 0.2 s one must give up
    /// while the 60 s one is still waiting, and the 60 s one must get the lock once it is freed.
    @Test func aLogLockedByAnotherWriterPastTheBusyTimeoutIsRefusedAndWritesNothing() async throws {
        let job = try await logWithQueuedJob(db, in: scratch)

        var c = Configuration()
        c.allowsUnsafeTransactions = true  // the lock is held across accesses on purpose
        let holder = try DatabaseQueue(path: db, configuration: c)
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let append = ["append", "--db", db, "--job", job, "--type", "started", "--payload", startedPayload()]
        let patientDone = Flag()
        let scratch = self.scratch
        let patient = Task {
            defer { patientDone.set() }
            return try await jobledger(append + ["--busy-timeout", "60"], in: scratch)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let r = try await jobledger(append + ["--busy-timeout", "0.2"], in: scratch)
        let waited = start.duration(to: clock.now)
        let patientWasStillWaiting = !patientDone.isSet
        let countWhileLocked = try await holder.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") }
        try await holder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        try holder.close()
        let p = try await patient.value

        expectRefusal(r, exit: 5, mentions: [db, "locked by another writer", "200 ms"])
        #expect(waited >= .milliseconds(200))
        #expect(patientWasStillWaiting, "--busy-timeout 0.2 must give up while a --busy-timeout 60 writer is still waiting: \(p)")
        #expect(countWhileLocked == 1, "the refused append wrote nothing")
        #expect(p.status == 0, "the patient writer gets the lock once it is released: \(p)")
        #expect(p.stderr.contains("appended seq 2: job \(job) version 2 started"), "and its event is the only one added: \(p)")
    }

    // MARK: Usage (exit 64)

    @Test func appendWithoutAJobForAnEventOtherThanQueuedIsAUsageError() async throws {
        try await logWithQueuedJob(db, in: scratch)
        let before = try await snapshot(db, in: scratch)
        let r = try await jobledger(["append", "--db", db, "--type", "started", "--payload", startedPayload()], in: scratch)
        expectRefusal(r, exit: 64, mentions: ["--job is required", "'started'"])
        #expect(try await snapshot(db, in: scratch) == before)
    }
}
