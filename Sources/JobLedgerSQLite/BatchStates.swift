import JobLedger

/// The states of the jobs one append transaction has moved on so far: what its later events
/// are validated against, and what the writer's cache learns once it commits. The first job is
/// held inline, so that a transaction of one event (the common case) allocates nothing.
struct BatchStates {
    private var first: (job: JobID, state: JobState)?
    private var others: [JobID: JobState] = [:]

    init() {}

    var isEmpty: Bool { first == nil && others.isEmpty }

    /// The job's state after this transaction's events so far; nil when it has none for the
    /// job (which says nothing about the log). Setting nil forgets the job.
    subscript(job: JobID) -> JobState? {
        get {
            if first?.job == job { return first?.state }
            return others.isEmpty ? nil : others[job]
        }
        set {
            if first?.job == job || (first == nil && others[job] == nil) {
                if let newValue { first = (job, newValue) } else { first = nil }
            } else {
                others[job] = newValue
            }
        }
    }

    /// Calls `body` with every job and its state, in no particular order.
    func forEach(_ body: (JobID, JobState) -> Void) {
        if let first { body(first.job, first.state) }
        for (job, state) in others { body(job, state) }
    }
}
