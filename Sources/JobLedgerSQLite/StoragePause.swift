import Foundation
import JobLedger
import Synchronization

/// How work that writes to the log waits out a storage fault (`StorageFault`): the engine's
/// claims and sweeps, the projections' steps. The first retry comes after `firstRetry`, each
/// failed try doubles the wait up to `maxRetry`, so the number of tries grows with the backoff,
/// not with time. One error is logged when a fault starts, a reminder at most every
/// `reminderInterval` while it lasts, one line when it clears.
///
/// ```swift
/// var options = JobEngine.Options()
/// options.storageFaults.maxRetry = .seconds(10)        // retry at least every 10 s
/// options.storageFaults.giveUpAfter = .seconds(30)     // workUntilIdle() throws if a fault lasts longer
/// ```
public struct StorageFaultPolicy: Sendable, Hashable {
    /// The wait before the first retry; it doubles with every failed try.
    public var firstRetry: Duration
    /// The longest wait between two tries.
    public var maxRetry: Duration
    /// While a fault lasts, a reminder is logged this often at most.
    public var reminderInterval: Duration
    /// How long a fault may last before the work gives up and throws `LedgerError.storageFault`
    /// (`JobEngine.work`/`workUntilIdle`, `ProjectionRunner.runLive`/`drain`); nil (the default):
    /// wait until it clears, or until the work is stopped.
    public var giveUpAfter: Duration?
    /// How long writes must go on without a fault before an episode is over (a fault before
    /// then continues it: a nearly full disk lets small writes through and fails big ones); nil
    /// (the default): eight first retries, at most `maxRetry` (2 s with the other defaults).
    public var settle: Duration?

    /// Retries after 250 ms, backing off to one try every 30 s, a reminder a minute, never giving up.
    public init(firstRetry: Duration = .milliseconds(250), maxRetry: Duration = .seconds(30),
                reminderInterval: Duration = .seconds(60), giveUpAfter: Duration? = nil, settle: Duration? = nil) {
        self.firstRetry = firstRetry
        self.maxRetry = maxRetry
        self.reminderInterval = reminderInterval
        self.giveUpAfter = giveUpAfter
        self.settle = settle
    }

    /// The first field that is negative, by its name here (`firstRetry`), with what it must be
    /// and what it was; nil when every field is usable. A negative wait or limit is a mistake
    /// (a sign lost in a configuration file), not a setting: `JobEngine.Options.validate()` and
    /// the `ProjectionRunner` refuse it under their own option names.
    package var invalidField: (field: String, reason: String)? {
        let fields: [(String, Duration?)] = [("firstRetry", firstRetry), ("maxRetry", maxRetry), ("reminderInterval", reminderInterval),
                                              ("giveUpAfter", giveUpAfter), ("settle", settle)]
        for case let (name, value?) in fields where value < .zero {
            return (name, "must be zero or more, got \(value)")
        }
        return nil
    }
}

/// One storage fault episode, as a pure state machine over timestamps: when the next try is
/// due, and what to say (the start, a reminder at most every `reminderInterval`, the end).
///
/// A disk that is nearly full lets small writes through and fails big ones; so one write that
/// succeeds resumes the work at once, but ends the episode only once writes have gone on
/// without a fault for a while (`settleMilliseconds`): a fault before then continues the same
/// episode, with its backoff, instead of starting a new one (no flapping in the log).
package struct StorageBackoff: Sendable {
    /// What to tell the operator.
    package enum Note: Sendable, Equatable {
        /// A fault began, during the work named.
        case started(StorageFault, during: String)
        /// It is still there (a reminder).
        case lasting(StorageFault, milliseconds: Int64, tries: Int, nextTryMilliseconds: Int64)
        /// It cleared: writes succeed again (`milliseconds`: from its start to the first success).
        case cleared(StorageFault, milliseconds: Int64, tries: Int)
    }

    package let policy: StorageFaultPolicy
    /// The fault of the episode under way (its latest report), nil while storage works.
    package private(set) var fault: StorageFault?
    /// When the episode began.
    package private(set) var since = Timestamp(milliseconds: 0)
    /// Failed tries in this episode.
    package private(set) var tries = 0
    /// When the next try is due.
    package private(set) var nextTry = Timestamp(milliseconds: 0)
    /// When a write first succeeded again, while the episode settles.
    private var recovering: Timestamp?
    private var delay: Int64 = 0
    private var lastNote = Timestamp(milliseconds: 0)

    package init(policy: StorageFaultPolicy) { self.policy = policy }

    /// True while writes wait for the next try: a fault, and no write has succeeded since.
    package var isPaused: Bool { fault != nil && recovering == nil }

    /// How long writes must go on without a fault before the episode ends: the policy's
    /// `settle`, else eight first retries (2 s by default), at most `maxRetry`.
    package var settleMilliseconds: Int64 {
        if let settle = policy.settle { return max(1, StorageBackoff.milliseconds(settle)) }
        return min(max(1, StorageBackoff.milliseconds(policy.firstRetry) * 8), max(1, StorageBackoff.milliseconds(policy.maxRetry)))
    }

    /// True when writes are not paused, or the next try is due.
    package func mayTry(at now: Timestamp) -> Bool { !isPaused || now >= nextTry }

    /// True when the work has been paused for longer than the policy's `giveUpAfter` since the
    /// episode began.
    package func outlasted(at now: Timestamp) -> Bool {
        guard isPaused, let limit = policy.giveUpAfter else { return false }
        return now.milliseconds - since.milliseconds >= StorageBackoff.milliseconds(limit)
    }

    /// A try failed with `f` at `now`. The wait doubles only for a try that was due: several
    /// writers failing at once count as one try of the schedule.
    package mutating func failed(_ f: StorageFault, during what: String, at now: Timestamp) -> Note? {
        guard fault != nil else {
            fault = f
            since = now
            tries = 1
            delay = max(1, StorageBackoff.milliseconds(policy.firstRetry))
            nextTry = now.adding(milliseconds: delay)
            lastNote = now
            return .started(f, during: what)
        }
        fault = f
        tries += 1
        if recovering != nil || now >= nextTry {
            recovering = nil
            delay = min(delay * 2, max(1, StorageBackoff.milliseconds(policy.maxRetry)))
            nextTry = now.adding(milliseconds: delay)
        }
        guard now.milliseconds - lastNote.milliseconds >= StorageBackoff.milliseconds(policy.reminderInterval) else { return nil }
        lastNote = now
        return .lasting(f, milliseconds: now.milliseconds - since.milliseconds, tries: tries,
                        nextTryMilliseconds: nextTry.milliseconds - now.milliseconds)
    }

    /// A write succeeded at `now`: the work resumes; the episode ends once it has settled.
    package mutating func succeeded(at now: Timestamp) -> Note? {
        guard fault != nil else { return nil }
        if recovering == nil { recovering = now }
        return settle(at: now)
    }

    /// Ends the episode when writes have gone on without a fault for `settleMilliseconds`.
    package mutating func settle(at now: Timestamp) -> Note? {
        guard let f = fault, let first = recovering, now.milliseconds - first.milliseconds >= settleMilliseconds else { return nil }
        fault = nil
        recovering = nil
        defer { tries = 0 }
        return .cleared(f, milliseconds: first.milliseconds - since.milliseconds, tries: tries)
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds.multipliedReportingOverflow(by: 1000).overflow ? .max : c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}

extension StorageBackoff.Note {
    /// True for the line that starts an episode (logged as an error; the others as warnings).
    package var isStart: Bool { if case .started = self { true } else { false } }

    /// The fault the note is about.
    package var fault: StorageFault {
        switch self {
        case .started(let f, _), .lasting(let f, _, _, _), .cleared(let f, _, _): f
        }
    }

    /// The line to log, for work described by `paused` ("claims, lease sweeps and recording").
    package func message(paused: String, policy: StorageFaultPolicy) -> String {
        switch self {
        case .started(let f, let what):
            let end = policy.giveUpAfter.map { ", or gives up if it lasts \(Self.text(StorageBackoff.milliseconds($0)))" }
                ?? " (stop the process to give up)"
            return "storage fault while \(what): \(f.summary). Pausing \(paused): next try in \(Self.text(StorageBackoff.milliseconds(policy.firstRetry))), "
                + "then one every \(Self.text(StorageBackoff.milliseconds(policy.maxRetry))) at most; it resumes by itself when the fault clears\(end). To fix: \(f.remedy)"
        case .lasting(let f, let ms, let tries, let next):
            return "storage fault still there after \(Self.text(ms)) (\(tries) failed tries): \(f.summary). \(paused.prefix(1).uppercased() + paused.dropFirst()) still paused, next try in \(Self.text(next)). To fix: \(f.remedy)"
        case .cleared(let f, let ms, let tries):
            return "storage fault cleared after \(Self.text(ms)) (\(tries) failed tries; it was: \(f.kind.rawValue) on \(f.path)): \(paused) resumed"
        }
    }

    /// `250 ms`, `4.2 s`, `3 min 5 s`.
    package static func text(_ ms: Int64) -> String {
        if ms < 1000 { return "\(ms) ms" }
        if ms < 60_000 { return ms % 1000 == 0 ? "\(ms / 1000) s" : String(format: "%.1f s", Double(ms) / 1000) }
        let s = ms / 1000
        return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s"
    }
}

/// A storage fault episode shared by the writers of one component (an engine, a projection
/// runner): they all wait for the same next try, any write that succeeds ends the pause for
/// all, and what to log and count is handed to `observe`, outside any lock.
package final class StoragePause: Sendable {
    /// What happened, for the owner to log and count.
    package enum Event: Sendable {
        /// A line to log (`Note.message`).
        case note(StorageBackoff.Note, message: String)
        /// A write failed with a storage fault (for a counter).
        case failedTry(StorageFault)
        /// The work paused (true) or resumed (false) (for a gauge).
        case paused(Bool)
    }

    package let policy: StorageFaultPolicy
    private let state: Mutex<StorageBackoff>
    private let signal = WakeSignal()
    private let clock: @Sendable () -> Timestamp
    private let paused: String
    private let observe: @Sendable (Event) -> Void

    /// `paused` names the work that waits ("claims, lease sweeps and recording").
    package init(policy: StorageFaultPolicy, clock: @escaping @Sendable () -> Timestamp, paused: String,
                 observe: @escaping @Sendable (Event) -> Void) {
        self.policy = policy
        self.state = Mutex(StorageBackoff(policy: policy))
        self.clock = clock
        self.paused = paused
        self.observe = observe
    }

    /// A write failed with `fault` during `what` ("claiming jobs").
    package func failed(_ fault: StorageFault, during what: String) {
        let now = clock()
        let (note, began) = state.withLock { s in
            let was = s.isPaused
            return (s.failed(fault, during: what, at: now), !was)
        }
        observe(.failedTry(fault))
        if began { observe(.paused(true)) }
        if let note { observe(.note(note, message: note.message(paused: paused, policy: policy))) }
    }

    /// A write succeeded: the paused work resumes (whoever waits for the next try is woken),
    /// and the episode ends once it has settled.
    package func succeeded() {
        let now = clock()
        let (note, resumed) = state.withLock { s in
            let was = s.isPaused
            return (s.succeeded(at: now), was && !s.isPaused)
        }
        if resumed {
            observe(.paused(false))
            signal.signal()
        }
        if let note { observe(.note(note, message: note.message(paused: paused, policy: policy))) }
    }

    /// Ends a settled episode (saying so) when no write came to do it.
    private func settle(_ now: Timestamp) {
        guard let note = state.withLock({ $0.settle(at: now) }) else { return }
        observe(.note(note, message: note.message(paused: paused, policy: policy)))
    }

    /// True when writes are not paused, or the next try is due.
    package func mayTry() -> Bool {
        let now = clock()
        settle(now)
        return state.withLock { $0.mayTry(at: now) }
    }

    /// The fault the work is paused for and when its episode began; nil while writes go on.
    package var current: (fault: StorageFault, since: Timestamp)? {
        settle(clock())
        return state.withLock { s in s.isPaused ? s.fault.map { ($0, s.since) } : nil }
    }

    /// The fault, when the work has been paused past the policy's `giveUpAfter`.
    package func outlasted() -> StorageFault? {
        let now = clock()
        return state.withLock { s in s.outlasted(at: now) ? s.fault : nil }
    }

    /// Wakes every `waitForNextTry` (a shutdown giving up on the wait).
    package func wake() { signal.signal() }

    /// Returns when the next try is due (at once while storage works), when the fault clears
    /// (another writer succeeded), on `wake()`, when the task is cancelled, or after `limit`.
    package func waitForNextTry(limit: Duration? = nil) async {
        let seen = signal.generation
        let now = clock()
        let (paused, next) = state.withLock { ($0.isPaused, $0.nextTry) }
        guard paused, now < next else { return }
        var wait = Duration.milliseconds(min(next.milliseconds - now.milliseconds, StorageBackoff.milliseconds(policy.maxRetry)))
        if let limit { wait = min(wait, limit) }
        await signal.wait(after: seen, timeout: max(wait, .milliseconds(1)))
    }
}

/// `250 ms`, `4.2 s`, `3 min 5 s`: a duration for people.
package func durationText(_ d: Duration) -> String { StorageBackoff.Note.text(StorageBackoff.milliseconds(d)) }
