import JobLedger

/// The engine view's queued jobs by id. A dictionary keyed by the id with a hash of its text
/// computed once: Swift's dictionary compares keys at every probe and rehashes every key when it
/// grows, and with a million time-ordered ids (long shared prefixes) comparing and hashing the
/// text was a quarter of an engine's start on a backlog; here a probe compares 8 bytes first.
struct QueuedJobs: Sendable {
    private struct Key: Hashable, Sendable {
        let id: JobID
        let hash: UInt64

        init(_ id: JobID) {
            self.id = id
            hash = fnv1a(id.rawValue.utf8)
        }

        static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.id == b.id }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        /// What the dictionary places the key by: the id's hash mixed with the table's seed
        /// (MurmurHash3's finalizer), without a `Hasher`. Setting a `Hasher` up and running it for
        /// every probe and, as the table grew, for every key again was the largest single cost
        /// of an engine's start on a backlog of a million jobs.
        func _rawHashValue(seed: Int) -> Int {
            var x = hash ^ UInt64(UInt(bitPattern: seed))
            x ^= x >> 33
            x &*= 0xff51_afd7_ed55_8ccd
            x ^= x >> 33
            x &*= 0xc4ce_b9fe_1a85_ec53
            x ^= x >> 33
            return Int(truncatingIfNeeded: x)
        }
    }

    private var storage: [Key: EngineView.Queued] = [:]

    /// Jobs held.
    var count: Int { storage.count }

    subscript(id: JobID) -> EngineView.Queued? {
        get { storage[Key(id)] }
        set { storage[Key(id)] = newValue }
    }

    /// The ids of the jobs whose entry `include` accepts.
    func ids(where include: (EngineView.Queued) -> Bool) -> [JobID] {
        storage.compactMap { include($0.value) ? $0.key.id : nil }
    }

    /// Files `value` for `id` and returns what was filed before (one lookup).
    mutating func updateValue(_ value: EngineView.Queued, forKey id: JobID) -> EngineView.Queued? {
        storage.updateValue(value, forKey: Key(id))
    }

    /// The mark `EngineView.writeSnapshot` sets on the jobs it wrote (the top bit of the kind).
    private static let markBit: UInt32 = 1 << 31

    /// Marks the job if it is queued at `version` and not marked yet; returns its kind's index,
    /// or nil (not queued at that version, or marked already).
    mutating func mark(_ id: JobID, version: Int) -> UInt32? {
        guard let i = storage.index(forKey: Key(id)) else { return nil }
        let q = storage.values[i]
        guard Int(q.version) == version, q.kind & Self.markBit == 0 else { return nil }
        storage.values[i].kind |= Self.markBit
        return q.kind
    }

    /// Clears every mark; returns the jobs that had none.
    mutating func clearMarks() -> [JobID] {
        var unmarked: [JobID] = []
        var i = storage.values.startIndex
        while i != storage.values.endIndex {
            if storage.values[i].kind & Self.markBit == 0 {
                unmarked.append(storage.keys[i].id)
            } else {
                storage.values[i].kind &= ~Self.markBit
            }
            storage.values.formIndex(after: &i)
        }
        return unmarked
    }
}
