import JobLedger
import JobLedgerSQLite

/// Thrown by `JobEngine.submit` when its idempotency key already belongs to a job asked for
/// with another request: another kind, input, priority, attempt count, run-at or owner. The
/// same key with the same request returns the first job (a retried request); with another
/// one it is a bug of the caller (a key reused for a new request, or derived from too little
/// of it), and returning the first job would hand back a job that is not what was asked for.
/// Nothing is queued.
///
/// ```swift
/// let a = try await engine.submit(kind: "design", input: ["prompt": "a cat"], idempotencyKey: "req-1")
/// do { _ = try await engine.submit(kind: "design", input: ["prompt": "a dog"], idempotencyKey: "req-1") }
/// catch let e as IdempotencyKeyReused { print(e) }
/// // idempotency key 'req-1' belongs to job … queued with another request (input differs); nothing was queued
/// ```
public struct IdempotencyKeyReused: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key, as submitted.
    public let key: String
    /// The job the key belongs to.
    public let job: JobID
    /// The fields of the request that differ from the first one's (`kind`, `input`, `priority`,
    /// `max_attempts`, `run_at`, `owner`), by their names in the `queued` event; `event` when
    /// the key belongs to an event that is not a `queued` (one appended by hand).
    public let fields: [String]

    /// A reuse of `key`, which belongs to `job`, with `fields` differing.
    public init(key: String, job: JobID, fields: [String]) {
        self.key = key; self.job = job; self.fields = fields
    }

    /// `idempotency key '<key>' belongs to job <job> queued with another request (<fields> differ…)`.
    public var description: String {
        let what = fields == ["event"] ? "it names an event other than a job's 'queued'"
            : "\(fields.joined(separator: ", ")) \(fields.count == 1 ? "differs" : "differ")"
        return "idempotency key '\(key.prefix(100))' belongs to job \(job) queued with another request (\(what)); nothing was queued"
    }

    /// The fields of `asked` that differ from the `queued` event stored with the key (nil: the
    /// same request), compared as the log records them: a number given as `1.0` is stored as
    /// `1`, a `null` input as `{}`, and a job queued before the `owner` field carries its owner
    /// in its input.
    static func differences(stored: EventPayload, asked: EventPayload.Queued) -> [String]? {
        guard case .queued(let first) = stored else { return ["event"] }
        var input = first.input
        if case .object(var o) = input, o.removeValue(forKey: EventPayload.Queued.legacyOwnerKey) != nil { input = .object(o) }
        var fields: [String] = []
        // Texts compared by their bytes, as their digests would be: Swift's `==` holds é written
        // as one scalar and as e + U+0301 equal, and a retry with the other spelling then got
        // the first job, its own input dropped.
        if !sameText(first.kind, asked.kind) { fields.append("kind") }
        if !sameText(input.canonicalText, asked.asStored.input.canonicalText) { fields.append("input") }
        if first.priority != asked.priority { fields.append("priority") }
        if first.maxAttempts != asked.maxAttempts { fields.append("max_attempts") }
        if first.runAt != asked.runAt { fields.append("run_at") }
        if !sameText(first.recordedOwner, asked.owner) { fields.append("owner") }
        return fields.isEmpty ? nil : fields
    }

    private static func sameText(_ a: String?, _ b: String?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case let (a?, b?): a.utf8.elementsEqual(b.utf8)
        default: false
        }
    }
}
