import JobLedger

/// The engine view's queued jobs by id. A dictionary keyed by the id with a hash of its text
/// computed once: Swift's dictionary compares keys at every probe and rehashes every key when it
/// grows, and with a million time-ordered ids (long shared prefixes) comparing and hashing the
/// text was a quarter of an engine's start on a backlog; here a probe compares 8 bytes first.
struct QueuedJobs {
    private struct Key: Hashable {
        let id: JobID
        let hash: UInt64

        init(_ id: JobID) {
            self.id = id
            var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
            for b in id.rawValue.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            hash = h
        }

        static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.id == b.id }
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
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
}
