/// What a browser is told about one job after one event. Every message carries the job's whole
/// visible state, so a client that missed messages is still right after the next one, and the
/// event's `seq` and `version`, so it can drop duplicates and stale messages (keep a message
/// only when its `version` is greater than the last one seen). `Docs/Broadcast.md` is the
/// schema.
///
/// ```swift
/// for await p in hub.subscribe(stream: "job:\(job)") {
///     let m = p.message
///     guard m.version > lastVersion else { continue }   // a duplicate or a stale re-send
///     lastVersion = m.version
///     render(m.state, m.progress, m.previewURL, m.resultURL)
/// }
/// ```
public struct BroadcastMessage: Sendable, Hashable {
    /// The event type that caused this message.
    public var type: EventType
    /// The job.
    public var job: JobID
    /// The event's place in the whole log (unique per message).
    public var seq: Int64
    /// The event's place in the job: a client keeps a message only when this is greater than
    /// the last one it kept.
    public var version: Int
    /// The job's state after the event.
    public var state: JobStatus
    /// The attempt number (0 before the first start).
    public var attempt: Int
    /// Progress of the current attempt, 0…1 (1 once completed).
    public var progress: Double
    /// The current attempt's last progress note.
    public var message: String?
    /// Where the job's latest preview was published; nil while there is none or its upload
    /// was given up.
    public var previewURL: String?
    /// Where the result of a completed job was published.
    public var resultURL: String?
    /// The job's last failure (kept after a retry starts).
    public var error: JobFailure?

    /// A message from its fields.
    public init(type: EventType, job: JobID, seq: Int64, version: Int, state: JobStatus, attempt: Int,
                progress: Double, message: String? = nil, previewURL: String? = nil, resultURL: String? = nil,
                error: JobFailure? = nil) {
        self.type = type; self.job = job; self.seq = seq; self.version = version; self.state = state
        self.attempt = attempt; self.progress = progress; self.message = message
        self.previewURL = previewURL; self.resultURL = resultURL; self.error = error
    }

    /// The message for the event that brought a job to `state` (its state after the event).
    public init(event type: EventType, seq: Int64, state s: JobState, previewURL: String?, resultURL: String?) {
        self.init(type: type, job: s.id, seq: seq, version: s.version, state: s.status, attempt: s.attempt,
                  progress: s.progress, message: s.progressMessage, previewURL: previewURL, resultURL: resultURL,
                  error: s.lastError)
    }

    /// True when the message ends the job's stream: nothing is sent for the job after it
    /// (unless a failed job is requeued, which starts its stream again).
    public var isTerminal: Bool { state.isTerminal }

    /// The message as JSON: every key present, `null` where there is no value.
    public var json: JSONValue {
        .object([
            "type": .string(type.rawValue),
            "job": .string(job.rawValue),
            "seq": .int(seq),
            "version": .int(Int64(version)),
            "state": .string(state.rawValue),
            "attempt": .int(Int64(attempt)),
            "progress": .double(progress),
            "message": message.map(JSONValue.string) ?? .null,
            "preview_url": previewURL.map(JSONValue.string) ?? .null,
            "result_url": resultURL.map(JSONValue.string) ?? .null,
            "error": error.map { .object(["code": .string($0.code), "message": .string($0.message), "retryable": .bool($0.retryable), "attempt": .int(Int64($0.attempt))]) } ?? .null,
        ])
    }

    /// The message as canonical JSON text: what goes over the wire.
    public var text: String { json.canonicalText }

    /// Reads a message back from its JSON text (the outbox stores messages as text).
    public init(text: String) throws(PayloadError) {
        let v: JSONValue
        do { v = try JSONValue(parsing: text) } catch { throw PayloadError(type: nil, reason: "broadcast message: \(error)") }
        func fail(_ r: String) -> PayloadError { PayloadError(type: nil, reason: "broadcast message: \(r)") }
        guard let t = v["type"]?.stringValue, let type = EventType(rawValue: t) else { throw fail("bad 'type'") }
        guard let j = v["job"]?.stringValue, let job = try? JobID(j) else { throw fail("bad 'job'") }
        guard let seq = v["seq"]?.intValue, let version = v["version"]?.intValue else { throw fail("bad 'seq' or 'version'") }
        guard let st = v["state"]?.stringValue, let state = JobStatus(rawValue: st) else { throw fail("bad 'state'") }
        guard let attempt = v["attempt"]?.intValue, let progress = v["progress"]?.doubleValue else { throw fail("bad 'attempt' or 'progress'") }
        var error: JobFailure?
        if let e = v["error"], !e.isNull {
            guard let code = e["code"]?.stringValue, let m = e["message"]?.stringValue, let r = e["retryable"]?.boolValue,
                  let a = e["attempt"]?.intValue else { throw fail("bad 'error'") }
            error = JobFailure(code: code, message: m, retryable: r, attempt: Int(a))
        }
        self.init(type: type, job: job, seq: seq, version: Int(version), state: state, attempt: Int(attempt), progress: progress,
                  message: v["message"]?.stringValue, previewURL: v["preview_url"]?.stringValue,
                  resultURL: v["result_url"]?.stringValue, error: error)
    }
}
