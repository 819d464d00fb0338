/// The vocabulary of the built-in image-job lifecycle. The log's CHECK constraint holds exactly
/// these names.
public enum EventType: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case queued, started, progress, lowres, completed, failed, canceled

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
    public var size: Int64
    public var contentType: String

    public init(sha256: String, size: Int64, contentType: String) {
        self.sha256 = sha256
        self.size = size
        self.contentType = contentType
    }

    var json: JSONValue {
        .object(["sha256": .string(sha256), "size": .int(size), "content_type": .string(contentType)])
    }
}

/// The reason a job attempt failed, as recorded in a `failed` event and kept in the job's state.
public struct JobFailure: Sendable, Hashable {
    public var code: String
    public var message: String
    public var retryable: Bool
    public var attempt: Int

    public init(code: String, message: String, retryable: Bool, attempt: Int) {
        self.code = code
        self.message = message
        self.retryable = retryable
        self.attempt = attempt
    }
}
