import Foundation
import JobLedgerTestSupport
import Testing

/// `jobledger serve` end to end, as a real process over loopback, by the Python suites in
/// `Fixtures/serve-e2e/`: its lifecycle (refusals, graceful shutdown with a stream open), a
/// schemathesis fuzz run against the OpenAPI document, and the dashboard in headless Chromium
/// (screenshots under `.build/screenshots/`). Python packages come from the pinned environment
/// `Fixtures/setup-venv.sh` makes; Chromium from Debian (`.ci/run` installs it).
@Suite(.serialized) struct ServeEndToEndTests {
    @Test(arguments: ["test_lifecycle", "test_fuzz", "test_browser"])
    func serveEndToEnd(_ suite: String) async throws {
        let binary = try #require(jobledgerBinary)
        let python = await sdkVenvPython.value
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Fixtures/setup-venv.sh could not make the Python environment (it needs python3-venv and PyPI)")
        let environment = ["JOBLEDGER_BIN": binary.path, "PYTHONPATH": repositoryRoot.appendingPathComponent("Fixtures/serve-e2e").path,
                           "JOBLEDGER_SCREENSHOTS": repositoryRoot.appendingPathComponent(".build/screenshots").path]
        // A suite runs for tens of seconds: waited for on a thread of its own, not the pool's.
        let r = try await offPool { Result { try runToEnd([python, "-m", "unittest", "-v", suite], environment: environment) } }.get()
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.range(of: #"Ran [1-9][0-9]* tests?"#, options: .regularExpression) != nil, "\(r.output)")
    }
}
