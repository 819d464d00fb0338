import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Testing

/// `jobs` streams its rows from SQLite to stdout: it held the whole list (2 KB a job, 3.3 KB
/// with `--json`: 613 MB at 175,000 jobs), and now holds a row at a time, with the output as it
/// was: the table's columns as wide as their widest value (measured in a first pass over the
/// same snapshot), the JSON one array.
@Suite struct JobsStreamingTests {
    /// A log of `jobs` queued jobs, its jobs table caught up.
    func log(_ scratch: Scratch, _ name: String, jobs: Int) async throws -> String {
        let db = scratch.path(name)
        let ledger = try Ledger.open(path: db)
        var events: [NewEvent] = []
        for i in 0..<jobs { events.append(NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design", input: ["n": .int(Int64(i))])))) }
        for chunk in stride(from: 0, to: events.count, by: 10_000) { _ = try await ledger.append(Array(events[chunk..<min(chunk + 10_000, events.count)])) }
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        return db
    }

    /// The peak resident memory (KiB) of `jobs` (with `extra` arguments) on `db`, read while it
    /// still has most of its output to write (a pipe holds it back until that is read), and its
    /// output.
    func peak(_ db: String, _ extra: [String], expectedBytes: Int) async throws -> (kib: Int, output: String) {
        let p = Process()
        p.executableURL = try #require(jobledgerBinary) as URL
        p.arguments = ["jobs", "--db", db] + extra
        let out = childPipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try startChild(p)
        // 90% read: what is left (far over a pipe's 64 KiB and the command's own 64 KiB buffer)
        // keeps it from ending, so its peak so far is that of all but the end.
        var data = Data()
        let handle = out.fileHandleForReading
        while data.count < expectedBytes * 9 / 10 {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        let status = (try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8)) ?? ""
        data.append(handle.readDataToEndOfFile())
        await waitForExit(p, "jobs")
        #expect(p.terminationStatus == 0)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }, "no VmHWM in /proc/<pid>/status (did it end early?)")
        return (try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])), String(decoding: data, as: UTF8.self))
    }

    func array(_ text: String) throws -> [JSONValue]? {
        if case .array(let a) = try JSONValue(parsing: text) { return a }
        return nil
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "reads the peak memory from /proc"))
    func theListingHoldsARowAtATime() async throws {
        let scratch = Scratch()
        let few = try await log(scratch, "few.sqlite", jobs: 10_000)
        let many = try await log(scratch, "many.sqlite", jobs: 30_000)
        for form in [[], ["--json"]] {
            // Each measured with most of its output still to write: how much that is, from a run first.
            let fewOutput = try await jobledger(["jobs", "--db", few] + form, in: scratch).stdout
            let manyOutput = try await jobledger(["jobs", "--db", many] + form, in: scratch).stdout
            #expect(manyOutput.split(separator: "\n").count == (form.isEmpty ? 30_001 : 1), "\(form)")
            let small = try await peak(few, form, expectedBytes: fewOutput.utf8.count)
            let large = try await peak(many, form, expectedBytes: manyOutput.utf8.count)
            #expect(small.output == fewOutput && large.output == manyOutput, "\(form): the same output every time")
            // 20,000 more rows held cost 40,000 KiB and more (2 KB a job); a row at a time, nothing like it.
            #expect(large.kib - small.kib < 15_000, "\(form): peak \(large.kib) KiB for 30,000 jobs, \(small.kib) KiB for 10,000")
        }
    }

    /// The rows the table has taken in and those of the events after its checkpoint are merged
    /// in the table's order (created, then id as bytes), a folded row standing for its stored
    /// one; the table aligned as before, the JSON one array.
    @Test func storedAndFoldedRowsAreMergedInOrder() async throws {
        let scratch = Scratch()
        let db = scratch.path("merge.sqlite")
        let ledger = try Ledger.open(path: db)
        let t = Timestamp.now
        let lease = t.adding(milliseconds: 3_600_000)
        func queued(_ id: String, kind: String = "design") throws -> NewEvent {
            NewEvent(job: try JobID(id), payload: .queued(.init(kind: kind)), recordedAt: t)
        }
        // Taken in by the table: b, d (later started), f.
        _ = try await ledger.append([try queued("job-b"), try queued("job-d", kind: "a-much-longer-kind"), try queued("job-f")])
        let project = try await jobledger(["project", "--once", "--no-effects", "--db", db], in: scratch)
        #expect(project.status == 0, "\(project)")
        // After the checkpoint, at the same time: a, c, e (sorted between them by id), and d started.
        _ = try await ledger.append([try queued("job-e"), try queued("job-a"), try queued("job-c"),
                                     NewEvent(job: try JobID("job-d"), payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: lease)), recordedAt: t)])
        let expected = ["job-a", "job-b", "job-c", "job-d", "job-e", "job-f"]

        let json = try await jobledger(["jobs", "--json", "--db", db], in: scratch)
        #expect(json.status == 0, "\(json)")
        let rows = try #require(try array(json.stdout), "\(json)")
        #expect(rows.map { $0["id"]?.stringValue } == expected.map { Optional($0) }, "\(json)")
        #expect(rows[3]["state"]?.stringValue == "running", "the folded row stands for job-d's stored one: \(json)")
        #expect(json.stdout == JSONValue.array(rows).canonicalText + "\n", "one canonical array, one line feed")

        let table = try await jobledger(["jobs", "--db", db], in: scratch)
        #expect(table.status == 0, "\(table)")
        let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == expected.count + 2 && lines.last == "", "a header, six rows, a line feed at the end: \(table)")
        #expect(lines.dropFirst().prefix(6).map { String($0.prefix(5)) } == expected.map { String($0.prefix(5)) }, "\(table)")
        #expect(lines.dropFirst().prefix(6).map { String($0.prefix(while: { $0 != " " })) } == expected, "\(table)")
        // Each column as wide as its widest value, two spaces between: KIND's widest is job-d's.
        let kindColumn = "JOB    ".count
        let header = "JOB    " + "KIND".padding(toLength: 18, withPad: " ", startingAt: 0) + "  STATE    ATTEMPT  PROGRESS  UPDATED"
        #expect(lines[0].hasPrefix(header), "\(table)")
        for line in lines.dropFirst().prefix(6) {
            #expect(line.dropFirst(kindColumn).hasPrefix("design ") || line.dropFirst(kindColumn).hasPrefix("a-much-longer-kind  "), "\(line)")
        }

        // A state filter: the folded row, not the stored one (job-d is running now, not queued).
        let running = try await jobledger(["jobs", "--state", "running", "--json", "--db", db], in: scratch)
        let only = try #require(try array(running.stdout), "\(running)")
        #expect(only.map { $0["id"]?.stringValue } == ["job-d"], "\(running)")
        let queuedOnes = try await jobledger(["jobs", "--state", "queued", "--json", "--db", db], in: scratch)
        let queuedRows = try #require(try array(queuedOnes.stdout), "\(queuedOnes)")
        #expect(queuedRows.map { $0["id"]?.stringValue } == ["job-a", "job-b", "job-c", "job-e", "job-f"], "\(queuedOnes)")

        // No rows: the table says so on stderr, the JSON is an empty array.
        let none = try await jobledger(["jobs", "--state", "failed", "--db", db], in: scratch)
        #expect(none.status == 0 && none.stdout.isEmpty && none.stderr == "no jobs in state failed\n", "\(none)")
        let noneJSON = try await jobledger(["jobs", "--state", "failed", "--json", "--db", db], in: scratch)
        #expect(noneJSON.stdout == "[]\n", "\(noneJSON)")
    }
}
