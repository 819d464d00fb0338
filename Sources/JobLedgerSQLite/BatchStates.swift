import JobLedger

/// The states of the jobs one append transaction has moved on so far: what its later events
/// are validated against, and what the writer's cache learns once it commits. The first job is
/// held inline, so that a transaction of one event (the common case) allocates nothing.
struct BatchStates {
    // Two optionals rather than an optional tuple: reading the first job's id then copies the
    // id alone, not the tuple with its state.
    private var firstJob: JobID?
    private var firstState: JobState?
    private var others = PackedJobStates()
    /// Whether `appended` is kept (for a ledger whose commits are observed: `CommitObservers`).
    private let collecting: Bool
    /// With `collecting`, every event the transaction recorded so far, with its job's state
    /// after it, in `seq` order.
    private(set) var appended: [CommittedEvent] = []

    init(collecting: Bool = false) { self.collecting = collecting }

    /// Records that the transaction appended `event`, which left its job in `state`.
    mutating func recorded(_ event: StoredEvent, after state: JobState) {
        self[event.job] = state
        if collecting { appended.append(CommittedEvent(event, after: state)) }
    }

    /// Whether the transaction keeps what it records for the observers (`appended`).
    var keepsAppended: Bool { collecting }

    /// Records events of a request that was committed as a whole (after its savepoint was released).
    mutating func recorded(_ events: [(StoredEvent, JobState)]) {
        if collecting { for (e, s) in events { appended.append(CommittedEvent(e, after: s)) } }
    }

    var isEmpty: Bool { firstJob == nil && others.isEmpty }

    /// Makes room for `jobs` jobs, so that a large transaction does not grow the table step by step.
    mutating func reserve(_ jobs: Int) {
        if jobs > 1 { others.reserveCapacity(jobs - 1) }
    }

    /// The job's state after this transaction's events so far; nil when it has none for the
    /// job (which says nothing about the log). Setting nil forgets the job.
    subscript(job: JobID) -> JobState? {
        get {
            if isFirst(job) { return firstState }
            return others.isEmpty ? nil : others[job]
        }
        set {
            if isFirst(job) || (firstJob == nil && others[job] == nil) {
                firstJob = newValue == nil ? nil : job
                firstState = newValue
            } else {
                others[job] = newValue
            }
        }
    }

    private func isFirst(_ job: JobID) -> Bool {
        switch firstJob {
        case .some(let first): first == job
        case .none: false
        }
    }

    /// Calls `body` with every job and its state, in no particular order.
    func forEach(_ body: (JobID, JobState) -> Void) {
        if let firstJob, let firstState { body(firstJob, firstState) }
        others.forEach(body)
    }
}
