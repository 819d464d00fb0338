import Foundation
import JobLedger
import Logging
import Testing
@testable import JobLedgerAnyCable

/// Answers every request with one redirect.
struct RedirectingTo: HTTPTransport {
    let location: String
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        HTTPResponse(status: 307, headers: ["Location": location])
    }
}

/// The only text of the server's that an AnyCable error names is a redirect's `Location`: when
/// it quotes the broadcast key (whole or a piece of it, in the path or a harmless-looking query
/// value), neither the error nor the log shows it.
@Suite struct KeyRedactionTests {
    @Test(arguments: ["/k/plainKEY42xy/_broadcast", "/_broadcast?page=plainKEY42", "/elsewhere/KEY42xyz-echo"])
    func aLocationQuotingTheKeyIsScrubbed(_ path: String) async throws {
        let key = "plainKEY42xyz"
        let logs = LogCapture()
        let b = AnyCableBroadcaster(url: URL(string: "http://127.0.0.1:1/_broadcast")!, key: AnyCableSecret(key),
                                    transport: RedirectingTo(location: "http://127.0.0.1:1" + path), logger: logs.logger)
        do {
            try await b.send([AnyCablePublication(stream: "s", data: "{}")])
            Issue.record("a redirect must be refused")
        } catch {
            guard case .rejected(let m) = error else { Issue.record("\(error)"); return }
            #expect(m.contains("redirect") && m.contains("<redacted>"), "\(m)")
            for piece in [key, "plainKEY", "KEY42xyz"] { #expect(!m.contains(piece), "\(piece) in \(m)") }
        }
        #expect(!logs.lines.contains { $0.contains("plainKEY") || $0.contains("KEY42xyz") }, "\(logs.lines)")
    }
}
