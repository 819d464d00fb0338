import JobLedgerServer
import JobLedgerTestSupport
import Logging
import ServiceLifecycle
import Testing

/// A port in use reads the same whether `check` finds it before anything starts or the server's
/// own bind does (another process took the port in between): NIO's error, passed on by the
/// service group as `serve` runs the server, becomes the same `ListenFailure`.
@Suite(.timeLimit(.minutes(5))) struct ListenFailureTests {
    @Test func aPortInUseIsTheSameFailureFromTheCheckAndFromTheServer() async throws {
        let taken = try ListeningSocket()
        let expected = "cannot listen on 127.0.0.1:\(taken.port): the address is already in use (another server?); choose another --port"
        let checked = #expect(throws: ListenFailure.self) { try ListenFailure.check(host: "127.0.0.1", port: taken.port) }
        #expect(checked?.description == expected)

        let h = try await ServerHarness.make()
        defer { h.cleanup() }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = h.server.application(host: "127.0.0.1", port: taken.port, logger: quiet)
        let group = ServiceGroup(services: [app], logger: quiet)
        let error = await #expect(throws: (any Error).self) { try await group.run() }
        let failure = error.flatMap { ListenFailure($0, host: "127.0.0.1", port: taken.port) }
        #expect(failure?.description == expected, "the server failed with \(String(describing: error))")
    }

    @Test func aFreePortAndPortZeroPassTheCheck() throws {
        let port = try { let s = try ListeningSocket(); return s.port }()  // held, then let go
        try ListenFailure.check(host: "127.0.0.1", port: port)
        try ListenFailure.check(host: "127.0.0.1", port: 0)
    }

    /// Port 0 is no way round the check: the host is still resolved and bound.
    @Test func aBadHostFailsTheCheckWithPortZeroToo() {
        let foreign = #expect(throws: ListenFailure.self) { try ListenFailure.check(host: "192.0.2.1", port: 0) }
        #expect(foreign?.description == "cannot listen on 192.0.2.1:0: the address is not one of this machine's; check --host")
        let unknown = #expect(throws: ListenFailure.self) { try ListenFailure.check(host: "nonexistent.invalid", port: 0) }
        #expect(unknown?.description == "cannot listen on nonexistent.invalid:0: the host name does not resolve; check --host")
    }
}
