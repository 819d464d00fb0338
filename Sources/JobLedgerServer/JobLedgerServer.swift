import Foundation
import HTTPTypes
import Hummingbird
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerUpstash
import JobLedgerSQLite
import Logging
import Prometheus

/// The HTTP face of a JobLedger log, on Hummingbird 2: the authenticated, rate-limited submit
/// route, reading (jobs, histories with hash-chain status, SSE streams, blobs), admin actions,
/// `/metrics`, `/healthz`, `/readyz`, `/openapi.json` and the dashboard at `/`.
///
/// It only uses the engine's and the log's public API: submits go through `JobEngine.submit`,
/// cancel and retry through `JobEngine.cancel` / `retry`, reading through `Ledger`.
///
/// ```swift
/// let server = JobLedgerServer(ledger: ledger, engine: engine, hub: hub,
///                              auth: try await TokenVerifier(configuration: auth),
///                              limiter: .inMemory(.default, now: clock))
/// let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
/// ```
public struct JobLedgerServer: Sendable {
    /// The log.
    public let ledger: Ledger
    /// The engine submits, cancels and retries go through (it need not run workers).
    public let engine: JobEngine
    /// The in-process hub SSE streams read; nil when broadcasts go to AnyCable.
    public let hub: BroadcastHub?
    /// The projections running in this process (health, re-drive); nil for none.
    public let runner: ProjectionRunner?
    /// The token verifier; nil only with `--insecure-no-auth` (every caller is a local admin).
    public let auth: TokenVerifier?
    /// The per-user submit limit.
    public let limiter: SubmitLimiter
    /// The kinds that can be submitted, with their input schema (nil: any object).
    public let kinds: [String: KindSchema?]
    /// The folder of the local blob store, served at `/blobs/`; nil when blobs live elsewhere.
    public let blobFolder: String?
    /// Stream naming (the broadcast projection's).
    public let streams: StreamNaming
    /// AnyCable, when broadcasts go there: the 202 carries a signed stream and a client JWT.
    public let anycable: AnyCableConfiguration?
    /// Where `/metrics` reads from (the engine's and projections' metrics, when they were given
    /// a `PrometheusMetricsFactory` on this registry).
    public let metrics: PrometheusCollectorRegistry
    /// How long one SSE stream stays open at most (the client then resumes with `Last-Event-ID`).
    public var maxStreamDuration: Duration = .seconds(300)
    /// How many SSE streams one caller may hold open at once (429 past it).
    public var streamQuota = StreamQuota()
    /// How long an SSE stream may stay quiet before the server writes a keep-alive comment,
    /// which also finds a client that went away: a connection the client reset fails the first
    /// write; one it closed in order (a FIN: the server keeps the half-closed connection open,
    /// as HTTP allows) takes the first write, answers it with a reset and fails the second. So
    /// a stream ends within twice this of its client going away: 15 s with the default 7.5 s.
    public var streamHeartbeat: Duration = .milliseconds(7_500)
    /// How long a connection may stay idle (no request in flight, or a request whose head or
    /// body has stalled) before the server closes it: without it, clients that connect and send
    /// nothing, or drip a header, hold a descriptor each until the server has none left. A
    /// response in progress (an SSE stream) is never cut by it. nil: never.
    public var idleTimeout: Duration? = .seconds(60)
    /// How long a client may take to send one request, from its head to the end of its body,
    /// before the server closes the connection: each byte of a trickled body counts as activity
    /// for `idleTimeout`, so without this a client sending a byte a minute keeps its connection
    /// for ever. The API's bodies are small (64 KiB at most), so the default is generous even
    /// for a slow link. nil: no limit.
    public var requestTimeout: Duration? = .seconds(30)
    /// How far behind the log (in events) the projections this server reads from may be while
    /// `/readyz` says ready: the jobs table (the list, the counts, each job's row) and, when this
    /// server's runner holds it, the broadcast (its live streams). A node started on a log whose
    /// projections are far behind (restored from an export, or after a long stop) answered
    /// `ready` with a list missing most jobs and streams silent for minutes. nil: not checked.
    public var readyMaxLag: Int64? = 10_000
    /// How many connections are held at once (`ConnectionCap`): more are closed as soon as they
    /// are accepted, so that connections never take the descriptors the server needs itself.
    /// nil: no cap.
    public var connectionCap: ConnectionCap?
    /// The Upstash stream intake feeding this server's workers, when there is one: the
    /// projections page shows its lag, pending entries and dead letters.
    public var intake: UpstashStreamIntake?
    /// The log's hash-chain status, verified once per head.
    let chain: ChainStatus
    /// The SSE bytes of the latest broadcast messages, shared by their subscribers.
    let renderedEvents = RenderedEvents()
    /// Where recent history pages ended, so that the next page's fold resumes there.
    let historyResume = HistoryResume()
    /// Milliseconds since 1970.
    let now: @Sendable () -> Int64
    /// The jobs list's counts, reused where counting is costly.
    var jobCounts = JobCountsCache()
    /// The storage faults this server's requests meet: `/readyz` and the server's log (see `StorageWatch`).
    let storageWatch: StorageWatch

    /// A server over `ledger` and `engine`.
    public init(ledger: Ledger, engine: JobEngine, hub: BroadcastHub?, runner: ProjectionRunner? = nil, auth: TokenVerifier?,
                limiter: SubmitLimiter, kinds: [String: KindSchema?] = ["design": .design], blobFolder: String? = nil,
                streams: StreamNaming = StreamNaming(), anycable: AnyCableConfiguration? = nil,
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.ledger = ledger; self.engine = engine; self.hub = hub; self.runner = runner; self.auth = auth
        self.limiter = limiter; self.kinds = kinds; self.blobFolder = blobFolder; self.streams = streams
        self.anycable = anycable; self.metrics = metrics; self.now = now
        chain = ChainStatus(ledger: ledger, now: now)
        storageWatch = StorageWatch(policy: engine.options.storageFaults, metrics: ServerMetrics.factory(metrics), now: now)
        ServerMetrics.registerAtZero(metrics, engine: engine, runner: runner)
    }

    /// Every route. Each GET route also answers HEAD with the status and headers a GET would
    /// get (`Content-Length` included) and no body: health checkers and `curl -I` use HEAD. The
    /// SSE routes have HEAD routes of their own, with no `Content-Length` (`eventStreamHead`).
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.middlewares.add(BrowserGuard(loopbackHostOnly: auth == nil))
        let allowed = AllowedMethods()
        router.middlewares.add(ErrorMapping(storage: storageWatch, allowed: allowed))
        // Inside the error mapping, before any route or file: only a path's canonical spelling is served.
        router.middlewares.add(CanonicalPath())
        // Inside the error mapping: it serves a file where the routes found nothing (under `/blobs`
        // only: `PathPrefixed`).
        if let blobFolder {
            var quiet = Logger(label: "jobledger.serve.blobs")
            quiet.logLevel = .warning
            let files = BlobFolderFiles(folder: blobFolder, logger: quiet)
            router.middlewares.add(BlobConditionals(urlBasePath: "/blobs", now: now))
            router.middlewares.add(BlobRanges(files: files, urlBasePath: "/blobs"))
            router.middlewares.add(PathPrefixed(prefix: "/blobs", inner: FileMiddleware(fileProvider: files, urlBasePath: "/blobs")))
            allowed.learn(prefix: "/blobs", methods: [.get, .head])
        }
        addSubmitRoutes(to: router)
        addReadRoutes(to: router)
        addStreamRoute(to: router)
        addLiveListRoute(to: router)
        addAdminRoutes(to: router)
        addOperationRoutes(to: router)
        addDashboardRoutes(to: router)
        allowed.learn(router.routes)
        return router
    }

    /// The caller of `request`: from `Authorization: Bearer`, the `__session` cookie (Clerk's
    /// same-origin token) or, where `allowQuery` (the SSE stream: `EventSource` sends no
    /// headers), the `access_token` query parameter.
    ///
    /// A request that changes something (not GET or HEAD) and is not authenticated by its own
    /// `Authorization` header — a cookie, or no auth at all in `--insecure-no-auth` mode — is
    /// what a browser sends along by itself, so it must come from this server's own pages
    /// (`sameOrigin`): another site's form or script cannot submit, cancel or retry in the
    /// user's name (cross-site request forgery).
    func caller(_ request: Request, allowQuery: Bool = false) async throws(Problem) -> Principal {
        if request.method != .get, request.method != .head, request.headers[.authorization] == nil { try Self.sameOrigin(request) }
        guard let auth else { return .insecureLocal }
        let tokens = try Self.tokens(in: request, allowQuery: allowQuery)
        guard let token = tokens.first else { throw Problem.unauthorized(AuthFailure.missing.description, tokenSent: false) }
        guard tokens.count > 1 else {
            do { return try await auth.verify(token) } catch { throw Problem.unauthorized(error.description) }
        }
        // Several `__session` cookies: a browser sends a stale one (another path's or domain's)
        // beside the current one. The caller is the one user they prove; none, or two users,
        // is refused.
        var proven: [Principal] = []
        var firstFailure: AuthFailure?
        for t in tokens {
            do { proven.append(try await auth.verify(t)) } catch { firstFailure = firstFailure ?? error }
        }
        guard let caller = proven.first else { throw Problem.unauthorized(firstFailure?.description ?? AuthFailure.missing.description) }
        guard proven.allSatisfy({ $0.subject.utf8.elementsEqual(caller.subject.utf8) }) else {
            throw Problem.unauthorized("__session cookies of different users were sent; sign out, or send one token in an Authorization header")
        }
        return caller
    }

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let origin = HTTPField.Name("Origin")!

    /// Refuses (403) a request a browser sent from another origin: `Sec-Fetch-Site` other than
    /// `same-origin` or `none`, else an `Origin` whose host and port are not the request's
    /// `Host`. A request with neither header does not come from a browser page (curl, a
    /// script) and is let through.
    static func sameOrigin(_ request: Request) throws(Problem) {
        let refuse = Problem(.forbidden, "cross-origin", "a request from another site's page may not act with this browser's session; send the token in an Authorization header")
        if let site = request.headers[Self.secFetchSite] {
            guard site == "same-origin" || site == "none" else { throw refuse }
            return
        }
        guard let origin = request.headers[Self.origin] else { return }
        guard let host = request.head.authority,
              let url = URL(string: origin), let originHost = url.host else { throw refuse }
        let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
        let bare = { (a: String) in a.hasSuffix(":80") || a.hasSuffix(":443") ? String(a[..<a.lastIndex(of: ":")!]) : a }
        guard bare(originAuthority.lowercased()) == bare(host.lowercased()) else { throw refuse }
    }

    /// `text` without the spaces and tabs around it (Foundation's trimming goes through NSString,
    /// about 3 % of a submit's time).
    static func trimmingSpaces(_ text: Substring) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) }) else { return "" }
        return text[first...last]
    }

    /// The tokens `request` carries: none, one, or (only from `__session` cookies, in one
    /// `Cookie` field or several) up to `maxSessionCookies` different ones, which `caller`
    /// sorts out. `access_token` given twice is refused (401), as two `Authorization` fields
    /// are: which one a proxy meant is not known, and the first one won.
    static func tokens(in request: Request, allowQuery: Bool) throws(Problem) -> [String] {
        if let h = request.headers[.authorization] {
            // Two fields would be read joined ("not three dot-separated parts"): said as it is.
            guard request.headers[values: .authorization].count == 1 else {
                throw Problem.unauthorized("\(request.headers[values: .authorization].count) Authorization fields were sent; send one")
            }
            let parts = h.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return [String(Self.trimmingSpaces(parts[1]))] }
            return []
        }
        var sessions: [String] = []
        for cookie in request.headers[values: .cookie] {
            for pair in cookie.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, Self.trimmingSpaces(kv[0]) == "__session" else { continue }
                let value = String(kv[1])
                if sessions.contains(where: { $0.utf8.elementsEqual(value.utf8) }) { continue }
                guard sessions.count < Self.maxSessionCookies else {
                    throw Problem.unauthorized("more than \(Self.maxSessionCookies) different __session cookies were sent; sign out, or send one token in an Authorization header")
                }
                sessions.append(value)
            }
        }
        if !sessions.isEmpty { return sessions }
        if allowQuery {
            let given = request.uri.queryParameters.getAll("access_token")
            guard given.count <= 1 else { throw Problem.unauthorized("access_token was given \(given.count) times; give it once") }
            if let q = given.first, !q.isEmpty { return [q] }
        }
        return []
    }

    /// The most different `__session` cookies one request's tokens are read from.
    static let maxSessionCookies = 4

    /// The job named by the `id` parameter, when it exists and `caller` may see it (404
    /// otherwise: another user's job looks like no job).
    func visibleJob(_ context: BasicRequestContext, for caller: Principal) throws(Problem) -> JobState {
        guard let text = context.parameters.get("id"), let id = try? JobID(text) else {
            throw Problem.notFound("no such job")
        }
        let state: JobState?
        do { state = try ledger.state(of: id) } catch { throw Self.storage(error) }
        guard let state, caller.may(access: state.owner) else { throw Problem.notFound("no such job \(id)") }
        return state
    }

    /// A log error as a response: a storage fault is a 503 (the engine pauses and resumes by
    /// itself), anything else a 500 that names the error's kind only. The 503 names the
    /// fault's kind (`full`, `io`, `read_only`, `vanished`), never its text: that names the
    /// log's path on the server and the free space there, which are the operator's business
    /// (the server's log has them), not every signed-in user's.
    static func storage(_ error: any Error) -> Problem {
        if let e = error as? LedgerError, let fault = e.storageFault {
            var p = Problem.unavailable("the log's storage is paused by a fault (\(fault.kind.rawValue): \(Self.meaning(of: fault.kind))); try again shortly")
            p.storageFault = fault
            return p
        }
        var p = Problem(.internalServerError, "internal", "the log could not be read (\(type(of: error)))")
        p.cause = "\(error)"
        return p
    }

    /// A storage fault's kind in a few words, without the log's path.
    static func meaning(of kind: StorageFault.Kind) -> String {
        switch kind {
        case .full: "the disk that holds the log has no room"
        case .io: "the system reported an I/O error"
        case .readOnly: "the log's file system became read-only"
        case .vanished: "the log's file was moved or deleted"
        }
    }

    /// The paths of a job's resources.
    static func urls(_ id: JobID) -> JSONValue {
        .object(["self": .string("/api/jobs/\(id)"), "events": .string("/api/jobs/\(id)/events"),
                 "stream": .string("/api/jobs/\(id)/stream")])
    }
}
