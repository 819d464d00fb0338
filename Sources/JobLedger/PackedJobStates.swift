/// Job states kept packed: an array of the states and, for each job, where its state is. A
/// dictionary of states would keep a whole `JobState` (~400 bytes) in every bucket, empty ones
/// included, and two tables while it grows: a fold of 200,000 queued jobs peaked at 370 MB that
/// way, against 161 MB packed. Removing a job moves the last state into its place. What
/// `LedgerFold` keeps its jobs in flight in, and an import its jobs in.
package struct PackedJobStates: Sendable {
    private var jobs: [JobID] = []
    private var states: [JobState] = []
    private var index: [JobID: Int] = [:]

    package init() {}

    /// How many jobs are kept.
    package var count: Int { states.count }
    package var isEmpty: Bool { states.isEmpty }
    /// The states, in no particular order.
    package var values: [JobState] { states }

    /// Calls `body` with every job and its state, in no particular order.
    package func forEach(_ body: (JobID, JobState) -> Void) {
        for (job, state) in zip(jobs, states) { body(job, state) }
    }

    /// Makes room for `n` jobs.
    package mutating func reserveCapacity(_ n: Int) {
        jobs.reserveCapacity(n)
        states.reserveCapacity(n)
        index.reserveCapacity(n)
    }

    /// The job's state; setting nil forgets the job.
    package subscript(job: JobID) -> JobState? {
        get { index[job].map { states[$0] } }
        set {
            if let newValue {
                if let i = index[job] {
                    states[i] = newValue
                } else {
                    index[job] = states.count
                    jobs.append(job)
                    states.append(newValue)
                }
            } else if let i = index[job] {
                remove(job, at: i)
            }
        }
    }

    /// Changes the job's state in place (no copy of it) and returns it as changed; nil, calling
    /// nothing, when the job is not kept. When `body` throws, the state is as it left it.
    package mutating func modify<E: Error>(_ job: JobID, _ body: (inout JobState) throws(E) -> Void) throws(E) -> JobState? {
        guard let i = index[job] else { return nil }
        try body(&states[i])
        return states[i]
    }

    private mutating func remove(_ job: JobID, at i: Int) {
        index[job] = nil
        let last = states.count - 1
        if i != last {
            jobs.swapAt(i, last)
            states.swapAt(i, last)
            index[jobs[i]] = i
        }
        jobs.removeLast()
        states.removeLast()
    }
}
