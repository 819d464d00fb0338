import Foundation
import JobLedger
import JobLedgerSQLite
import Synchronization

/// A job request from outside the process (a stream entry, a queue message), as an intake
/// hands it to the engine. Its idempotency key makes a request delivered twice one job.
public struct JobSubmission: Sendable, Hashable {
    /// The kind of job (`queued.kind`).
    public var kind: String
    /// The job's input, as the handler gets it.
    public var input: JSONValue
    /// Required: an intake delivers at least once, and the key is what makes that exactly one job.
    public var idempotencyKey: String
    /// Not claimed before this time; nil: at once.
    public var runAt: Timestamp?
    /// Attempts allowed (1…1000).
    public var maxAttempts: Int
    /// Higher runs first.
    public var priority: Int
    /// Who asked for the job (a user id), recorded in its `queued` event: `serve` shows a job to
    /// its owner and to admins only.
    public var owner: String?

    /// A request with the fields of `JobEngine.submit`, the idempotency key required.
    public init(kind: String, input: JSONValue, idempotencyKey: String, runAt: Timestamp? = nil, maxAttempts: Int = 3, priority: Int = 0,
                owner: String? = nil) {
        self.kind = kind; self.input = input; self.idempotencyKey = idempotencyKey
        self.runAt = runAt; self.maxAttempts = maxAttempts; self.priority = priority; self.owner = owner
    }

    /// The `queued` event it becomes; throws when a field breaks the log's rules (a kind too
    /// long, a priority out of range …), so an intake can refuse the request before submitting.
    public func newEvent(job: JobID) throws(PayloadError) -> NewEvent {
        let queued = self.queued
        let payload = EventPayload.queued(queued)
        try payload.validate()
        try queued.checkNew()
        guard (1...256).contains(idempotencyKey.utf8.count) else {
            throw PayloadError(type: .queued, reason: "an idempotency key must be 1…256 bytes long")
        }
        return NewEvent(job: job, payload: payload, idempotencyKey: idempotencyKey)
    }

    /// The `queued` payload it asks for, as `IdempotencyKeyReused` compares it.
    var queued: EventPayload.Queued {
        EventPayload.Queued(kind: kind, input: input, priority: priority, maxAttempts: maxAttempts, runAt: runAt, owner: owner)
    }
}

/// Something that feeds job requests to an engine: a stream consumer group, a queue. The
/// embedded default needs none (`JobEngine.submit` writes to the log directly).
///
/// `pull` takes in what is waiting (a batch at most), has `submit` commit it as `queued`
/// events, and only then acknowledges it at the source. A request delivered again after a
/// crash between commit and acknowledgement carries the same idempotency key, so it never makes
/// a second job.
public protocol JobIntake: Sendable {
    /// Takes in the next batch, if any: calls `submit` with the requests (it returns once they
    /// are committed) and then acknowledges them. `submit` throws `JobSubmissionsRefused` when
    /// the log refused some of them (the others are committed): those are to be set aside (a
    /// dead-letter queue), never delivered again. Returns how many requests it handled,
    /// refused ones included; 0 means nothing new was waiting.
    func pull(_ submit: @Sendable ([JobSubmission]) async throws -> [JobID]) async throws -> Int
    /// Sends whatever acknowledgements are still held back (called before the intake stops).
    func flush() async throws
}

extension JobIntake {
    /// Nothing held back.
    public func flush() async throws {}
}

/// A failure an intake reports so that the engine stops feeding from it (a refused credential):
/// retrying would only repeat it. Any other error from `pull` is logged and retried with backoff.
public struct JobIntakeStopped: Error, Sendable, CustomStringConvertible {
    /// Why the intake stopped, and what to fix.
    public var message: String
    /// A stop with its reason.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// How an intake is polled when nothing is waiting: from `minimum` doubling up to `maximum`,
/// back to `minimum` as soon as a pull brings something.
public struct IdleBackoff: Sendable, Hashable {
    /// The first wait after a pull that brought nothing (or failed); a pull that brings
    /// something resets the wait to it.
    public var minimum: Duration
    /// The longest wait between two pulls.
    public var maximum: Duration
    /// Idle waits from `minimum` doubling up to `maximum`.
    public init(minimum: Duration = .milliseconds(50), maximum: Duration = .seconds(2)) {
        self.minimum = minimum; self.maximum = maximum
    }
}

extension JobEngine {
    /// The kinds this engine has handlers for.
    public var registeredKinds: Set<String> { state.withLock { Set($0.registrations.keys) } }

    /// Queues a batch of requests in one transaction and returns their jobs' ids, in order (for
    /// an idempotency key given again with the same request, the first job's id).
    ///
    /// A request the log refuses (its `queued` event over the payload limit or against the
    /// log's rules) or whose key belongs to a job asked for with another request does not fail
    /// the others: they are committed (when the batch as a whole was refused, in halves, the
    /// refused half in halves again, down to the refused requests alone), and
    /// `JobSubmissionsRefused` says which were refused and why. An intake then acknowledges the
    /// others and dead-letters the refused ones. Any other failure (a busy or failing log)
    /// throws, and some requests may be committed already (when the batch was being tried in
    /// parts): the batch is to be delivered again, which the idempotency keys (required) make
    /// the same jobs.
    public func submit(_ submissions: [JobSubmission]) async throws -> [JobID] {
        guard !submissions.isEmpty else { return [] }
        let now = clock.now()
        var jobs = [JobID?](repeating: nil, count: submissions.count)
        var refusals: [Int: String] = [:]
        var prepared: [(index: Int, event: NewEvent)] = []
        prepared.reserveCapacity(submissions.count)
        for (i, s) in submissions.enumerated() {
            do { prepared.append((i, try s.newEvent(job: JobID.generate(at: now)))) } catch { refusals[i] = error.description }
        }
        // What the log answered for each request committed: its stored `queued` (the first
        // job's, for an idempotency key given again).
        var answered: [(index: Int, asked: JobID, stored: StoredEvent)] = []
        if !prepared.isEmpty {
            try await appendSplitting(prepared[...], answered: &answered, refusals: &refusals)
        }
        for a in answered {
            folded(a.stored)
            let s = submissions[a.index]
            if a.stored.job != a.asked, let fields = IdempotencyKeyReused.differences(stored: a.stored.payload, asked: s.queued) {
                refusals[a.index] = IdempotencyKeyReused(key: s.idempotencyKey, job: a.stored.job, fields: fields).description
            } else {
                jobs[a.index] = a.stored.job
            }
        }
        if !refusals.isEmpty { throw JobSubmissionsRefused(jobs: jobs, refusals: refusals) }
        return jobs.map { $0! }
    }

    /// Appends `part` in one transaction; when the log refuses it (one request in it is
    /// refused), appends each half the same way, so a redelivered batch of a thousand with one
    /// refused request takes about twenty transactions, not a thousand.
    private func appendSplitting(_ part: ArraySlice<(index: Int, event: NewEvent)>,
                                 answered: inout [(index: Int, asked: JobID, stored: StoredEvent)],
                                 refusals: inout [Int: String]) async throws {
        do {
            let stored = try await ledger.append(part.map(\.event))
            for (e, p) in zip(stored, part) { answered.append((p.index, p.event.job, e)) }
        } catch {
            guard JobSubmissionsRefused.refusesTheRequest(error) else { throw error }
            guard part.count > 1 else { refusals[part[part.startIndex].index] = "\(error)"; return }
            // A few are tried one by one: halving them costs more tries when several are refused.
            if part.count <= 4 {
                for i in part.indices { try await appendSplitting(part[i...i], answered: &answered, refusals: &refusals) }
                return
            }
            let middle = part.startIndex + part.count / 2
            try await appendSplitting(part[..<middle], answered: &answered, refusals: &refusals)
            try await appendSplitting(part[middle...], answered: &answered, refusals: &refusals)
        }
    }

    /// Works, fed by `intake`, until the task is cancelled or `shutdown(drain:)` is called:
    /// pulls requests (backing off while none come), and claims and runs jobs meanwhile.
    public func work(feedingFrom intake: any JobIntake, idle: IdleBackoff = IdleBackoff(),
                     pollInterval: Duration = .milliseconds(50)) async throws {
        try await feed(from: intake, idle: idle, untilIdle: false, pollInterval: pollInterval)
    }

    /// Works, fed by `intake`, until the intake has nothing new and no job of a registered kind
    /// is queued, delayed or running; then sends the held-back acknowledgements and returns.
    /// Pulls that keep failing for longer than `giveUpAfter` end it with `IntakeUnavailable`
    /// (nil: they are retried for ever, as `work(feedingFrom:)` does).
    public func workUntilIdle(feedingFrom intake: any JobIntake, idle: IdleBackoff = IdleBackoff(),
                              pollInterval: Duration = .milliseconds(50), giveUpAfter: Duration? = .seconds(30)) async throws {
        try await feed(from: intake, idle: idle, untilIdle: true, pollInterval: pollInterval, giveUpAfter: giveUpAfter)
    }

    private func feed(from intake: any JobIntake, idle: IdleBackoff, untilIdle: Bool, pollInterval: Duration,
                      giveUpAfter: Duration? = nil) async throws {
        // Before the first pull: requests taken from the intake for an engine that cannot work
        // would be queued with no one to run them.
        try checkWorkable()
        // The worker ending by itself (an unreadable log, a storage fault past its bound) ends the
        // feed too: pulling more requests for no one to run would go on for ever.
        let workerEnded = EndedFlag()
        let worker = Task {
            defer { workerEnded.set() }
            try await self.work(pollInterval: pollInterval)
        }
        defer { worker.cancel() }
        var wait = idle.minimum
        var failure: (any Error)?
        var lastFailure: String?
        var failingSince: ContinuousClock.Instant?
        var unreadSince: ContinuousClock.Instant?
        do {
            feeding: while !Task.isCancelled && !isDraining && !workerEnded.isSet {
                let n: Int
                do {
                    n = try await untilDraining { try await intake.pull { batch in try await self.submit(batch) } }
                } catch is CancellationError {
                    break
                } catch let e as JobIntakeStopped {
                    throw e
                } catch {
                    // The source is unavailable: log (once per distinct failure), back off, try
                    // again (the requests stay there).
                    let text = "\(error)"
                    let since = failingSince ?? .now
                    failingSince = since
                    if untilIdle, let giveUpAfter, ContinuousClock.now - since >= giveUpAfter {
                        throw IntakeUnavailable(duration: ContinuousClock.now - since, lastError: text)
                    }
                    if text != lastFailure { options.logger.warning("intake pull failed, retrying: \(text)") }
                    lastFailure = text
                    try? await Task.sleep(for: wait)
                    wait = min(wait * 2, idle.maximum)
                    continue
                }
                lastFailure = nil
                failingSince = nil
                if n > 0 { wait = idle.minimum; continue }
                if untilIdle, runningCount == 0 {
                    switch await jobsInFlight(of: registeredKinds) {
                    case false?:
                        unreadSince = nil
                        // Nothing running and nothing queued: one more look, in case requests came meanwhile.
                        if try await intake.pull({ batch in try await self.submit(batch) }) == 0 { break feeding }
                        continue
                    case nil:
                        // The log could not be read: not known to be idle; tried again every poll.
                        try lookFailed(since: &unreadSince)
                    case true?:
                        unreadSince = nil
                    }
                }
                try? await Task.sleep(for: wait)
                wait = min(wait * 2, idle.maximum)
            }
            if isDraining {
                // A shutdown: the held-back acknowledgements are waited for a few seconds; past
                // them the feed ends and the flush finishes, or fails, on its own (entries not
                // acknowledged are read again, and their submits are idempotent). Sent to a source that had just stopped answering,
                // they held the shutdown for its whole timeout, retries included.
                _ = try? await withoutCancelling(within: .seconds(5)) { try await intake.flush() }
            } else {
                try await intake.flush()
            }
        } catch {
            failure = error
        }
        if untilIdle { await shutdown(drain: .zero) }
        if Task.isCancelled { worker.cancel() }
        do { try await worker.value } catch {
            // The worker's own failure is the run's, unless the feed failed first.
            if failure == nil, !(error is CancellationError) { failure = error }
        }
        if let failure { throw failure }
    }
}

extension JobEngine {
    /// Runs `body` (a pull), cancelling it once the engine starts draining: a pull waiting on a
    /// source that does not answer (an Upstash read) held a shutdown for the source's whole
    /// timeout, up to ten minutes. What a cancelled pull read and did not acknowledge stays in
    /// the source, and is read again (its submits are idempotent). Throws `CancellationError`
    /// when cut off so.
    func untilDraining<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while !self.isDraining { try await Task.sleep(for: .milliseconds(50)) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw CancellationError() }
            return value
        }
    }
}

/// A flag one task sets and another reads (held in a class: a lock or an atomic is not to be
/// captured by value in an escaping closure).
private final class EndedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
