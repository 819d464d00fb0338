import ArgumentParser
import Foundation
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerProjections
import JobLedgerServer
import JobLedgerSQLite
import JobLedgerUpstash
import Logging
import Prometheus
import ServiceLifecycle

extension OptionRanges {
    /// `serve --workers`: 0 makes an API-only node.
    static let serveWorkers = OptionRange("--workers", 0...1024)
    static let port = OptionRange("--port", 0...65_535)
}

/// Which limiter counts submits.
enum RateLimiterChoice: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Upstash when `UPSTASH_REDIS_REST_URL` is set, else memory.
    case auto
    /// In this process's memory.
    case memory
    /// Upstash Redis, sharing keys with `@upstash/ratelimit`.
    case upstash
}

struct Serve: AsyncParsableCommand, TakesLogLevel {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP API, live job streams and the dashboard (and, with --workers, run jobs).",
        discussion: """
            Authentication comes from the environment: JOBLEDGER_AUTH_HS256_SECRET or JOBLEDGER_AUTH_JWKS (a file or URL; one, not both), \
            with JOBLEDGER_AUTH_ISSUER / JOBLEDGER_AUTH_AUDIENCE when set (Docs/Serve.md). Without them serve refuses to \
            start unless --insecure-no-auth is given, which binds to loopback only. Submits are limited per user by \
            JOBLEDGER_RATE_LIMIT (default 10/60s, sliding). SIGINT/SIGTERM: stop accepting, end the streams, drain the workers.
            """)

    @OptionGroup var log: LogOptions
    @OptionGroup var projections: ProjectionOptions
    @OptionGroup var storage: StorageWaitOptions
    @OptionGroup var intake: IntakeOptions
    @OptionGroup var logging: LogLevelOptions
    @Option(help: "The address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port), \(OptionRanges.port.bounds).") var port: Int = 8080
    @Option(help: "Attempts run at once in this process, \(OptionRanges.serveWorkers.bounds) (0: an API-only node).") var workers: Int = 4
    @Option(help: "Seconds a claim holds without a heartbeat, \(OptionRanges.lease.bounds).") var lease: Double = 30
    @Option(help: "Seconds running handlers get to finish on SIGINT/SIGTERM, \(OptionRanges.drain.bounds).") var drain: Double = 10
    @Option(help: "Chance that a demo attempt fails (retryable), \(OptionRanges.failRate.bounds).") var failRate: Double = 0.2
    @Option(help: "Milliseconds each of the demo handler's four passes takes, \(OptionRanges.stepMs.bounds).") var stepMs: Int = 400
    @Option(help: "Progress reports of one attempt closer together than this are merged into the next durable progress event, \(OptionRanges.progressIntervalMs.bounds) (0: every report is written).") var progressIntervalMs: Int = 250
    @Option(help: "Which limiter counts submits: auto (upstash when UPSTASH_REDIS_REST_URL is set), memory or upstash.") var rateLimiter: RateLimiterChoice = .auto
    @Option(help: "Seconds one SSE stream stays open at most before the client resumes it with Last-Event-ID, 1…86400.") var maxStreamSeconds: Int = 300
    @Option(help: "SSE streams one caller (token subject) may hold open at once, 1…100000; past it, 429.") var maxStreamsPerUser: Int = 32
    @Option(help: "Seconds a connection may stay idle before it is closed, 1…86400: no request in flight, or a request whose head or body stalls that long; a stream being written is not idle.") var idleTimeout: Double = 60
    @Option(help: "Seconds a client may take to send one request, head and body, 1…86400; a slower one (a body trickled a byte at a time) has its connection closed.") var requestTimeout: Double = 30
    @Option(help: "Events the jobs table (and the live streams' broadcast, when this server delivers it) may be behind the log while /readyz says ready, 0…1000000000; 0 turns the check off.") var readyMaxLag: Int64 = 10_000
    @Flag(help: "Serve without authentication (every caller is a local admin); loopback only.") var insecureNoAuth = false

    func validate() throws {
        try OptionRanges.serveWorkers.check(workers)
        if workers > 0 { try OptionRanges.checkEnginePayloadLimit(log.maxPayloadBytes) }
        try OptionRanges.port.check(port)
        try OptionRanges.lease.check(lease)
        try OptionRanges.drain.check(drain)
        try OptionRanges.failRate.check(failRate)
        try OptionRanges.stepMs.check(stepMs)
        try OptionRanges.progressIntervalMs.check(progressIntervalMs)
        try OptionRanges.checkProgressInterval(progressIntervalMs, lease: lease)
        guard (1...86_400).contains(maxStreamSeconds) else { throw ValidationError("--max-stream-seconds must be 1…86400") }
        guard (1...100_000).contains(maxStreamsPerUser) else { throw ValidationError("--max-streams-per-user must be 1…100000") }
        guard (1...86_400).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be 1…86400 seconds") }
        guard (1...86_400).contains(requestTimeout) else { throw ValidationError("--request-timeout must be 1…86400 seconds") }
        guard (0...1_000_000_000).contains(readyMaxLag) else { throw ValidationError("--ready-max-lag must be 0…1000000000 events") }
    }

    func run() async throws {
        KnownEnvironment.warnAboutUnknown()
        try await guarded {
            await CommandInterrupt.install("before the server began: no request was served")
            let environment = ProcessInfo.processInfo.environment
            // Everything that can be refused is checked before the log is touched (exit 2).
            let auth: AuthConfiguration?
            let spec: RateLimitSpec
            do {
                auth = try AuthConfiguration(environment: environment)
                if auth != nil, insecureNoAuth {
                    // Tokens stay required (the safe way round), but a try-out that gets 401 for
                    // every request should not have to guess why.
                    printErr("jobledger: warning: --insecure-no-auth is ignored: a JOBLEDGER_AUTH_* variable is set, so every request needs a token (unset it to try the server without tokens)")
                }
                if auth == nil {
                    guard insecureNoAuth else { throw ServerConfigurationError.noAuth }
                    guard Self.isLoopbackAddress(host) else { throw ServerConfigurationError.insecureNotLoopback(host: host) }
                }
                // Empty counts as unset, as for every other variable (.env.example says so).
                spec = try environment["JOBLEDGER_RATE_LIMIT"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
                    .map { try RateLimitSpec(parsing: $0) } ?? .default
            } catch let e as ServerConfigurationError {
                throw fail("\(e)", code: 2)
            }
            // A port already in use is said now, before the log is opened or created and the
            // engine starts (which would only be stopped again).
            do { try ListenFailure.check(host: host, port: port) } catch { throw fail("\(error)", code: 2) }
            let verifier: TokenVerifier?
            do {
                if let auth {
                    verifier = try await TokenVerifier(configuration: auth, logger: cliLogger("jobledger.serve.auth"))
                } else { verifier = nil }
            } catch { throw fail("\(error)", code: 2) }
            // No hub with --no-effects: nothing would ever be broadcast (the SSE routes say so, 409).
            let hub = projections.broadcast == .hub && !projections.noEffects ? BroadcastHub() : nil
            let sink = try hub ?? projections.sink()
            let anycable = projections.broadcast == .anycable ? try? AnyCableConfiguration(environment: environment) : nil
            if let anycable {
                // What a browser needs to subscribe comes in the submit response; said now when a
                // part of it cannot be made, rather than found missing from the 202 later.
                var missing: [String] = []
                if anycable.streamsSecret == nil { missing.append("no signed stream name (ANYCABLE_STREAMS_SECRET or ANYCABLE_SECRET)") }
                if anycable.jwtSecret == nil { missing.append("no client token (ANYCABLE_JWT_SECRET or ANYCABLE_SECRET)") }
                if anycable.publicURL == nil { missing.append("no AnyCable URL for browsers (NEXT_PUBLIC_ANYCABLE_URL)") }
                if !missing.isEmpty {
                    printErr("jobledger: warning: --broadcast anycable: submit responses will carry \(missing.joined(separator: ", ")); browsers can follow a job only if your AnyCable server accepts that")
                }
            }
            let blobs = try projections.blobStore()
            let upstash = try intake.upstashConfiguration(projections)
            let feed = try await intake.make(upstash, projections: projections)
            try await projections.checkStatusCache(upstash)
            // Before the log too: --rate-limiter upstash without its variables is exit 2 and no log.
            let limiter = try await makeLimiter(spec, environment: environment)
            let storageWait = storage.bound(oneShot: false)
            // Opening is bounded like a command that ends (5 s unless --storage-wait says): a
            // server cannot listen, nor answer its probes, before it has its log. A fault that may
            // pass (a full disk, an I/O error) is retried that long; a log it may not write (a
            // read-only file or file system: SQLite cannot open it for writing, exit 6 at once,
            // or opens it read-only) is not a fault that passes by waiting, and stops it at once
            // with exit 6 rather than keep it unseen. Faults after it listens are waited out
            // while /readyz says 503.
            let ledger = try await waitingOutStorageFaults(storage.bound(oneShot: true), notWaitedOut: [.readOnly], waitingOutLocks: true) { try log.open(create: true) }
            defer { closeLog(ledger) }
            // SQLite opens a log whose -wal and -shm are on a read-only mount (left by a killed
            // process) without an error, read-only: the first write finds out. One write probe
            // now, so that such a log stops the server at once as one that cannot be opened
            // does, rather than serving reads, paused for good. Other faults (a full disk) are
            // waited out while it serves, with /readyz 503, as they are after it started.
            if await Self.writeProbeFault(ledger) == .readOnly {
                try await waitingOutStorageFaults(storage.bound(oneShot: true), notWaitedOut: [.readOnly]) { try await ledger.probeWrite() }
            }
            let registry = PrometheusCollectorRegistry()
            let engine = makeEngine(ledger: ledger, storageWait: storageWait, metrics: registry)
            // A long start (no engine snapshot, many events) is said, and its end.
            let startNotice = workers > 0 ? EngineStartNotice.watch(engine, ledger: ledger) : nil
            defer { startNotice?.cancel() }
            let runner = try projections.runner(ledger: ledger, sink: sink, blobs: blobs, upstash: upstash, storageWait: storageWait,
                                                metrics: ServerMetrics.factory(registry))
            var server = JobLedgerServer(ledger: ledger, engine: engine, hub: hub, runner: runner, auth: verifier, limiter: limiter.limiter,
                                         blobFolder: blobs.vercel == nil ? blobs.folderPath(forLog: ledger.path) : nil,
                                         streams: StreamNaming(prefix: projections.streamPrefix), anycable: anycable, metrics: registry)
            server.maxStreamDuration = .seconds(maxStreamSeconds)
            server.streamQuota = StreamQuota(perCaller: maxStreamsPerUser)
            server.idleTimeout = .milliseconds(Int64((idleTimeout * 1000).rounded()))
            server.requestTimeout = .milliseconds(Int64((requestTimeout * 1000).rounded()))
            server.readyMaxLag = readyMaxLag == 0 ? nil : readyMaxLag
            server.intake = feed as? UpstashStreamIntake
            let logger = cliLogger("jobledger.serve")
            let host = self.host, workers = self.workers
            let authText = verifier == nil ? "NONE (--insecure-no-auth)" : describe(auth!)
            let limiterName = limiter.name, path = ledger.path
            // Each connection is a descriptor: the limit (raised to the hard one, and checked
            // against the floor, in `JobLedgerCLI.main`) less a reserve caps them; said when low.
            let openFiles = OpenFileLimit.raise()
            let cap = openFiles.map { ConnectionCap(openFileLimit: Int(min($0, UInt64(Int.max)))) }
            server.connectionCap = cap
            let filesText = cap.map {
                UInt64($0.openFileLimit) < OpenFileLimit.low
                    ? "; open-file limit \($0.openFileLimit): at most \($0.most) connections at once (\($0.reserved) descriptors kept for the log, threads and files; more are closed at once; raise the hard limit, ulimit -Hn)"
                    : ""
            } ?? ""
            let app = server.application(host: host, port: port, logger: logger) { p in
                // An IPv6 literal goes in brackets in a URL (http://[::1]:8080/).
                let shown = host.contains(":") ? "[\(host)]" : host
                printErr("jobledger: serving http://\(shown):\(p)/ (dashboard /, API /api, /openapi.json) on \(path); "
                         + "\(workers) worker\(workers == 1 ? "" : "s"); auth: \(authText); "
                         + "rate limit \(spec) (\(limiterName))\(filesText)")
            }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            // Stopped in reverse order: the projections last, after the workers have drained, so
            // that they take in what the drained attempts recorded.
            // Each named: a service's own description (what the group logs at debug) would spell
            // out every field of a struct, and that is no place to find out a secret is there.
            services.append(.init(service: runner, serviceName: "projections"))
            if workers > 0 { services.append(.init(service: EngineService(engine: engine, intake: feed), serviceName: "engine")) }
            services.append(.init(service: app, serviceName: "http"))
            // The hash chain verified at startup and every ten minutes: /readyz, /metrics and the
            // dashboard say when it does not verify, and the log gets one error line.
            services.append(.init(service: ChainWatch(server: server, logger: logger), serviceName: "chain-watch"))
            // Listed last so it stops first: ending the SSE streams lets the server's graceful
            // shutdown finish instead of waiting on open streams.
            if let hub {
                services.append(.init(service: HubCloser(hub: hub), serviceName: "hub-closer"))
                // Streams stay live here when another process holds the broadcast projection.
                services.append(.init(service: BroadcastRelay(ledger: ledger, hub: hub, owner: runner.options.owner), serviceName: "broadcast-relay"))
            }
            let serviceLogger = cliLogger("jobledger.service")
            // Last: the first to hear of the shutdown.
            services.append(.init(service: ShutdownNotice(
                waitsFor: "streams end, no new requests" + (workers > 0 ? ", running attempts drain for up to \(durationText(engine.options.drainTimeout))" : "")
                    + ", then the projections catch up (up to \(durationText(runner.options.shutdownCatchUp)))",
                running: { workers > 0 ? engine.runningAttempts : [] }), serviceName: "shutdown-notice"))
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint, .sighup], logger: serviceLogger))
            // Once the group has ended (a service failed, or it stopped), a signal stops the rest at once.
            defer { CommandInterrupt.takeBack("after the server stopped: what was recorded stays in \(ledger.path)") }
            do {
                try await group.run()
            } catch {
                // Another process took the port between the check and the server's bind.
                if let failure = ListenFailure(error, host: host, port: port) { throw fail("\(failure)", code: 2) }
                throw error
            }
            printErr("jobledger: stopped")
        }
    }

    func describe(_ a: AuthConfiguration) -> String {
        var parts: [String] = []
        if a.hs256Secret != nil { parts.append("HS256 secret") }
        if a.jwks != nil { parts.append("JWKS") }
        if a.issuer != nil { parts.append("issuer checked") }
        if !a.audiences.isEmpty { parts.append("audience checked") }
        return parts.joined(separator: ", ")
    }

    /// The engine: the demo kind `design`, `workers` at a time (one for an API-only node, which
    /// never claims: it only submits, cancels and retries).
    func makeEngine(ledger: Ledger, storageWait: Duration?, metrics: PrometheusCollectorRegistry) -> JobEngine {
        var o = JobEngine.Options()
        o.storageFaults.giveUpAfter = storageWait
        o.concurrency = max(1, workers)
        o.leaseMilliseconds = Int64((lease * 1000).rounded())
        o.drainTimeout = .milliseconds(Int64((drain * 1000).rounded()))
        o.progressIntervalMilliseconds = Int64(progressIntervalMs)
        o.metrics = ServerMetrics.factory(metrics)
        o.logger = cliLogger("jobledger.engine")
        let engine = JobEngine(ledger: ledger, options: o)
        engine.register(kind: DesignHandler.kind, retry: RetryPolicy(baseMilliseconds: 50, capMilliseconds: 2_000),
                        DesignHandler.make(failRate: failRate, stepMilliseconds: stepMs))
        return engine
    }

    /// The kind of storage fault a write probe of `ledger` meets, nil when it writes (or meets
    /// something else, such as another writer's lock).
    static func writeProbeFault(_ ledger: Ledger) async -> StorageFault.Kind? {
        do { try await ledger.probeWrite(); return nil } catch { return error.storageFault?.kind }
    }

    /// The submit limiter: Upstash's when chosen (or, with auto, configured), else in memory.
    /// A token Upstash refuses would have every submit refused (503, "try again shortly") by a
    /// node that looks ready: one `PING` at start, and a refused token stops the server (exit 2).
    /// Upstash not answering now is only said: it may come back, and submits wait for it (503).
    func makeLimiter(_ spec: RateLimitSpec, environment: [String: String]) async throws -> (limiter: SubmitLimiter, name: String) {
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let useUpstash = rateLimiter == .upstash || (rateLimiter == .auto && !(environment["UPSTASH_REDIS_REST_URL"] ?? "").isEmpty)
        guard useUpstash else { return (.inMemory(spec, now: now), "in memory") }
        let c = try projections.upstashConfiguration(environment: environment)
        let redis = projections.upstashClient(c)
        do { _ = try await redis.send(["PING"], idempotent: true) } catch {
            if case .unauthorized = error {
                throw fail("Upstash refused the token in UPSTASH_REDIS_REST_TOKEN (the submit limiter's store): \(error); check the variable", code: 2)
            }
            printErr("jobledger: warning: Upstash (the submit limiter's store) does not answer now: \(error); submits are refused with 503 until it does")
        }
        let upstash = UpstashRateLimiter(redis: redis, spec.algorithm, prefix: "jobledger:submit")
        return (SubmitLimiter(limiter: upstash, now: now, logger: cliLogger("jobledger.serve.limiter")), "Upstash")
    }
}

/// Runs the engine's workers until graceful shutdown, then drains them.
struct EngineService: Service {
    let engine: JobEngine
    let intake: (any JobIntake)?
    func run() async throws {
        try await withGracefulShutdownHandler {
            if let intake { try await engine.work(feedingFrom: intake) } else { try await engine.work() }
        } onGracefulShutdown: {
            Task { await engine.shutdown(drain: engine.options.drainTimeout) }
        }
    }
}

/// Ends every hub subscription (and so every SSE stream) when the service group shuts down.
struct HubCloser: Service {
    let hub: BroadcastHub
    func run() async throws {
        try? await gracefulShutdown()
        hub.finish()
    }
}

extension Serve {
    /// Whether `--host` is a loopback address: `localhost`, `::1` or any IPv4 address in
    /// 127.0.0.0/8 (`127.0.0.2` was refused, while the server's own Host check takes them all).
    static func isLoopbackAddress(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || Loopback.isIPv4(host)
    }
}
