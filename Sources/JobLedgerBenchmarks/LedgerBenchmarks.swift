import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// Throughput of the log against raw SQLite doing the same work on the same connection
/// settings, in the same run. Used by `jobledger bench`; figures belong in release builds.
package enum LedgerBenchmarks {
    /// One comparison: our events/s, raw SQLite's events/s and the target ratio.
    package struct Comparison: Sendable {
        package var name: String
        package var events: Int
        package var ours: Double
        package var raw: Double
        package var target: Double
        /// Transactions our side committed (group commit gathers many appends into one).
        package var transactions: Int = 0
        package var ratio: Double { raw > 0 ? ours / raw : 0 }

        package init(name: String, events: Int, ours: Double, raw: Double, target: Double) {
            self.name = name; self.events = events; self.ours = ours; self.raw = raw; self.target = target
        }
        package var meetsTarget: Bool { ratio >= target }
    }

    /// The events of `jobs` image jobs' happy paths (queued, started, 3 × progress, completed),
    /// job by job.
    static func lifecycle(job: JobID) -> [EventPayload] {
        [.queued(.init(kind: "design", input: .object(["prompt": .string("a red bicycle"), "size": .int(512)]))),
         .started(.init(worker: "bench", attempt: 1, leaseDeadline: Timestamp(milliseconds: 4_102_444_800_000))),
         .progress(.init(fraction: 0.25, message: "rendering", attempt: 1)),
         .progress(.init(fraction: 0.5, message: "rendering", attempt: 1)),
         .progress(.init(fraction: 0.75, message: "rendering", attempt: 1)),
         .completed(.init(output: .object(["width": .int(512), "height": .int(512)]), attempt: 1))]
    }

    /// A duration in seconds, for rates.
    package static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    /// A row as raw SQLite inserts it: the same columns, precomputed.
    struct RawRow {
        var job: String, version: Int, type: String, payload: String, digest: String
    }

    static func rawRows(jobs: [JobID]) -> [RawRow] {
        var rows: [RawRow] = []
        for j in jobs {
            for (i, p) in lifecycle(job: j).enumerated() {
                let text = p.canonicalText
                rows.append(RawRow(job: j.rawValue, version: i + 1, type: p.type.rawValue, payload: text, digest: Digest.sha256Hex(text)))
            }
        }
        return rows
    }

    static let fakeHash = String(repeating: "0", count: 64)

    /// Binds and steps the prepared INSERT through SQLite's C API, as directly as ours does: the
    /// same statement text as ours (so the same prepared program), no idempotency key.
    static func insertRaw(_ rows: ArraySlice<RawRow>, firstSeq: Int64, db: Database) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO events (seq, job_id, version, type, payload, recorded_at, idempotency_key, payload_digest, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        var seq = firstSeq
        let now = Timestamp.now.milliseconds
        for r in rows {
            let b = DirectBinding(insert)
            b.int(1, seq)
            b.text(2, r.job)
            b.int(3, Int64(r.version))
            b.text(4, r.type)
            b.text(5, r.payload)
            b.int(6, now)
            b.text(7, nil)
            b.text(8, r.digest)
            b.text(9, fakeHash)
            b.text(10, fakeHash)
            try b.run(db)
            seq += 1
        }
    }

    /// Inserts the rows `perTransaction` at a time, synchronously; returns the seconds taken.
    static func timeRawInserts(_ rows: ArraySlice<RawRow>, perTransaction: Int, into raw: Ledger, firstSeq: Int64? = nil) throws -> Double {
        let seqOffset = (firstSeq ?? Int64(rows.startIndex + 1)) - Int64(rows.startIndex)
        let clock = ContinuousClock()
        let t0 = clock.now
        var start = rows.startIndex
        while start < rows.endIndex {
            let end = min(rows.endIndex, start + perTransaction)
            try raw.pool.writeWithoutTransaction { db in
                try db.inImmediateTransaction {
                    try insertRaw(rows[start..<end], firstSeq: Int64(start) + seqOffset, db: db)
                }
            }
            start = end
        }
        return seconds(t0.duration(to: clock.now))
    }

    /// Rounds per comparison: ours and raw alternate, so drift in the machine (disk caches,
    /// WAL growth, other load) hits both alike; the median round of each side is reported.
    /// Who goes first alternates too (ours, raw, raw, ours, …), so neither side always runs
    /// right after the other.
    static let rounds = 10

    static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// Runs one round of each side, in the order `round` gives.
    static func pair(round: Int, ours: () async throws -> Void, raw: () async throws -> Void) async rethrows {
        if round % 4 == 1 || round % 4 == 2 { try await raw(); try await ours() } else { try await ours(); try await raw() }
    }

    /// The events `liveAppends` appends when asked for `events`: whole lifecycles of 6 events,
    /// the same number of jobs in each round, at least one.
    package static func liveAppendEvents(asked events: Int) -> Int { max(1, events / 6 / rounds) * rounds * 6 }

    /// The events `groupCommit` appends when asked for `events` from `tasks` tasks: at least one
    /// job per task and round.
    package static func groupCommitEvents(asked events: Int, tasks: Int) -> Int { max(1, events / 6 / tasks / rounds) * tasks * rounds * 6 }

    /// Sequential appends, one event per transaction, against raw single-row transactions.
    package static func liveAppends(directory: URL, events: Int, configuration: LedgerConfiguration) async throws -> Comparison {
        let perRound = liveAppendEvents(asked: events) / rounds / 6
        let jobs = (0..<(perRound * rounds)).map { _ in JobID.generate() }
        let ours = try Ledger.open(path: directory.appendingPathComponent("live-ours.sqlite").path, configuration: configuration)
        let raw = try Ledger.open(path: directory.appendingPathComponent("live-raw.sqlite").path, configuration: configuration)
        let rows = rawRows(jobs: jobs)
        let clock = ContinuousClock()
        var oursRates: [Double] = [], rawRates: [Double] = []
        for r in 0..<rounds {
            // The caller's events are built before the clock starts, as raw's rows are.
            let mine = jobs[(r * perRound)..<((r + 1) * perRound)].flatMap { j in lifecycle(job: j).map { NewEvent(job: j, payload: $0) } }
            let slice = rows[(r * perRound * 6)..<((r + 1) * perRound * 6)]
            try await pair(round: r, ours: {
                let t0 = clock.now
                for e in mine { _ = try await ours.append(e) }
                oursRates.append(Double(mine.count) / seconds(t0.duration(to: clock.now)))
            }, raw: {
                rawRates.append(Double(slice.count) / (try timeRawInserts(slice, perTransaction: 1, into: raw)))
            })
        }
        var c = Comparison(name: "live appends, one event per transaction", events: rows.count,
                           ours: median(oursRates), raw: median(rawRates), target: 0.8)
        c.transactions = ours.appendTransactions
        return c
    }

    /// `tasks` concurrent tasks, each appending its own jobs' lifecycles (group commit),
    /// against raw inserts batched `tasks` rows per transaction.
    package static func groupCommit(directory: URL, events: Int, tasks: Int, configuration: LedgerConfiguration) async throws -> Comparison {
        let jobsPerTask = groupCommitEvents(asked: events, tasks: tasks) / 6 / tasks / rounds
        let perRound = jobsPerTask * tasks
        let jobs = (0..<(perRound * rounds)).map { _ in JobID.generate() }
        let ours = try Ledger.open(path: directory.appendingPathComponent("group-ours.sqlite").path, configuration: configuration)
        let raw = try Ledger.open(path: directory.appendingPathComponent("group-raw.sqlite").path, configuration: configuration)
        let rows = rawRows(jobs: jobs)
        let clock = ContinuousClock()
        var oursRates: [Double] = [], rawRates: [Double] = []
        for r in 0..<rounds {
            let base = r * perRound
            // Each task's events, built before the clock starts.
            let perTask = (0..<tasks).map { t in
                jobs[(base + t * jobsPerTask)..<(base + (t + 1) * jobsPerTask)].flatMap { j in lifecycle(job: j).map { NewEvent(job: j, payload: $0) } }
            }
            // Raw inserts the same rows in the order the tasks produce them: at each step every
            // task appends the next event of its current job, so one transaction touches `tasks`
            // different jobs (and their places in the (job_id, version) index), as ours does.
            var interleaved: [RawRow] = []
            interleaved.reserveCapacity(perRound * 6)
            for step in 0..<(jobsPerTask * 6) {
                for t in 0..<tasks { interleaved.append(rows[(base + t * jobsPerTask) * 6 + step]) }
            }
            try await pair(round: r, ours: {
                let t0 = clock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for mine in perTask {
                        group.addTask { for e in mine { _ = try await ours.append(e) } }
                    }
                    try await group.waitForAll()
                }
                oursRates.append(Double(perRound * 6) / seconds(t0.duration(to: clock.now)))
            }, raw: {
                rawRates.append(Double(interleaved.count) / (try timeRawInserts(interleaved[...], perTransaction: tasks, into: raw, firstSeq: Int64(base * 6 + 1))))
            })
        }
        var c = Comparison(name: "\(tasks) concurrent tasks (group commit) vs raw batches of \(tasks)", events: rows.count,
                           ours: median(oursRates), raw: median(rawRates), target: 0.5)
        c.transactions = ours.appendTransactions
        return c
    }

    /// The most raw SQLite can do of the engine burn-down's writes: the same 6 rows per job
    /// (precomputed), first every job's `queued` row, then the other five of `lanes` jobs at a
    /// time, interleaved as `lanes` workers produce them (lane l works jobs l, l + lanes, …;
    /// neighbouring job ids run together, as the engine claims them by age), `lanes` rows per
    /// transaction. No validation, hashing, claiming or handlers: a ceiling, not a rival.
    /// Returns jobs per second and rows per second.
    package static func rawBurnDownCeiling(directory: URL, jobs: Int, lanes: Int, configuration: LedgerConfiguration) throws -> (jobsPerSecond: Double, rowsPerSecond: Double) {
        let ids = (0..<jobs).map { _ in JobID.generate() }
        let raw = try Ledger.open(path: directory.appendingPathComponent("engine-raw-\(jobs).sqlite").path, configuration: configuration)
        // The rows are made a chunk at a time (a million jobs' six rows at once would not fit in
        // memory) and only the inserts are timed; a chunk is a whole number of transactions.
        let chunk = max(1, 8192 / lanes) * lanes
        var seconds = 0.0
        var seq: Int64 = 1
        var written = 0
        func insert(_ rows: [RawRow]) throws {
            seconds += try timeRawInserts(rows[...], perTransaction: lanes, into: raw, firstSeq: seq)
            seq += Int64(rows.count)
            written += rows.count
        }
        let queued = lifecycle(job: ids[0])[0].canonicalText
        let queuedDigest = Digest.sha256Hex(queued)
        for start in stride(from: 0, to: jobs, by: chunk) {
            try insert((start..<min(jobs, start + chunk)).map { RawRow(job: ids[$0].rawValue, version: 1, type: "queued", payload: queued, digest: queuedDigest) })
        }
        // The other five rows, `lanes` jobs at a time: lane l works jobs l, l + lanes, …
        let rest = lifecycle(job: ids[0]).dropFirst().map { ($0.type.rawValue, $0.canonicalText, Digest.sha256Hex($0.canonicalText)) }
        let perLane = (jobs + lanes - 1) / lanes
        var rows: [RawRow] = []
        for k in 0..<perLane {
            for (step, (type, text, digest)) in rest.enumerated() {
                for l in 0..<lanes where k * lanes + l < jobs {
                    rows.append(RawRow(job: ids[k * lanes + l].rawValue, version: step + 2, type: type, payload: text, digest: digest))
                }
            }
            if rows.count >= chunk * 5 { try insert(rows); rows.removeAll(keepingCapacity: true) }
        }
        if !rows.isEmpty { try insert(rows) }
        return (Double(jobs) / seconds, Double(written) / seconds)
    }

    /// Writes a log of about `events` events (whole job lifecycles) in large batches.
    package static func buildLog(path: String, events: Int, configuration: LedgerConfiguration, progress: (Int) -> Void) async throws {
        let ledger = try Ledger.open(path: path, configuration: configuration)
        var written = 0
        while written < events {
            var batch: [NewEvent] = []
            for _ in 0..<1000 where written + batch.count < events {
                let j = JobID.generate()
                batch += lifecycle(job: j).map { NewEvent(job: j, payload: $0) }
            }
            _ = try await ledger.append(batch)
            written += batch.count
            progress(written)
        }
    }

    /// This process's own peak resident set size in KiB: `VmHWM` from `/proc/self/status`.
    /// Not `getrusage`'s `ru_maxrss`: on Linux that survives `execve`, and a child started with
    /// `posix_spawn` (a vfork sharing the parent's memory until the exec) inherits the
    /// parent's peak as its own. Falls back to `ru_maxrss` where `/proc` has no `VmHWM`.
    package static func ownPeakResidentKilobytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8), let kb = peakResidentKilobytes(status: status) {
            return kb
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    /// The `VmHWM:` line of a `/proc/<pid>/status` text, in KiB.
    package static func peakResidentKilobytes(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, fields[1] == "kB", let kb = Int(fields[0]) else { return nil }
            return kb
        }
        return nil
    }

    /// Folds the whole log into job states, as replay does.
    package static func replay(path: String) throws -> (events: Int, jobs: Int, seconds: Double) {
        let ledger = try Ledger.open(path: path, create: false)
        let clock = ContinuousClock()
        let t0 = clock.now
        var fold = LedgerFold()
        var n = 0
        try ledger.forEachEvent { e in
            _ = try fold.apply(e)
            n += 1
        }
        return (n, fold.jobCount, seconds(t0.duration(to: clock.now)))
    }

    /// Reads every column of every row, as a raw scan.
    package static func rawScan(path: String) throws -> (events: Int, seconds: Double) {
        let ledger = try Ledger.open(path: path, create: false)
        let clock = ContinuousClock()
        let t0 = clock.now
        var n = 0
        var bytes = 0
        try ledger.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT \(RawEvent.columns) FROM events ORDER BY seq")
            while let row = try cursor.next() {
                let r = RawEvent(row: row)
                bytes &+= r.payload.utf8.count &+ r.jobID.utf8.count
                n += 1
            }
        }
        precondition(bytes > 0 || n == 0)
        return (n, seconds(t0.duration(to: clock.now)))
    }
}
