import Foundation
import JobLedgerTestSupport
import Testing

/// The local stand-ins for the cloud services are held to the real wire contract by their own
/// Python test suites (`Fixtures/<service>/test_*.py`): the Upstash and Vercel Blob ones run the
/// official SDKs from PyPI (pinned, in the virtual environment `Fixtures/setup-venv.sh` makes once
/// under `.build/`). They run here so that `swift test` is the whole suite.
@Suite(.serialized) struct StandInContractTests {
    @Test(arguments: ["anycable", "upstash", "vercel-blob"])
    func theStandInAnswersAsTheServiceDoes(_ service: String) async throws {
        let python = await sdkVenvPython.value
        try #require(FileManager.default.isExecutableFile(atPath: python),
                     "Fixtures/setup-venv.sh could not make the SDKs' environment (it needs python3-venv and PyPI)")
        let r = try await offPool { Result { try runToEnd([python, "-m", "unittest", "discover", "-s", "Fixtures/\(service)", "-p", "test_*.py"]) } }.get()
        #expect(r.status == 0, "\(r.output)")
        // A suite that found nothing to run would pass vacuously.
        #expect(r.output.range(of: #"Ran [1-9][0-9]* tests?"#, options: .regularExpression) != nil, "\(r.output)")
    }
}
