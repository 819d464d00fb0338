import Foundation
import JobLedger
import JobLedgerSQLite

/// What a handler gets: the job, and ways to report progress and a preview. Progress is also
/// the heartbeat that extends the job's lease, so a long handler should report it more often
/// than `JobEngine.Options.leaseMilliseconds`.
///
/// ```swift
/// engine.register(kind: "design") { ctx in
///     try await ctx.progress(0.1, message: "sketching")
///     try await ctx.lowres(previewPNG, contentType: "image/png")
///     if ctx.isCancelled { throw CancellationError() }
///     return JobCompletion(bytes: finalPNG, contentType: "image/png")
/// }
/// ```
public struct JobContext: Sendable {
    /// The job being run.
    public let job: JobID
    /// Its kind (the one the handler was registered for).
    public let kind: String
    /// Its input, as submitted (a typed handler gets it decoded as its second argument).
    public let input: JSONValue
    /// 1 for the first attempt.
    public let attempt: Int
    /// The attempt after which a failure is final.
    public let maxAttempts: Int
    let engine: JobEngine

    /// Records progress (0…1, never backwards within an attempt) and extends the lease.
    /// Throws `ClaimLost` when this attempt no longer holds the job (its lease expired and
    /// another attempt took over, or the job was canceled or finished elsewhere): stop then.
    /// A report the log would refuse is refused here, at once, with the log's error, even when
    /// it would only have been merged into a later event (`Options.progressIntervalMilliseconds`):
    /// `LedgerError.rejected` with `progressOutOfRange` (NaN, ±infinity, outside 0…1) or
    /// `progressBackwards` (lower than this attempt's previous report), or
    /// `LedgerError.payloadTooLarge` (a message too long). Nothing is recorded and the lease is
    /// not extended; the handler may go on with a valid report.
    ///
    /// ```swift
    /// let done = 0.0, total = 0.0
    /// do { try await ctx.progress(done / total) }                   // 0/0 is NaN
    /// catch LedgerError.rejected(let refusal) { print(refusal) }    // … progress must be within 0…1, got nan
    /// ```
    public func progress(_ fraction: Double, message: String? = nil) async throws {
        try await engine.recordProgress(job: job, attempt: attempt, fraction: fraction, message: message)
    }

    /// Stages a low-resolution preview and records a `lowres` event. Throws `ClaimLost` like
    /// `progress`.
    public func lowres(_ bytes: Data, contentType: String) async throws {
        try await engine.recordPreview(job: job, attempt: attempt, kind: kind, maxAttempts: maxAttempts, bytes: bytes, contentType: contentType)
    }

    /// True once this attempt's task is cancelled: the job was canceled, the attempt lost its
    /// claim or ran past its `timeout`, or the engine is shutting down (`shutdown(drain:)` after
    /// the drain). A handler should stop soon after; how the attempt is recorded depends on
    /// which (`cancellation` says).
    public var isCancelled: Bool { Task.isCancelled }

    /// Why this attempt is asked to stop, or nil while it may go on: the job was canceled
    /// (with its reason), the attempt lost its claim, ran past its `timeout`, or the engine is
    /// shutting down. Call it from the handler's task (the shutdown case is read from its
    /// cancellation).
    ///
    /// ```swift
    /// if let why = ctx.cancellation {
    ///     await renderer.abort(job: ctx.job, because: why.description)  // "canceled: by admin"
    ///     throw CancellationError()
    /// }
    /// ```
    public var cancellation: AttemptCancellation? {
        engine.cancellation(of: job, attempt: attempt, taskCancelled: Task.isCancelled)
    }
}

/// What a handler returns: final bytes (staged as the result asset, `JobState.result`) and/or
/// output JSON (`JobState.output`), recorded in the job's `completed` event.
///
/// ```swift
/// return JobCompletion(bytes: png, contentType: "image/png", output: ["width": 1024, "height": 1024])
/// ```
public struct JobCompletion: Sendable {
    /// The result bytes (an image, a PDF), staged beside the log; nil: none.
    public var bytes: Data?
    /// MIME type of `bytes`.
    public var contentType: String
    /// The result as JSON (dimensions, a URL, a summary); nil: none.
    public var output: JSONValue?

    /// A result with bytes and/or output JSON; both may be nil (done, nothing to keep).
    public init(bytes: Data? = nil, contentType: String = "application/octet-stream", output: JSONValue? = nil) {
        self.bytes = bytes
        self.contentType = contentType
        self.output = output
    }
}

/// Thrown by a handler to say how its attempt failed and whether another attempt could succeed.
/// Any other error counts as a retryable `handler_error` with the error's description as
/// message. Recorded as the job's `JobFailure`.
///
/// ```swift
/// guard let prompt = ctx.input["prompt"]?.stringValue else {
///     throw JobError(code: "bad_input", message: "input.prompt is missing", retryable: false)
/// }
/// print(JobError(code: "busy", message: "GPU queue full", retryable: true))  // busy: GPU queue full (retryable)
/// ```
public struct JobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A short machine-readable reason, recorded as the failure's code: 1…200 bytes. One the
    /// log cannot record (or a message too large for it) is recorded as code `invalid_error`,
    /// as retryable as thrown, its message quoting the start of this code and message.
    public var code: String
    /// What went wrong, for people (recorded up to 4,000 characters).
    public var message: String
    /// True: the job is retried after its `RetryPolicy` delay while it has attempts left.
    /// False: the job fails for good now.
    public var retryable: Bool

    /// A failure with its code, message and whether to retry.
    public init(code: String, message: String, retryable: Bool) {
        self.code = code
        self.message = message
        self.retryable = retryable
    }

    /// `code: message (retryable|not retryable)`; the message is left out when empty.
    public var description: String {
        "\(code)\(message.isEmpty ? "" : ": \(message)") (\(retryable ? "retryable" : "not retryable"))"
    }
}

/// Runs one attempt of a job: returns its result, or throws (`JobError` to say how; any other
/// error is a retryable `handler_error`). Registered with `JobEngine.register(kind:retry:concurrency:timeout:_:)`.
public typealias JobHandler = @Sendable (JobContext) async throws -> JobCompletion
