/// One row of the job-state projection (the `jobs` table): what a dashboard or a web app reads
/// about a job without folding its events. Read with `Ledger.currentJobRows(state:)` or
/// `storedJobRows(state:)` (JobLedgerProjections).
public struct JobRow: Sendable, Hashable {
    /// The job.
    public var id: JobID
    /// Which handler runs it.
    public var kind: String
    /// Where it is in its life.
    public var state: JobStatus
    /// Attempts started so far.
    public var attempt: Int
    /// The attempt after which a failure is final.
    public var maxAttempts: Int
    /// Progress of the current attempt, 0…1.
    public var progress: Double
    /// The current attempt's last progress note.
    public var message: String?
    /// Where its latest preview was published, once it was.
    public var previewURL: String?
    /// Where its result was published, once it was.
    public var resultURL: String?
    /// The code of its last failure.
    public var errorCode: String?
    /// The message of its last failure.
    public var errorMessage: String?
    /// When it was queued.
    public var createdAt: Timestamp
    /// When its first attempt started.
    public var startedAt: Timestamp?
    /// When it finished (completed, failed for good or canceled).
    public var finishedAt: Timestamp?
    /// When its latest event was recorded.
    public var updatedAt: Timestamp
    /// Its latest event's version.
    public var version: Int
    /// Who it belongs to (`JobState.owner`); nil: nobody in particular.
    public var owner: String?

    /// A row from its columns.
    public init(id: JobID, kind: String, state: JobStatus, attempt: Int, maxAttempts: Int, progress: Double,
                message: String?, previewURL: String?, resultURL: String?, errorCode: String?, errorMessage: String?,
                createdAt: Timestamp, startedAt: Timestamp?, finishedAt: Timestamp?, updatedAt: Timestamp, version: Int,
                owner: String? = nil) {
        self.id = id; self.kind = kind; self.state = state; self.attempt = attempt; self.maxAttempts = maxAttempts
        self.progress = progress; self.message = message; self.previewURL = previewURL; self.resultURL = resultURL
        self.errorCode = errorCode; self.errorMessage = errorMessage; self.createdAt = createdAt
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.updatedAt = updatedAt; self.version = version
        self.owner = owner
    }

    /// The row for a job's state, with the URLs its artefacts were published at (nil while the
    /// blob projection has not published them).
    public init(state s: JobState, previewURL: String?, resultURL: String?) {
        self.init(id: s.id, kind: s.kind, state: s.status, attempt: s.attempt, maxAttempts: s.maxAttempts,
                  progress: s.progress, message: s.progressMessage, previewURL: previewURL, resultURL: resultURL,
                  errorCode: s.lastError?.code, errorMessage: s.lastError?.message, createdAt: s.createdAt,
                  startedAt: s.startedAt, finishedAt: s.finishedAt, updatedAt: s.updatedAt, version: s.version,
                  owner: s.owner)
    }

    /// The row's fields by column name, as JSON values: what `--json` prints and what drift
    /// reports compare.
    public var fields: [(name: String, value: JSONValue)] {
        func opt(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.iso8601) } ?? .null }
        return [
            ("id", .string(id.rawValue)), ("kind", .string(kind)), ("state", .string(state.rawValue)),
            ("attempt", .int(Int64(attempt))), ("max_attempts", .int(Int64(maxAttempts))), ("progress", .double(progress)),
            ("message", opt(message)), ("preview_url", opt(previewURL)), ("result_url", opt(resultURL)),
            ("error_code", opt(errorCode)), ("error_message", opt(errorMessage)), ("created_at", time(createdAt)),
            ("started_at", time(startedAt)), ("finished_at", time(finishedAt)), ("updated_at", time(updatedAt)),
            ("version", .int(Int64(version))), ("owner", opt(owner)),
        ]
    }

    /// The row as one JSON object, keyed by column name.
    public var json: JSONValue { .object(Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.value) })) }

    /// The fields whose values differ, as (field, this row's value, the other row's value).
    public func differences(from other: JobRow) -> [(field: String, mine: JSONValue, theirs: JSONValue)] {
        zip(fields, other.fields).compactMap { a, b in a.value == b.value ? nil : (a.name, a.value, b.value) }
    }
}
