/// The vocabulary of the built-in image-job lifecycle. The log's CHECK constraint holds exactly
/// these names.
public enum EventType: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case queued, started, progress, lowres, completed, failed, canceled

    /// The name used in the log, the CLI and NDJSON (`completed`).
    public var description: String { rawValue }

    /// Parses an event type name; the error lists the valid names.
    public init(name: String) throws(PayloadError) {
        guard let t = EventType(rawValue: name) else {
            throw PayloadError(type: nil, reason: "unknown event type '\(name)' (expected one of: \(EventType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = t
    }
}

/// A reference to bytes staged beside the log (content-addressed by SHA-256). Events carry
/// this, never the bytes.
public struct AssetRef: Sendable, Hashable {
    /// Lowercase hex SHA-256 of the bytes.
    public var sha256: String
    /// Length of the bytes.
    public var size: Int64
    /// MIME type of the bytes (`image/png`).
    public var contentType: String

    /// A reference to staged bytes; `Ledger.stageAsset` returns one.
    public init(sha256: String, size: Int64, contentType: String) {
        self.sha256 = sha256
        self.size = size
        self.contentType = contentType
    }

    var json: JSONValue {
        .object(["sha256": .string(sha256), "size": .int(size), "content_type": .string(contentType)])
    }
}

/// Why one attempt of a job failed, as recorded in its `failed` event and kept in the job's
/// state (`JobState.lastError`, the latest failure). Prints as one readable line:
///
/// ```swift
/// let f = JobFailure(code: "oom", message: "out of memory", retryable: true, attempt: 2)
/// print(f)  // oom: out of memory (attempt 2, retryable error)
/// print(f.description(endedJob: true))  // oom: out of memory (attempt 2, retryable error, but no attempts left)
/// ```
public struct JobFailure: Sendable, Hashable, CustomStringConvertible {
    /// A short machine-readable reason, chosen by the handler (`JobError.code`) or the engine
    /// (`handler_error`, `lease_expired`, `worker_shutdown`, `invalid_result`, `invalid_input`).
    public var code: String
    /// What went wrong, for people.
    public var message: String
    /// Whether the handler said another attempt could succeed. A retryable failure requeues
    /// the job while it has attempts left; otherwise the job fails for good.
    public var retryable: Bool
    /// The attempt that failed (1 for the first).
    public var attempt: Int

    /// A failure of attempt `attempt`.
    public init(code: String, message: String, retryable: Bool, attempt: Int) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.attempt = attempt
    }

    /// `code: message (attempt N, retryable error|not retryable)`; the message is left out when
    /// empty. "Retryable" is the error's own flag, not a promise of another attempt: for the
    /// failure that ended its job see `description(endedJob:)`.
    public var description: String { description(endedJob: false) }

    /// The line of `description`; with `endedJob` (the job failed for good with this failure,
    /// as `JobState.lastError` of a `failed` job), a retryable error says that no attempts were
    /// left: `code: message (attempt 3, retryable error, but no attempts left)`.
    public func description(endedJob: Bool) -> String {
        let flag = !retryable ? "not retryable" : endedJob ? "retryable error, but no attempts left" : "retryable error"
        return "\(code)\(message.isEmpty ? "" : ": \(message)") (attempt \(attempt), \(flag))"
    }
}
