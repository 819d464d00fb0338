import JobLedger

/// Jobs' latest states held by the projections between batches, within a count and a byte
/// budget: past either it is emptied, and what is not here is folded from the log again. A state
/// holds the job's input (up to the log's payload limit, 64 KiB by default), so a count alone
/// let a backlog of 50,000 jobs with large inputs keep gigabytes alive in each cache.
struct BoundedStates {
    /// Jobs held at most.
    static let countLimit = 50_000
    /// Bytes held at most, roughly (the states' inputs and a fixed part each).
    static let byteLimit = 32 << 20

    /// The states, packed (a dictionary of states kept a whole state in each of its buckets:
    /// 50,000 jobs took 131,072 buckets of ~400 bytes, 53 MB per cache, kept when emptied), and
    /// each one's weights.
    private var states = PackedJobStates()
    private var weights: [JobID: (input: Int, bytes: Int)] = [:]
    /// Roughly the bytes the held states keep alive.
    private(set) var bytes = 0

    var count: Int { states.count }

    subscript(job: JobID) -> JobState? { states[job] }

    /// Holds `state` as its job's latest, emptying everything first when a budget is spent.
    mutating func hold(_ state: JobState) {
        // A job's input does not change after it is queued: its weight is worked out once; the
        // messages (progress, the last error) are weighed each time, by their byte counts.
        let held = weights[state.id]
        let input = held?.input ?? Self.weight(of: state.input)
        let weight = Self.weight(of: state, input: input)
        let old = held?.bytes ?? 0
        if old == 0, states.count >= Self.countLimit || bytes + weight > Self.byteLimit { removeAll() }
        states[state.id] = state
        weights[state.id] = (input, weight)
        bytes += weight - old
    }

    mutating func remove(_ job: JobID) {
        if let old = weights.removeValue(forKey: job) {
            states[job] = nil
            bytes -= old.bytes
        }
    }

    mutating func removeAll() {
        states = PackedJobStates()
        weights.removeAll(keepingCapacity: true)
        bytes = 0
    }

    /// Roughly the bytes `state` keeps alive: a fixed part, its input (weighing `input` bytes
    /// when given) and its messages.
    static func weight(of state: JobState, input: Int? = nil) -> Int {
        256 + (input ?? weight(of: state.input)) + (state.progressMessage?.utf8.count ?? 0)
            + (state.lastError.map { $0.message.utf8.count + $0.code.utf8.count } ?? 0)
    }

    static func weight(of value: JSONValue) -> Int {
        switch value {
        case .null, .bool, .int, .double: return 16
        case .string(let s): return 16 + s.utf8.count
        case .array(let a): return a.reduce(16) { $0 + weight(of: $1) }
        case .object(let o): return o.reduce(16) { $0 + 16 + $1.key.utf8.count + weight(of: $1.value) }
        }
    }
}
