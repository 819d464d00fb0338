import Foundation
import JobLedger
import JobLedgerSQLite

/// A kind of job with a typed input and output, declared once and used to register its
/// handler, submit jobs and read their results without touching JSON. The input and output
/// travel in the log as the JSON their `Codable` conformances write (`JSONValue(encoding:)`), so
/// a typed job is an ordinary job of `kind` to everything else: `jobledger history`, the
/// projections, the JSON API.
///
/// ```swift
/// enum Thumbnail: JobDefinition {
///     struct Input: Codable, Sendable { var url: String; var width: Int }
///     struct Output: Codable, Sendable { var bytes: Int }
///     static let kind = "thumbnail"
/// }
///
/// engine.register(Thumbnail.self) { ctx, input in
///     try await ctx.progress(0.5)
///     return Thumbnail.Output(bytes: input.width * 10)
/// }
/// let job = try await engine.submit(Thumbnail.self, .init(url: "https://…/a.png", width: 64))
/// try await engine.workUntilIdle()
/// let output = try engine.output(of: job, as: Thumbnail.self)   // Thumbnail.Output(bytes: 640)
/// ```
public protocol JobDefinition: Sendable {
    /// What a job of this kind is given; recorded as its `queued` event's input.
    associatedtype Input: Codable & Sendable
    /// What a job of this kind produces; recorded as its `completed` event's output.
    associatedtype Output: Codable & Sendable
    /// The job kind in the log (`queued.kind`); one definition per kind.
    static var kind: String { get }
}

/// Why a typed result could not be read: the job is unknown or of another kind, it did not
/// complete, or its recorded output is not the definition's `Output`. Prints as one line.
public enum TypedJobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No job with this id is in the log.
    case unknownJob(JobID)
    /// The job is of another kind than the definition's.
    case kindMismatch(job: JobID, expected: String, actual: String)
    /// The job failed for good; its last failure says why.
    case failed(job: JobID, JobFailure)
    /// The job was canceled, with the reason given.
    case canceled(job: JobID, reason: String?)
    /// The job completed, but its recorded output does not decode as the definition's `Output`.
    case undecodableOutput(job: JobID, kind: String, reason: String)

    /// One line saying what went wrong, naming the job.
    public var description: String {
        switch self {
        case .unknownJob(let job):
            "job \(job) does not exist"
        case .kindMismatch(let job, let expected, let actual):
            "job \(job) is a '\(actual)' job, not '\(expected)'"
        case .failed(let job, let failure):
            "job \(job) failed: \(failure.description(endedJob: true))"
        case .canceled(let job, let reason):
            "job \(job) was canceled\(reason.map { $0.isEmpty ? "" : ": \($0)" } ?? "")"
        case .undecodableOutput(let job, let kind, let reason):
            "the output of '\(kind)' job \(job) does not decode as its definition's Output: \(reason)"
        }
    }
}

extension JobEngine {
    /// Registers the handler of a typed job kind: it gets the decoded input and returns the
    /// output, which is recorded as the job's output JSON. An input that does not decode as
    /// `J.Input` (a job of this kind submitted through the JSON API with another shape) fails
    /// the attempt for good with code `invalid_input`, saying which field is wrong; an output
    /// that cannot be encoded fails it with `invalid_result`. Throwing works as for any handler
    /// (`JobError`, or a retryable `handler_error`), and so does `timeout`; a `concurrency` below 1
    /// or a `timeout` that is not positive is refused as with
    /// `register(kind:retry:concurrency:timeout:_:)`: the ways of working throw
    /// `InvalidEngineOptions` naming the kind and the parameter.
    ///
    /// ```swift
    /// engine.register(Thumbnail.self, retry: RetryPolicy(baseMilliseconds: 500), concurrency: 2) { ctx, input in
    ///     Thumbnail.Output(bytes: input.width * 10)
    /// }
    /// ```
    public func register<J: JobDefinition>(_ definition: J.Type, retry: RetryPolicy = RetryPolicy(), concurrency: Int? = nil,
                                           timeout: Duration? = nil,
                                           _ handler: @escaping @Sendable (JobContext, J.Input) async throws -> J.Output) {
        register(kind: J.kind, retry: retry, concurrency: concurrency, timeout: timeout) { ctx in
            let input: J.Input
            do { input = try ctx.input.decode(as: J.Input.self) } catch {
                throw JobError(code: "invalid_input",
                               message: "the input is not a \(J.self).Input: \(JSONValue.decodingFailureSummary(error))",
                               retryable: false)
            }
            let output = try await handler(ctx, input)
            do { return JobCompletion(output: try JSONValue(encoding: output)) } catch {
                throw JobError(code: "invalid_result", message: "the output cannot be encoded as JSON: \(error)", retryable: false)
            }
        }
    }

    /// Queues a typed job and returns its id, as `submit(kind:input:…)` does with the input
    /// encoded as JSON. The same idempotency key again, with the same request, returns the first
    /// job's id and queues nothing; with another request it throws `IdempotencyKeyReused`. An input that cannot be encoded (a non-finite `Double`) is refused with
    /// `LedgerError.invalidPayload`, and nothing is written.
    ///
    /// ```swift
    /// let job = try await engine.submit(Thumbnail.self, .init(url: "https://…/a.png", width: 64),
    ///                                   idempotencyKey: "upload-81")
    /// ```
    @discardableResult
    public func submit<J: JobDefinition>(_ definition: J.Type, _ input: J.Input, idempotencyKey: String? = nil,
                                         runAt: Timestamp? = nil, maxAttempts: Int = 3, priority: Int = 0,
                                         owner: String? = nil) async throws -> JobID {
        let json: JSONValue
        do { json = try JSONValue(encoding: input) } catch {
            throw LedgerError.invalidPayload(PayloadError(type: .queued, reason: "the input of a '\(J.kind)' job cannot be encoded as JSON: \(error)"))
        }
        return try await submit(kind: J.kind, input: json, idempotencyKey: idempotencyKey, runAt: runAt,
                                maxAttempts: maxAttempts, priority: priority, owner: owner)
    }

    /// The typed output of a job: nil while it is queued or running, its decoded output once it
    /// has completed. Throws `TypedJobError` when the job is unknown or of another kind, failed
    /// or was canceled (saying why), or completed with an output that is not `J.Output`.
    ///
    /// ```swift
    /// if let out = try engine.output(of: job, as: Thumbnail.self) { print(out.bytes) }
    /// ```
    public func output<J: JobDefinition>(of job: JobID, as definition: J.Type) throws -> J.Output? {
        guard let s = try state(of: job) else { throw TypedJobError.unknownJob(job) }
        return try Self.typedOutput(of: s, as: J.self)
    }

    /// Waits until the job has finished (checking the log every `pollInterval`, like
    /// `wait(for:timeout:pollInterval:)`) and returns its typed output; throws `TypedJobError` as
    /// `output(of:as:)` does when it failed, was canceled or is not of this kind, and
    /// `WaitTimeout` when a `timeout` passes first (on the engine's clock).
    ///
    /// ```swift
    /// let out = try await engine.wait(for: job, as: Thumbnail.self, timeout: .seconds(30))
    /// ```
    public func wait<J: JobDefinition>(for job: JobID, as definition: J.Type, timeout: Duration? = nil,
                                       pollInterval: Duration = .milliseconds(20)) async throws -> J.Output {
        guard let s = try state(of: job) else { throw TypedJobError.unknownJob(job) }
        guard s.kind == J.kind else { throw TypedJobError.kindMismatch(job: job, expected: J.kind, actual: s.kind) }
        let final = try await wait(for: job, timeout: timeout, pollInterval: pollInterval)
        guard let output = try Self.typedOutput(of: final, as: J.self) else {
            preconditionFailure("wait(for:) returned a job that has not finished")
        }
        return output
    }

    /// The output of a job's state as `J.Output`: nil until it has finished.
    static func typedOutput<J: JobDefinition>(of s: JobState, as definition: J.Type) throws -> J.Output? {
        guard s.kind == J.kind else { throw TypedJobError.kindMismatch(job: s.id, expected: J.kind, actual: s.kind) }
        switch s.status {
        case .queued, .running:
            return nil
        case .failed:
            throw TypedJobError.failed(job: s.id, s.lastError ?? JobFailure(code: "unknown", message: "", retryable: false, attempt: s.attempt))
        case .canceled:
            throw TypedJobError.canceled(job: s.id, reason: s.cancelReason)
        case .completed:
            do { return try (s.output ?? .null).decode(as: J.Output.self) } catch {
                throw TypedJobError.undecodableOutput(job: s.id, kind: J.kind, reason: JSONValue.decodingFailureSummary(error))
            }
        }
    }
}
