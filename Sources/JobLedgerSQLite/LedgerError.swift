import JobLedger

/// Everything that can go wrong opening, appending to or reading a log. Each case says what
/// happened and what to do; none ever carries a secret. When an append throws, nothing of it
/// was written.
public enum LedgerError: Error, CustomStringConvertible, Equatable {
    /// The lifecycle refuses the event (illegal transition, unknown job, …).
    case rejected(LifecycleError)
    /// The payload does not fit its event type, or is not JSON.
    case invalidPayload(PayloadError)
    /// A job id that breaks the rules (1…128 characters from `A-Z a-z 0-9 - _ . :`, not only
    /// dots), in an append, an import or a stored row.
    case invalidJobID(InvalidJobID)
    /// The append named an expected version and the job has moved on (optimistic concurrency).
    case concurrencyConflict(job: JobID, expected: Int, actual: Int)
    /// The payload's canonical text is larger than `LedgerConfiguration.maxPayloadBytes`.
    case payloadTooLarge(job: JobID, size: Int, limit: Int)
    /// No file at the path (commands that read never create a log).
    case noSuchLog(path: String)
    /// The file exists but is not a JobLedger log.
    case notALedger(path: String, detail: String)
    /// The log was written by a newer JobLedger.
    case newerSchema(path: String, found: Int, supported: Int)
    /// Another writer held the lock for longer than the busy timeout.
    case busy(path: String, waitedMilliseconds: Int64)
    /// A line of an NDJSON import is wrong; nothing was imported.
    case importFailed(line: Int, reason: String)
    /// The asset's bytes are not staged in this log.
    case unknownAsset(sha256: String)
    /// An effect projection's lease passed to another owner (this one's ran out): what this
    /// holder was about to record is not recorded, and the new owner delivers it.
    case projectionTakenOver(projection: String, owner: String?)
    /// A projection's own code failed (a state projection's `apply` threw, or its SQL did):
    /// its batch was rolled back and its checkpoint stays; the reason is the thrown error's
    /// description, also shown as the projection's last error in its status. Not a storage
    /// problem: the same batch fails again until the projection is fixed.
    case projectionFailed(projection: String, reason: String)
    /// A projection's table (the `jobs` table) is not in the file: it was dropped behind the
    /// log's back. The log itself is intact, and the table is derived from it: a
    /// `ProjectionRunner` recreates it and rebuilds its rows (`Ledger.resetJobsTable`, then a
    /// catch-up), so only reads of the table fail until then.
    case missingProjectionTable(path: String, table: String)
    /// A write (append, import, staging, a projection) on a ledger opened with
    /// `Ledger.openReadOnly`; nothing was written.
    case readOnly(path: String)
    /// Any other SQLite or file error, with SQLite's message.
    case storage(String)
    /// A read-only ledger that reads its file without locks (it had no `-wal` when it was
    /// opened) found the file written meanwhile (a writer started on it and checkpointed):
    /// what was read may mix two states, so it is not returned. Nothing is wrong with the log;
    /// the same read on a ledger opened again succeeds (`Docs/EventLog.md` § Reading a log).
    case writtenWhileReadWithoutLocks(path: String)
    /// The storage under the log failed (full disk, I/O error, a file that became read-only
    /// or vanished): nothing was written, and the same write may succeed once it clears.
    case storageFault(StorageFault)
    /// `Ledger.open` or `Ledger.openReadOnly` was given something it cannot open a log with,
    /// named as the caller wrote it: `path` (empty), or a field of `LedgerConfiguration`
    /// (`maxPayloadBytes`, `busyTimeout`, `maxPageCount`) out of its range. Nothing was opened
    /// or created.
    case invalidConfiguration(field: String, reason: String)
    /// A call on a `Ledger` after its `close()`: nothing was read or written. Open the log
    /// again (`Ledger.open`) for a new `Ledger`.
    case closed(path: String)

    /// One line that says what happened and what to do, in the library's terms (it names no
    /// command-line flag or command: the `jobledger` tool adds its own hints where it prints it).
    public var description: String {
        switch self {
        case .rejected(let e): return "rejected: \(e.description)"
        case .invalidPayload(let e): return e.description
        case .invalidJobID(let e): return e.description
        case .concurrencyConflict(let job, let expected, let actual):
            return "concurrency conflict on job \(job): expected version \(expected), but the log is at version \(actual); re-read the job and try again"
        case .payloadTooLarge(let job, let size, let limit):
            return "payload for job \(job) is \(size) bytes, over the limit of \(limit) bytes; stage large bytes as an asset and reference it"
        case .noSuchLog(let path): return "no JobLedger log at \(path)"
        case .notALedger(let path, let detail): return "\(path) is not a JobLedger log: \(detail)"
        case .newerSchema(let path, let found, let supported):
            return "\(path) uses log schema v\(found), but this version of JobLedger supports up to v\(supported); upgrade JobLedger to read it"
        case .busy(let path, let waited):
            return "\(path) is locked by another writer (waited \(waited) ms); retry, or raise the busy timeout"
        case .importFailed(let line, let reason): return "import failed at line \(line): \(reason); nothing was imported"
        case .unknownAsset(let sha): return "no asset with sha256 \(sha) is staged in this log"
        case .projectionTakenOver(let projection, let owner):
            return "projection \(projection) is now owned by \(owner ?? "no one") (this process's lease ran out); nothing more is recorded by this process for it"
        case .projectionFailed(let projection, let reason):
            return "projection \(projection) failed: \(reason) (its batch was rolled back and its checkpoint kept; it is tried again from there)"
        case .missingProjectionTable(let path, let table):
            return "the \(table) table is missing from \(path) (dropped behind the log's back?); nothing of the log is lost: the table is a projection of it, recreated and rebuilt from it by the projections"
        case .readOnly(let path):
            return "\(path) was opened read-only, for inspection; nothing was written (open it with Ledger.open(path:) to write)"
        case .storage(let message): return "storage error: \(message)"
        case .writtenWhileReadWithoutLocks(let path):
            return "storage error: \(path) was written while it was read without locks (a writer started on it after this command opened it, when it had no -wal); what was read may mix two states: run the command again"
        case .storageFault(let fault): return fault.description
        case .invalidConfiguration(let field, let reason):
            return field == "path" ? "cannot open a log: 'path' \(reason)" : "cannot open a log: LedgerConfiguration.\(field) \(reason)"
        case .closed(let path):
            return "the ledger of \(path) was closed (Ledger.close()); nothing was read or written: open the log again for a new Ledger"
        }
    }

    /// The storage fault this error is, if it is one (see `StorageFault`).
    public var storageFault: StorageFault? {
        if case .storageFault(let fault) = self { return fault }
        return nil
    }
}
