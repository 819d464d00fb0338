import Synchronization

/// The `-wal` and `-shm` files beside a log opened for writing, as they were when first seen.
/// SQLite keeps writing into the ones it has open: when someone deletes them (an operator
/// "cleaning up"), this process's commits go to files no other process can see, and every event
/// committed since the last checkpoint is gone when it exits. `checkFileIsThere` looks at
/// them (at most every `interval`, a `stat` each) and calls the log vanished when they changed.
final class CompanionFiles: Sendable {
    static let suffixes = ["-wal", "-shm"]
    /// How often the files are looked at: a write acknowledged within this long after the
    /// deletion may still go to the deleted file.
    static let interval: Duration = .milliseconds(250)

    let path: String
    /// The files as first seen, and when they were last looked at (nil: the next check looks).
    private let state: Mutex<(seen: [String: FileNode], lastLook: ContinuousClock.Instant?)>

    init(path: String) {
        self.path = path
        let seen = Self.suffixes.compactMap { suffix in FileNode(path: path + suffix).map { (suffix, $0) } }
        state = Mutex((Dictionary(uniqueKeysWithValues: seen), nil))
    }

    /// The suffix of a companion file that is gone or another file now, when it is time to look
    /// (or `force`); nil when they are as first seen. One not there yet is recorded once it is.
    func changed(force: Bool = false) -> String? {
        let now = ContinuousClock.now
        return state.withLock { s in
            if !force, let last = s.lastLook, now - last < Self.interval { return nil }
            s.lastLook = now
            for suffix in Self.suffixes {
                let node = FileNode(path: path + suffix)
                if let seen = s.seen[suffix] {
                    if node != seen { return suffix }
                } else if let node {
                    s.seen[suffix] = node
                }
            }
            return nil
        }
    }
}
