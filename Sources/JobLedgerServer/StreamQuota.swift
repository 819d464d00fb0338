import Synchronization

/// How many SSE streams (`/api/jobs/{id}/stream`, `/api/live`) each caller may hold open at
/// once: a stream holds a connection and a hub subscription for up to `maxStreamDuration`, so
/// one token opening streams in a loop would otherwise tie up the server. Past the limit the
/// caller gets 429 `too-many-streams`; a browser needs one or two (a job page, the jobs list),
/// and a program following many jobs follows them on one `/api/live` stream.
public final class StreamQuota: Sendable {
    /// Streams one caller (one token subject) may hold open at once.
    public let perCaller: Int
    /// Keyed by the subject's UTF-8 bytes: the same text in two Unicode forms is two users
    /// (Swift's `String ==` would call them one).
    private let open = Mutex<[[UInt8]: Int]>([:])

    /// A quota of `perCaller` open streams per caller (at least 1).
    public init(perCaller: Int = 32) { self.perCaller = max(1, perCaller) }

    /// A ticket for one more open stream of `subject`, or nil when it holds `perCaller`
    /// already. The stream is counted until the ticket is released (it releases itself when
    /// dropped: a response whose body never ran still gives its place back).
    func take(for subject: String) -> Ticket? {
        let key = Array(subject.utf8)
        let granted = open.withLock { m -> Bool in
            let n = m[key, default: 0]
            guard n < perCaller else { return false }
            m[key] = n + 1
            return true
        }
        return granted ? Ticket(quota: self, subject: subject) : nil
    }

    /// Streams `subject` holds open now.
    public func openStreams(of subject: String) -> Int { open.withLock { $0[Array(subject.utf8)] ?? 0 } }

    fileprivate func give(back subject: String) {
        let key = Array(subject.utf8)
        open.withLock { m in
            let n = (m[key] ?? 1) - 1
            m[key] = n > 0 ? n : nil
        }
    }

    /// One open stream's place in the quota, given back once, when released or dropped.
    final class Ticket: Sendable {
        private let quota: StreamQuota
        private let subject: String
        private let held = Atomic<Bool>(true)

        fileprivate init(quota: StreamQuota, subject: String) { self.quota = quota; self.subject = subject }

        /// Gives the place back (again: nothing).
        func release() {
            if held.exchange(false, ordering: .acquiringAndReleasing) { quota.give(back: subject) }
        }

        deinit { release() }
    }
}
