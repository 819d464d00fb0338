import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Every test of a run shares one process, and many of them start children at the same moment
// (stand-ins, `jobledger`, Python). On Linux, Foundation's `Process.run()` closes the parent's
// descriptors in the child from a list it takes just before the spawn, and makes, inside run(),
// the socket by which it learns that its child exited. A descriptor made by another thread
// between that listing and the spawn reaches the child: a stand-in that holds another stand-in's
// stdin pipe keeps it from seeing EOF (so it never exits), and one that holds another child's
// exit socket keeps `waitUntilExit()` waiting and the child a zombie. Two such waits, each in a
// stand-in's `stop()`, held both of the cooperative pool's threads and stopped the whole run.
// So: pipes are made close-on-exec at once (the child gets its ends through dup2, which clears
// the flag), and children start one at a time.

private let startLock = NSLock()

/// A pipe whose descriptors no child inherits by accident: made close-on-exec under the lock
/// children start under, so no spawn lists the descriptors between the two.
public func childPipe() -> Pipe {
    startLock.withLock {
        let pipe = Pipe()
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        return pipe
    }
}

/// Starts `process`, with no other test's child starting meanwhile.
public func startChild(_ process: Process) throws {
    try startLock.withLock { try process.run() }
}

/// Runs `body` (a blocking wait on a child) on a thread of its own. Never block the cooperative
/// pool: it has one thread per core, every test of the run shares it, and a test parked on it
/// for a minute halves (on 2 cores) the speed of all the others.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in Thread { c.resume(returning: body()) }.start() }
}

/// Waits until `process` has exited, at most `deadline`; past it, kills it (SIGKILL) and waits
/// up to 10 s more for Foundation to see it go. Returns whether it exited by itself in time (the
/// caller records the failure). Polls `isRunning` (set by Foundation's own thread when it reaps
/// the child) instead of `waitUntilExit()`, which on a thread without a run loop spins a core.
@discardableResult
public func waitForChildExit(_ process: Process, within deadline: Duration) -> Bool {
    let clock = ContinuousClock()
    var end = clock.now.advanced(by: deadline)
    while process.isRunning && clock.now < end { usleep(2_000) }
    guard process.isRunning else { return true }
    kill(process.processIdentifier, SIGKILL)
    end = clock.now.advanced(by: .seconds(10))
    while process.isRunning && clock.now < end { usleep(2_000) }
    return false
}

/// The package's root folder (…/Tests/JobLedgerTestSupport/ChildProcesses.swift → the root).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `arguments` (through `/usr/bin/env`, in the package root, with `environment` over the
/// test process's) to its end: its exit status and its standard output and error together.
/// Blocks: call it through `offPool`.
public func runToEnd(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    p.currentDirectoryURL = repositoryRoot
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = childPipe()
    p.standardOutput = out
    p.standardError = out
    try startChild(p)
    let data = out.fileHandleForReading.readDataToEndOfFile()
    waitForChildExit(p, within: .seconds(600))
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The python of the virtual environment with the official SDKs and the serve end-to-end tools
/// (`Fixtures/setup-venv.sh`, made once, off the pool: it may install from PyPI); "" when it
/// cannot be made.
public let sdkVenvPython = Task {
    await offPool { () -> String in
        guard let r = try? runToEnd(["bash", "Fixtures/setup-venv.sh"]), r.status == 0,
              let last = r.output.split(separator: "\n").last else { return "" }
        return String(last)
    }
}
