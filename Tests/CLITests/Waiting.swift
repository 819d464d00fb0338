import Foundation
import JobLedgerTestSupport
import Synchronization
import Testing

// Every wait on a child process has a deadline, and a wait that reaches it fails the test with
// a message (and kills the child) instead of hanging the run. The deadlines are generous: the
// tests run on loaded machines (2 cores shared by several builds), and a deadline is a guard
// against a hang, never a performance assertion.

/// How long a test waits for a child process to do what it waits for.
let childDeadline: Duration = .seconds(300)

/// A flag set once, read from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

private struct LineWait: Sendable {
    var line: String?
    var seen: String
    var timedOut: Bool
}

/// Reads a child's output on a plain thread until a line contains `text`. Returns nil when the
/// pipe closes first, or when `deadline` passes (that also records an issue naming `text` and
/// what the child wrote). Polls the descriptor with a timeout, so the thread never blocks past
/// the deadline.
func waitForLine(containing text: String, in handle: FileHandle, within deadline: Duration = childDeadline,
                 sourceLocation: SourceLocation = #_sourceLocation) async -> String? {
    let fd = handle.fileDescriptor
    let result: LineWait = await withCheckedContinuation { continuation in
        DispatchQueue.global().async {
            let clock = ContinuousClock()
            let end = clock.now.advanced(by: deadline)
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            func finish(_ line: String?, timedOut: Bool) {
                continuation.resume(returning: LineWait(line: line, seen: String(decoding: buffer, as: UTF8.self), timedOut: timedOut))
            }
            while true {
                let left = clock.now.duration(to: end)
                if left <= .zero { return finish(nil, timedOut: true) }
                let c = left.components
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let n = poll(&p, 1, Int32(min(1000, max(1, c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000))))
                if n == 0 { continue }
                if n < 0 {
                    if errno == EINTR { continue }
                    return finish(nil, timedOut: false)
                }
                let got = read(fd, &chunk, chunk.count)
                if got < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return finish(nil, timedOut: false)
                }
                if got == 0 { return finish(nil, timedOut: false) }  // EOF: the child closed it (or died)
                buffer += chunk[0..<got]
                if let line = String(decoding: buffer, as: UTF8.self).split(separator: "\n").first(where: { $0.contains(text) }) {
                    return finish(String(line), timedOut: false)
                }
            }
        }
    }
    if result.timedOut {
        Issue.record("no line containing \(text.debugDescription) within \(deadline); the child wrote: \(result.seen.debugDescription)",
                     sourceLocation: sourceLocation)
    }
    return result.line
}

/// Waits until `process` has exited, at most `deadline`. Past it, the process is killed
/// (SIGKILL), an issue naming `what` is recorded, and the wait ends once it is gone.
func waitForExit(_ process: Process, _ what: String, within deadline: Duration = childDeadline,
                 sourceLocation: SourceLocation = #_sourceLocation) async {
    // `isRunning`, set by Foundation's own thread when it reaps the child, polled with a sleep:
    // `waitUntilExit()` spins a core while it waits on a thread without a run loop.
    let end = ContinuousClock.now.advanced(by: deadline)
    while process.isRunning && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(5)) }
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    Issue.record("\(what) (pid \(process.processIdentifier)) did not exit within \(deadline); it was killed", sourceLocation: sourceLocation)
    while process.isRunning { try? await Task.sleep(for: .milliseconds(5)) }
}

/// Waits until `job`'s attempt has started in `db`: until `jobledger tail` shows its `started`
/// event (at most the child deadline; an issue is recorded past it).
func waitForStart(of job: String, db: String, in scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let messages = childPipe()
    let tail = try startWithOutput(on: messages, ["tail", "--db", db, "--after", "0", "--job", job], in: scratch)
    #expect(await waitForLine(containing: #""type":"started""#, in: messages.fileHandleForReading) != nil, "\(job) did not start",
            sourceLocation: sourceLocation)
    kill(tail.processIdentifier, SIGTERM)
    await waitForExit(tail, "tail", sourceLocation: sourceLocation)
}
