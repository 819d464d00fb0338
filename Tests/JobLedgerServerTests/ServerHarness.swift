import Foundation
import JobLedgerTestSupport
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
@testable import JobLedgerServer
import JobLedgerSQLite
import JWTKit
import Logging
import Prometheus
import Synchronization

/// A clock the tests move by hand: the limiter, the token verifier and the tokens all read it.
final class TestClock: Sendable {
    private let value: Mutex<(now: Int64, step: Int64)>
    init(_ ms: Int64 = 1_800_000_000_000) { value = Mutex((ms, 0)) }
    var now: Int64 { value.withLock { v in defer { v.now += v.step }; return v.now } }
    func advance(ms: Int64) { value.withLock { $0.now += ms } }
    /// From now on every read moves the clock on by `ms` (0: it stands still again), so that
    /// whatever the server times seems to take that long.
    func advanceOnEveryRead(ms: Int64) { value.withLock { $0.step = ms } }
    var closure: @Sendable () -> Int64 { { [self] in self.now } }
}

/// Claims the tests sign.
struct TestClaims: JWTPayload {
    var sub: String?
    var exp: Int64?
    var nbf: Int64?
    var iss: String?
    var aud: String?
    var role: String?
    var azp: String?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A real log in a temporary folder, a real engine and projections, and the server over them,
/// reached over loopback through Hummingbird's live test client.
struct ServerHarness {
    static let secret = "test-secret-0123456789abcdef0123456789abcdef"
    let dir: URL
    let ledger: Ledger
    let engine: JobEngine
    let hub: BroadcastHub
    let runner: ProjectionRunner
    let clock: TestClock
    var server: JobLedgerServer
    let signer: JWTKeyCollection

    /// `limit`: the submit limit, counted in memory unless `limiter` makes another limiter on the
    /// harness's clock; `auth`: nil for the HS256 default; `anycable` and `streams` as `serve`
    /// passes them with `--broadcast anycable` and `--stream-prefix`; `serverHub` false: the
    /// server has no hub to stream from, as with `--broadcast anycable`; `log`: how the log is opened;
    /// `blobStore`: where artefacts are published, given the folder beside the log (default: that folder).
    static func make(limit: RateLimitSpec = RateLimitSpec(limit: 100, windowMilliseconds: 60_000), auth: AuthConfiguration? = nil,
                     insecure: Bool = false, limiter: ((TestClock) -> SubmitLimiter)? = nil,
                     anycable: AnyCableConfiguration? = nil, streams: StreamNaming = StreamNaming(),
                     serverHub: Bool = true, log: LedgerConfiguration = LedgerConfiguration(),
                     blobStore: ((String) -> any BlobStore)? = nil) async throws -> ServerHarness {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ledger = try Ledger.open(path: dir.appendingPathComponent("log.sqlite").path, configuration: log)
        var o = JobEngine.Options()
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        // One registry for the engine's and the projections' metrics, read by `/metrics`.
        let registry = PrometheusCollectorRegistry()
        o.metrics = ServerMetrics.factory(registry)
        let engine = JobEngine(ledger: ledger, options: o)
        engine.register(kind: "design") { ctx in
            try await ctx.progress(0.4, message: "sketching")
            try await ctx.lowres(Data("preview-bytes".utf8), contentType: "image/png")
            try await ctx.progress(0.8, message: "rendering")
            return JobCompletion(bytes: Data(repeating: 0x42, count: 4096), contentType: "image/png", output: ["width": 64])
        }
        let hub = BroadcastHub()
        let blobs = dir.appendingPathComponent("log.sqlite.blobs").path
        var ro = ProjectionRunner.Options()
        ro.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        ro.metrics = ServerMetrics.factory(registry)
        let runner = ProjectionRunner(ledger: ledger, blobs: blobStore?(blobs) ?? LocalFolderBlobStore(path: blobs), broadcasts: hub, options: ro)
        let clock = TestClock()
        let verifier = insecure ? nil : try await TokenVerifier(configuration: auth ?? AuthConfiguration(hs256Secret: secret), now: clock.closure)
        var server = JobLedgerServer(ledger: ledger, engine: engine, hub: serverHub ? hub : nil, runner: runner, auth: verifier,
                                     limiter: limiter?(clock) ?? .inMemory(limit, now: clock.closure),
                                     kinds: ["design": .design, "echo": nil, "gated": nil],
                                     blobFolder: blobs, streams: streams, anycable: anycable, metrics: registry, now: clock.closure)
        // Counts are never reused here (a loaded machine can make even a tiny count slow, and the
        // tests read counts right after a change); JobCountsTests test the reuse.
        server.jobCounts = JobCountsCache(floorMilliseconds: .max)
        // The test client keeps one connection, which a loaded machine may leave quiet for long
        // between two requests: no idle timeout unless a test sets one (IdleTimeoutTests).
        server.idleTimeout = nil
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return ServerHarness(dir: dir, ledger: ledger, engine: engine, hub: hub, runner: runner, clock: clock, server: server, signer: signer)
    }

    /// An HS256 token for `sub`, valid for an hour from the test clock.
    func token(_ sub: String = "user_alice", role: String? = nil, expIn: Int64 = 3600, nbfIn: Int64? = nil) async throws -> String {
        let now = clock.now / 1000
        return try await signer.sign(TestClaims(sub: sub, exp: now + expIn, nbf: nbfIn.map { now + $0 }, role: role))
    }

    /// The bearer header for `sub`.
    func auth(_ sub: String = "user_alice", role: String? = nil) async throws -> HTTPFields {
        [.authorization: "Bearer \(try await token(sub, role: role))"]
    }

    /// Runs `body` against the live server on a loopback port (logging to `logger`, by default nowhere).
    func live<T: Sendable>(logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                           _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = server.application(host: "127.0.0.1", port: 0, logger: logger)
        return try await app.test(.live) { client in try await body(client) }
    }

    /// Works every queued job and delivers every projection: deterministic, no sleeping.
    func workAndProject() async throws {
        try await engine.workUntilIdle()
        _ = try await runner.catchUp()
    }

    func cleanup() { try? FileManager.default.removeItem(at: dir) }
}

extension ByteBuffer {
    var text: String { String(buffer: self) }
    var json: JSONValue? { try? JSONValue(parsing: String(buffer: self)) }
}

func body(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

/// A loopback port nothing listens on (held, then given up): an unreachable service.
func closedLoopbackPort() throws -> Int { try ListeningSocket().port }
