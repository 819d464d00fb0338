import Foundation
import JobLedgerTestSupport
import Testing

/// `jobledger serve` end to end, as a real process over loopback, by the Python suites in
/// `Fixtures/serve-e2e/`: its lifecycle (refusals, graceful shutdown with a stream open), a
/// schemathesis fuzz run against the OpenAPI document, and the dashboard in headless Chromium
/// (screenshots under `.build/screenshots/`). Python packages come from the pinned environment
/// `Fixtures/setup-venv.sh` makes; Chromium from Debian (`.ci/run` installs it).
@Suite(.serialized) struct ServeEndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        p.currentDirectoryURL = root
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = childPipe()
        p.standardOutput = out
        p.standardError = out
        try startChild(p)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        waitForChildExit(p, within: .seconds(600))
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The environment's python, made once (on a thread of its own: it may install from PyPI).
    static let python = Task {
        await offPool { () -> String in
            guard let r = try? run(["bash", "Fixtures/setup-venv.sh"]), r.status == 0,
                  let last = r.output.split(separator: "\n").last else { return "" }
            return String(last)
        }
    }

    @Test(arguments: ["test_lifecycle", "test_fuzz", "test_browser"])
    func serveEndToEnd(_ suite: String) async throws {
        let binary = try #require(jobledgerBinary)
        let python = await Self.python.value
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Fixtures/setup-venv.sh could not make the Python environment (it needs python3-venv and PyPI)")
        let environment = ["JOBLEDGER_BIN": binary.path, "PYTHONPATH": Self.root.appendingPathComponent("Fixtures/serve-e2e").path,
                           "JOBLEDGER_SCREENSHOTS": Self.root.appendingPathComponent(".build/screenshots").path]
        // A suite runs for tens of seconds: waited for on a thread of its own, not the pool's.
        let r = try await offPool { Result { try Self.run([python, "-m", "unittest", "-v", suite], environment: environment) } }.get()
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.range(of: #"Ran [1-9][0-9]* tests?"#, options: .regularExpression) != nil, "\(r.output)")
    }
}
