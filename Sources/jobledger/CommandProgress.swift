import Foundation
import Synchronization

/// The progress of a command that may run long (`verify`, `import`, `export`, `replay`, `diff`,
/// `projections rebuild`, `project --once`), said on stderr so that stdout (the command's
/// result) stays byte for byte what it is without it.
///
/// On a terminal: one line, rewritten in place (`\r`, erase the line), at most every
/// `terminalInterval` (never per item, however often `update` is called), and erased by
/// `finish()`. Elsewhere (stderr to a file or a pipe): nothing per item, but a plain line every
/// `plainInterval` for work that runs that long, so that a log of a long run is not silent.
/// `JOBLEDGER_PROGRESS` overrides the choice: `terminal`, `plain` or `off`.
///
/// ```
/// verifying [#############.................] 650000/1500000 events
/// ```
final class CommandProgress: Sendable {
    /// How progress is shown.
    enum Display: String, Sendable {
        /// A line on stderr rewritten in place (stderr is a terminal).
        case terminal
        /// An occasional plain line (stderr is a file or a pipe).
        case plain
        /// Nothing.
        case off

        /// `JOBLEDGER_PROGRESS` when set (a value it does not know is said once, and ignored),
        /// else `terminal` when stderr is a terminal, else `plain`.
        static let current: Display = {
            if let value = ProcessInfo.processInfo.environment["JOBLEDGER_PROGRESS"], !value.isEmpty {
                if let d = Display(rawValue: value) { return d }
                writeQuietly("jobledger: warning: ignoring JOBLEDGER_PROGRESS=\(terminalSafe(value)): expected terminal, plain or off\n")
            }
            return isatty(STDERR_FILENO) != 0 ? .terminal : .plain
        }()
    }

    /// What is counted: events and jobs as numbers, bytes in MB.
    enum Unit: Sendable {
        case events, jobs, bytes

        func text(_ n: Int) -> String {
            switch self {
            case .events: "\(n)"
            case .jobs: "\(n)"
            case .bytes: String(format: "%.1f", Double(n) / 1_000_000)
            }
        }

        var name: String {
            switch self {
            case .events: "events"
            case .jobs: "jobs"
            case .bytes: "MB"
            }
        }
    }

    static let terminalInterval: Duration = .milliseconds(100)
    static let plainInterval: Duration = .seconds(10)

    let label: String
    /// The count the work ends at (0: not known, and no bar is drawn).
    let total: Int
    let unit: Unit
    let display: Display
    private let now: @Sendable () -> ContinuousClock.Instant
    private let write: @Sendable (String) -> Void
    private let state: Mutex<State>

    private struct State {
        var started: ContinuousClock.Instant
        var lastShown: ContinuousClock.Instant?
        var drawn = false
        /// After `finish()`: a late `update` (a follower task's last poll) draws nothing.
        var finished = false
    }

    /// `now` and `write` are the clock and stderr; a test gives its own.
    init(_ label: String, total: Int = 0, unit: Unit = .events, display: Display = .current,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
         write: @escaping @Sendable (String) -> Void = { writeQuietly($0) }) {
        // A label may hold a path (import's input, diff's sides): shown, not obeyed.
        self.label = terminalSafe(label)
        self.total = max(0, total)
        self.unit = unit
        self.display = display
        self.now = now
        self.write = write
        state = Mutex(State(started: now()))
    }

    /// Whether the line is drawn on a terminal (a command may say a further step there).
    var isTerminal: Bool { display == .terminal }

    /// `done` of `total` so far. Cheap enough to call for every item: shown only when the
    /// interval has passed since the last time it was.
    func update(_ done: Int) {
        guard display != .off else { return }
        let t = now()
        let shown: String? = state.withLock { s in
            if s.finished { return nil }
            switch display {
            case .terminal:
                if let last = s.lastShown, last.duration(to: t) < Self.terminalInterval { return nil }
                s.lastShown = t
                s.drawn = true
                return "\r\u{1B}[2K" + text(done)
            case .plain:
                if (s.lastShown ?? s.started).duration(to: t) < Self.plainInterval { return nil }
                s.lastShown = t
                return "jobledger: " + text(done) + "\n"
            case .off:
                return nil
            }
        }
        if let shown { write(shown) }
    }

    /// A step that has no count (a commit, writing a file): replaces the line on a terminal;
    /// elsewhere nothing is said.
    func note(_ text: String) {
        guard display == .terminal else { return }
        state.withLock { $0.drawn = true }
        write("\r\u{1B}[2K" + text)
    }

    /// Erases the line on a terminal, if one was drawn; the command's own lines follow. Later
    /// updates draw nothing (a note still does).
    func finish() {
        let drawn = state.withLock { s in
            defer { s.drawn = false; s.finished = true }
            return s.drawn
        }
        guard display == .terminal, drawn else { return }
        write("\r\u{1B}[2K")
    }

    /// Work that reports no progress of its own (the projection runner's catch-up): `read`
    /// (a cheap query, such as a checkpoint) is polled at the terminal's pace while it runs.
    /// Cancel the task, then `finish()`.
    func following(_ read: @escaping @Sendable () -> Int?) -> Task<Void, Never>? {
        guard display != .off else { return nil }
        return Task { [self] in
            while !Task.isCancelled {
                if let n = read() { update(n) }
                try? await Task.sleep(for: Self.terminalInterval)
            }
        }
    }

    /// The line: `label [####......] done/total unit`, or `label done unit` without a total.
    func text(_ done: Int) -> String {
        guard total > 0 else { return "\(label) \(unit.text(done)) \(unit.name)" }
        let width = 30
        let filled = Int(min(1, Double(max(0, done)) / Double(total)) * Double(width))
        return "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] "
            + "\(unit.text(done))/\(unit.text(total)) \(unit.name)"
    }
}
