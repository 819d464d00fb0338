/// What one event says, typed per event type. Encoded in the log as canonical JSON with
/// snake_case keys; `Docs/EventLog.md` lists every field.
public enum EventPayload: Sendable, Hashable {
    /// A job was submitted (always its first event; again to requeue a failed job).
    case queued(Queued)
    /// A worker claimed the job for its next attempt.
    case started(Started)
    /// The running attempt reported progress (and renewed its lease).
    case progress(Progress)
    /// The running attempt staged a preview.
    case lowres(Lowres)
    /// The running attempt finished the job.
    case completed(Completed)
    /// The running attempt failed; the job is requeued or failed for good.
    case failed(Failed)
    /// The job was canceled.
    case canceled(Canceled)

    /// A job was submitted: what to run, with what input, how urgently and how often to try.
    public struct Queued: Sendable, Hashable {
        /// Which handler runs the job (`JobEngine.register(kind:…)`).
        public var kind: String
        /// What the handler is given (`JobContext.input`).
        public var input: JSONValue
        /// Higher runs first, then oldest; −1,000,000…1,000,000.
        public var priority: Int
        /// Attempts before a retryable failure is final (1…1000); on a requeue, how many more.
        public var maxAttempts: Int
        /// Not claimed before this time; nil: at once.
        public var runAt: Timestamp?
        /// Who the job belongs to (1…200 bytes): `jobledger serve` records the caller's token
        /// subject here, and only that user (or an admin) may read it. Nil: nobody in particular
        /// (the CLI, the engine API). On a requeue, nil keeps the job's owner.
        public var owner: String?
        /// A submission; the defaults are those of a `queued` payload without the field.
        public init(kind: String, input: JSONValue = .object([:]), priority: Int = 0, maxAttempts: Int = 3, runAt: Timestamp? = nil,
                    owner: String? = nil) {
            self.kind = kind; self.input = input; self.priority = priority; self.maxAttempts = maxAttempts; self.runAt = runAt
            self.owner = owner
        }

        /// The input key under which `jobledger serve` recorded the owner before `queued` had an
        /// `owner` field (`input._jobledger.owner`). Such events still read as owned; a new
        /// `queued` event may not carry the key (the log refuses it), so nobody can name another
        /// user as a job's owner through its input.
        public static let legacyOwnerKey = "_jobledger"

        /// The owner the event records: `owner`, else the legacy `input._jobledger.owner` when it
        /// is a string.
        public var recordedOwner: String? { owner ?? input[Self.legacyOwnerKey]?["owner"]?.stringValue }

        /// Checks what only a new `queued` event must obey (an old one in the log or an import
        /// is read as it was): its input does not use `legacyOwnerKey`.
        public func checkNew() throws(PayloadError) {
            if input[Self.legacyOwnerKey] != nil {
                throw PayloadError(type: .queued, reason:
                    "input key '\(Self.legacyOwnerKey)' is reserved (it once recorded the job's owner); name the owner in the 'owner' field")
            }
        }
    }

    /// A worker took the job for one attempt and holds it until the lease deadline.
    public struct Started: Sendable, Hashable {
        /// The claiming engine (`JobEngine.Options.workerID`).
        public var worker: String
        /// The attempt it starts: the job's attempt count + 1.
        public var attempt: Int
        /// The claim holds until then unless progress renews it; after it, any engine may requeue the job.
        public var leaseDeadline: Timestamp
        /// A claim of `attempt` by `worker` until `leaseDeadline`.
        public init(worker: String, attempt: Int, leaseDeadline: Timestamp) {
            self.worker = worker; self.attempt = attempt; self.leaseDeadline = leaseDeadline
        }
    }

    /// How far the running attempt has got, as a fraction 0…1, with an optional note.
    /// A progress report doubles as a heartbeat: with `leaseDeadline` it extends the lease.
    public struct Progress: Sendable, Hashable {
        /// 0…1, never lower than the attempt's previous progress.
        public var fraction: Double
        /// A short note for people ("sketching"); nil keeps the previous one.
        public var message: String?
        /// The renewed lease deadline; nil leaves the lease as it was.
        public var leaseDeadline: Timestamp?
        /// The attempt (claim) reporting it. The log refuses it once that attempt no longer
        /// holds the job. Required on append; absent only in events recorded before fencing.
        public var attempt: Int?
        /// A progress report of attempt `attempt`.
        public init(fraction: Double, message: String? = nil, leaseDeadline: Timestamp? = nil, attempt: Int? = nil) {
            self.fraction = fraction; self.message = message; self.leaseDeadline = leaseDeadline; self.attempt = attempt
        }
    }

    /// A low-resolution preview was staged.
    public struct Lowres: Sendable, Hashable {
        /// The staged preview bytes.
        public var asset: AssetRef
        /// The attempt (claim) that staged it; see `Progress.attempt`.
        public var attempt: Int?
        /// A preview staged by attempt `attempt`.
        public init(asset: AssetRef, attempt: Int? = nil) { self.asset = asset; self.attempt = attempt }
    }

    /// The job finished; its final bytes (if any) and output JSON (if any).
    public struct Completed: Sendable, Hashable {
        /// The staged result bytes, if the job produced any.
        public var asset: AssetRef?
        /// The result as JSON, if any (`JobCompletion.output`, a typed job's `Output`).
        public var output: JSONValue?
        /// The attempt (claim) that finished it; see `Progress.attempt`.
        public var attempt: Int?
        /// The end of attempt `attempt`, with its result.
        public init(asset: AssetRef? = nil, output: JSONValue? = nil, attempt: Int? = nil) {
            self.asset = asset; self.output = output; self.attempt = attempt
        }
    }

    /// An attempt failed. A retryable failure with attempts left requeues the job, not before
    /// `retryAt`; otherwise the job is failed for good.
    public struct Failed: Sendable, Hashable {
        /// A short machine-readable reason (`JobFailure.code`).
        public var code: String
        /// What went wrong, for people.
        public var message: String
        /// Whether another attempt could succeed.
        public var retryable: Bool
        /// The attempt that failed (its claim).
        public var attempt: Int
        /// For a retryable failure: the next attempt is not claimed before then (nil: at once).
        public var retryAt: Timestamp?
        /// The attempt reached no outcome of its own — its worker shut down gracefully and
        /// stopped it — so it does not count against `maxAttempts`: the job gets one attempt
        /// more (its `maxAttempts` grows by one; attempt numbers still only go up, for fencing).
        /// Only for a retryable failure. A job interrupted by deploys still gets all its
        /// attempts, up to the cap of 1000 attempts in all (past it no attempt could start: the
        /// attempt is then not given back); a worker that crashes (`lease_expired`) still uses
        /// one up.
        public var refundsAttempt: Bool
        /// A failure of attempt `attempt`.
        public init(code: String, message: String, retryable: Bool, attempt: Int, retryAt: Timestamp? = nil, refundsAttempt: Bool = false) {
            self.code = code; self.message = message; self.retryable = retryable; self.attempt = attempt; self.retryAt = retryAt
            self.refundsAttempt = refundsAttempt
        }
    }

    /// The job was canceled, with a reason.
    public struct Canceled: Sendable, Hashable {
        /// Why, for the record (may be empty).
        public var reason: String
        /// A cancellation with its reason.
        public init(reason: String) { self.reason = reason }
    }

    /// The attempt an event written by an attempt names (its claim): progress, lowres,
    /// completed and failed. Nil for the other types, and for events recorded before fencing.
    public var claim: Int? {
        switch self {
        case .progress(let p): p.attempt
        case .lowres(let l): l.attempt
        case .completed(let c): c.attempt
        case .failed(let f): f.attempt
        case .queued, .started, .canceled: nil
        }
    }

    /// True for the event types an attempt writes, which must name their claim when appended.
    public var isWrittenByAnAttempt: Bool {
        switch self {
        case .progress, .lowres, .completed, .failed: true
        case .queued, .started, .canceled: false
        }
    }

    /// The event type this payload belongs to.
    public var type: EventType {
        switch self {
        case .queued: .queued
        case .started: .started
        case .progress: .progress
        case .lowres: .lowres
        case .completed: .completed
        case .failed: .failed
        case .canceled: .canceled
        }
    }
}
