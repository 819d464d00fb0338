import Foundation
import JobLedger
import JobLedgerSQLite
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps the projections up with the log: the `jobs` table (exactly once, with its
/// checkpoint), and, when given a store and a sink, the blob and broadcast projections (at
/// least once, through the outbox, with retries, backoff and dead letters). Live: woken by
/// appends through the same `Ledger`, polling for other processes' appends; after a restart it
/// catches up from the stored checkpoints. Each projection runs on its own, so a slow or dead
/// sink holds back only its own projection, and appends never wait for any of them.
public final class ProjectionRunner: Sendable {
    public struct Options: Sendable {
        /// Recorded as the owner of the effect projections; unique per running process. The
        /// default, `<host>:<pid>`, lets a process on the same host take over at once from an
        /// owner whose process has died.
        public var owner: String
        /// Events taken in per transaction.
        public var batchSize = 256
        /// Outbox items delivered per call to a sink.
        public var deliveryBatch = 100
        /// Tries before an item becomes a dead letter.
        public var maxAttempts = 8
        /// Backoff between tries (full jitter); a sink's Retry-After is honoured when longer.
        public var retry = RetryPolicy(baseMilliseconds: 500, capMilliseconds: 60_000)
        /// How often to look for appends made by other processes.
        public var pollInterval: Duration = .milliseconds(200)
        /// How long an effect projection stays owned without being renewed.
        public var leaseMilliseconds: Int64 = 30_000
        /// How often the lease is renewed while a sink call is in flight (default: a third of
        /// the lease), so that a slow delivery keeps its projection and no second process
        /// delivers the same items meanwhile.
        public var renewInterval: Duration?
        /// The longest a sink's Retry-After is honoured: a larger (or absurd) value would stop
        /// the projection, which delivers in order, for that long.
        public var maxRetryAfterMilliseconds: Int64 = 300_000
        public var streams = StreamNaming()
        /// Drop a pending progress message when a newer message of its job is taken in.
        public var coalesceProgress = true
        /// Seed for the retry jitter, for repeatable tests; nil draws one.
        public var randomSeed: UInt64?
        public var logger = Logger(label: "jobledger.projections")
        public var metrics: (any MetricsFactory)?

        public init(owner: String = ProjectionRunner.localOwner) {
            self.owner = owner
        }
    }

    /// What one `catchUp` did.
    public struct Report: Sendable, Hashable {
        public var applied = 0
        public var ingested = 0
        public var delivered = 0
        public var failed = 0
        public var dead = 0
        /// Effect projections another process owns (its lease is running): not run here.
        public var notOwned: Set<ProjectionName> = []
        public init() {}
    }

    enum Delivery {
        case idle
        case waitUntil(Timestamp)
        case worked(delivered: Int, failed: Int, dead: Int)
    }

    public let ledger: Ledger
    public let clock: any JobClock
    public let options: Options
    let blobs: (any BlobStore)?
    let broadcasts: (any BroadcastSink)?
    let caches: [ProjectionName: StateCache]
    let random: Mutex<SplitMix64>
    let leases = Mutex<[ProjectionName: ProjectionLease]>([:])
    /// One step of a projection at a time in this runner: `catchUp` and the live loops may
    /// overlap (a worker catching up before it stops), and must not deliver the same items twice.
    let turns: [ProjectionName: TurnLock] = Dictionary(uniqueKeysWithValues: ProjectionName.allCases.map { ($0, TurnLock()) })

    public init(ledger: Ledger, clock: any JobClock = SystemClock(), blobs: (any BlobStore)? = nil,
                broadcasts: (any BroadcastSink)? = nil, options: Options = Options()) {
        self.ledger = ledger
        self.clock = clock
        self.options = options
        self.blobs = blobs
        self.broadcasts = broadcasts
        self.caches = [.jobs: StateCache(), .broadcast: StateCache()]
        self.random = Mutex(SplitMix64(seed: options.randomSeed ?? UInt64.random(in: 0...UInt64.max)))
    }

    /// The projections this runner keeps.
    public var projections: [ProjectionName] {
        [.jobs] + (blobs == nil ? [] : [.blob]) + (broadcasts == nil ? [] : [.broadcast])
    }

    private var metricsFactory: any MetricsFactory { options.metrics ?? MetricsSystem.factory }

    private func count(_ what: String, _ name: ProjectionName, _ n: Int) {
        guard n > 0 else { return }
        Counter(label: "jobledger_projection_\(what)_total", dimensions: [("projection", name.rawValue)], factory: metricsFactory)
            .increment(by: Int64(n))
    }

    // MARK: - Steps

    /// Does everything that can be done now, projection by projection, until nothing is left
    /// that is due: the log applied and taken in up to its head, every due item delivered or
    /// failed. Tests drive the runner with this and an injected clock.
    @discardableResult
    public func catchUp() async throws -> Report {
        var report = Report()
        while true {
            var worked = false
            let applied = try await stepJobs()
            report.applied += applied
            for name in projections where name.isEffect {
                guard try await own(name) != nil else { report.notOwned.insert(name); continue }
                let n = try await ingest(name)
                report.ingested += n
                if case .worked(let d, let f, let dead) = try await deliver(name) {
                    report.delivered += d; report.failed += f; report.dead += dead
                    worked = true
                }
                if n > 0 { worked = true }
            }
            if applied == 0 && !worked { return report }
        }
    }

    func stepJobs() async throws -> Int {
        let turn = turns[.jobs]!
        await turn.acquire()
        defer { turn.release() }
        let n = try await ledger.advanceJobsTable(limit: options.batchSize, cache: caches[.jobs]!)
        count("applied", .jobs, n)
        return n
    }

    func ingest(_ name: ProjectionName) async throws -> Int {
        let turn = turns[name]!
        await turn.acquire()
        defer { turn.release() }
        guard let lease = try await own(name) else { return 0 }
        let n = try await fenced(name) {
            try await ledger.ingest(name, lease: lease, limit: options.batchSize, streams: options.streams,
                                        coalesceProgress: options.coalesceProgress,
                                        waitForUploads: name.dependencies.contains(.blob) && projections.contains(.blob),
                                        cache: caches[.broadcast]!)
        } ?? 0
        count("ingested", name, n)
        return n
    }

    /// Takes or renews ownership of an effect projection when its lease is half spent; nil
    /// when another owner holds it.
    func own(_ name: ProjectionName, renewNow: Bool = false) async throws -> ProjectionLease? {
        let now = clock.now()
        if !renewNow, let lease = leases.withLock({ $0[name] }),
           lease.until.milliseconds - now.milliseconds > options.leaseMilliseconds / 2 { return lease }
        var owned = try await ledger.acquireProjection(name, owner: options.owner, now: now, leaseMilliseconds: options.leaseMilliseconds)
        if owned == nil, let holder = try ledger.projectionOwner(name), Self.isDeadLocalProcess(holder) {
            options.logger.warning("taking over projection \(name) from \(holder), a process that is gone")
            owned = try await ledger.acquireProjection(name, owner: options.owner, now: now, leaseMilliseconds: options.leaseMilliseconds,
                                                       replacing: holder)
        }
        let before = leases.withLock { l in
            defer { l[name] = owned }
            return l[name]
        }
        if let before, before.generation != owned?.generation {
            options.logger.warning("projection \(name): lease of generation \(before.generation) lost to \(owned == nil ? "another owner" : "a new term")")
        }
        return owned
    }

    /// Runs a write guarded by the projection's lease; when another owner has taken the
    /// projection over, forgets the lease, logs it once and returns nil: the new owner
    /// delivers what this runner was about to record.
    func fenced<T>(_ name: ProjectionName, _ body: () async throws -> T) async throws -> T? {
        do {
            return try await body()
        } catch LedgerError.projectionTakenOver(_, let holder) {
            leases.withLock { $0[name] = nil }
            options.logger.warning("projection \(name) was taken over by \(holder ?? "another owner") while this process held it; stopping its delivery here")
            return nil
        }
    }

    /// Runs a sink call while renewing the projection's lease every `renewInterval`, so that a
    /// delivery slower than the lease does not let a second process take the projection over
    /// and deliver the same items concurrently.
    func renewingLease<T, E: Error>(_ name: ProjectionName, during call: () async throws(E) -> T) async throws(E) -> T {
        let interval = options.renewInterval ?? .milliseconds(max(1, options.leaseMilliseconds / 3))
        // Unstructured: a shutdown that cancels the delivery does not stop a renewal midway.
        let renewal = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                _ = try? await self.own(name, renewNow: true)
            }
        }
        let result: Result<T, E>
        do throws(E) { result = .success(try await call()) } catch { result = .failure(error) }
        renewal.cancel()
        await renewal.value  // no renewal may land after the caller goes on (and perhaps releases)
        return try result.get()
    }

    /// Runs bookkeeping that must happen once a sink call has returned, even when the runner is
    /// being cancelled (shutdown): recording a delivery, a failure, giving up a lease. GRDB
    /// refuses database access from a cancelled task; an unstructured task is not cancelled.
    static func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task { try await body() }.value
    }

    static func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
        await Task { await body() }.value
    }

    /// This process as an owner: `<host>/<pid namespace>:<pid>`. The namespace tells apart
    /// containers that share a host name but not their process ids.
    public static var localOwner: String { "\(localPlace):\(getpid())" }

    static let localPlace: String = {
        let ns = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "pid"
        return "\(ProcessInfo.processInfo.hostName)/\(ns)"
    }()

    /// True for an owner `<this host and pid namespace>:<pid>` whose process no longer exists.
    static func isDeadLocalProcess(_ owner: String) -> Bool {
        guard let colon = owner.lastIndex(of: ":"), owner[..<colon] == localPlace,
              let pid = Int32(owner[owner.index(after: colon)...]), pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Gives up the effect projections this runner owns, so another process can take them
    /// over at once (`runLive` does this when it ends).
    public func release() async {
        for name in projections where name.isEffect {
            let ledger = self.ledger, owner = options.owner
            await Self.uncancelled { await ledger.releaseProjection(name, owner: owner) }
        }
        leases.withLock { $0.removeAll() }
    }

    /// The most items one delivery hands a sink: `deliveryBatch`, and never more than the
    /// broadcast sink's preferred batch.
    func deliveryLimit(_ name: ProjectionName) -> Int {
        guard name == .broadcast, let most = broadcasts?.preferredBatchSize else { return options.deliveryBatch }
        return max(1, min(options.deliveryBatch, most))
    }

    /// Delivers the due head of an effect projection's outbox, in `seq` order.
    func deliver(_ name: ProjectionName) async throws -> Delivery {
        let turn = turns[name]!
        await turn.acquire()
        defer { turn.release() }
        guard let lease = try await own(name) else { return .idle }
        let now = clock.now()
        switch try await ledger.dueItems(name, now: now, limit: deliveryLimit(name)) {
        case .none: return .idle
        case .notBefore(let t): return .waitUntil(t)
        case .due(let items):
            return try await fenced(name) {
                switch name {
                case .blob: return try await upload(items, lease: lease, now: now)
                case .broadcast: return try await broadcast(items, lease: lease, now: now)
                case .jobs: return .idle
                }
            } ?? .idle
        }
    }

    private func upload(_ items: [OutboxItem], lease: ProjectionLease, now: Timestamp) async throws -> Delivery {
        guard let blobs else { return .idle }
        var published: [Int64: BlobInfo] = [:]
        var done: [OutboxItem] = []
        var failure: (OutboxItem, SinkError)?
        for item in items {
            do {
                guard let asset = item.asset else { throw SinkError.rejected("outbox item \(item.seq) does not name an asset") }
                let bytes: Data
                do { bytes = try ledger.assetBytes(asset.sha256) } catch {
                    throw SinkError.rejected("the bytes of asset \(asset.sha256) are not staged in this log")
                }
                published[item.seq] = try await renewingLease(.blob) { () async throws(SinkError) in
                    try await blobs.put(pathname: item.target, bytes: bytes, contentType: asset.contentType)
                }
                done.append(item)
            } catch let e as SinkError {
                failure = (item, e)
                break
            }
        }
        // Cut off by shutdown: what was published is recorded; the rest stays pending and due,
        // without using up a try.
        let cancelled = failure != nil && Task.isCancelled
        let ledger = self.ledger, at = clock.now(), sent = done, uploaded = published
        try await Self.uncancelled { try await ledger.markSent(sent, lease: lease, at: at, published: uploaded) }
        count("delivered", .blob, done.count)
        if cancelled { throw CancellationError() }
        guard let (item, error) = failure else { return .worked(delivered: done.count, failed: 0, dead: 0) }
        let dead = try await fail([item], error: error, lease: lease, now: now)
        return .worked(delivered: done.count, failed: 1, dead: dead)
    }

    private func broadcast(_ items: [OutboxItem], lease: ProjectionLease, now: Timestamp) async throws -> Delivery {
        guard let broadcasts else { return .idle }
        var publications: [Publication] = []
        for item in items {
            guard let message = try? BroadcastMessage(text: item.body) else {
                let dead = try await fail([item], error: .rejected("outbox item \(item.seq) does not hold a valid message"), lease: lease, now: now)
                return .worked(delivered: 0, failed: 1, dead: dead)
            }
            publications.append(Publication(stream: item.target, message: message))
        }
        do throws(SinkError) {
            let batch = publications
            try await renewingLease(.broadcast) { () async throws(SinkError) in try await broadcasts.deliver(batch) }
        } catch {
            // Cut off by shutdown: not a failed try; the items stay pending and due.
            if Task.isCancelled { throw CancellationError() }
            let dead = try await fail(items, error: error, lease: lease, now: now)
            return .worked(delivered: 0, failed: items.count, dead: dead)
        }
        let ledger = self.ledger, at = clock.now()
        try await Self.uncancelled { try await ledger.markSent(items, lease: lease, at: at) }
        count("delivered", .broadcast, items.count)
        return .worked(delivered: items.count, failed: 0, dead: 0)
    }

    /// Records a failed try: the next one after a jittered backoff, or Retry-After if longer.
    private func fail(_ items: [OutboxItem], error: SinkError, lease: ProjectionLease, now: Timestamp) async throws -> Int {
        let name = lease.projection
        let attempt = (items.map(\.attempts).max() ?? 0) + 1
        var delay = random.withLock { r in options.retry.delay(afterAttempt: attempt, using: &r) }
        if case .unavailable(_, let after?) = error { delay = max(delay, min(after, options.maxRetryAfterMilliseconds)) }
        let ledger = self.ledger, maxAttempts = options.maxAttempts, retryAt = now.adding(milliseconds: delay)
        let dead = try await Self.uncancelled {
            try await ledger.markFailed(items, lease: lease, error: error, at: now, retryAt: retryAt, maxAttempts: maxAttempts)
        }
        var log = options.logger
        log[metadataKey: "projection"] = "\(name)"
        log[metadataKey: "seq"] = "\(items[0].seq)"
        if dead > 0 {
            log.error("dead-lettered \(dead) item(s) after attempt \(attempt): \(error)")
        } else {
            log.warning("delivery failed (attempt \(attempt), next try in \(delay) ms): \(error)")
        }
        count("failed", name, items.count)
        count("dead", name, dead)
        return dead
    }

    /// Catches up, then keeps delivering until every effect projection this runner owns has
    /// nothing pending (sent, coalesced or dead), waiting for backoffs and `Retry-After`s, for
    /// at most `limit`. Returns the effect projections that still owe something when it
    /// stops: items pending (with their next try) or dead. What `work --until-idle` and `demo`
    /// run before they exit.
    public func drain(for limit: Duration) async throws -> [ProjectionStatus] {
        let started = ContinuousClock.now
        let deadline = started.advanced(by: limit)
        while true {
            let report = try await catchUp()
            let statuses = try ledger.projectionStatus().filter { projections.contains($0.name) && $0.name.isEffect }
            let owed = statuses.filter { !report.notOwned.contains($0.name) && ($0.pending > 0 || $0.lag > 0) }
            if owed.isEmpty { return statuses.filter { $0.pending > 0 || $0.dead > 0 } }
            let now = clock.now()
            let next = owed.compactMap(\.nextAttemptAt).min() ?? now
            let wait = max(1, next.milliseconds(since: now))
            guard ContinuousClock.now.advanced(by: .milliseconds(wait)) < deadline else {
                return statuses.filter { $0.pending > 0 || $0.dead > 0 || $0.lag > 0 }
            }
            await ledger.appended.wait(after: ledger.appended.generation, timeout: .milliseconds(min(wait, 1000)))
        }
    }

    // MARK: - Running live

    /// Runs every projection live until the task is cancelled.
    public func runLive() async throws {
        await withTaskGroup(of: Void.self) { group in
            for name in projections {
                group.addTask { await self.loop(name) }
            }
        }
        await release()
    }

    private func loop(_ name: ProjectionName) async {
        var log = options.logger
        log[metadataKey: "projection"] = "\(name)"
        var lastError: String?
        // After a partial batch, a sink with a linger waits that long before the next delivery,
        // so messages arriving in a burst go out together instead of one request each.
        let linger = name == .broadcast ? broadcasts?.linger : nil
        var lastBatch = 0
        while !Task.isCancelled {
            let seen = ledger.appended.generation
            var worked = false
            var wakeAt: Timestamp?
            do {
                if name == .jobs {
                    worked = try await stepJobs() > 0
                } else {
                    if let linger, lastBatch > 0, lastBatch < deliveryLimit(name) {
                        // Let a burst arrive before taking it in, so it goes out as one batch.
                        try await Task.sleep(for: linger)
                    }
                    lastBatch = 0
                    worked = try await ingest(name) > 0
                    switch try await deliver(name) {
                    case .idle: break
                    case .waitUntil(let t): wakeAt = t
                    case .worked(let delivered, let failed, _):
                        worked = true
                        lastBatch = delivered + failed
                    }
                }
                lastError = nil
            } catch {
                if Task.isCancelled || error is CancellationError { break }
                let text = "\(error)"
                if text != lastError { log.error("projection step failed, retrying every poll: \(text)") }
                lastError = text
            }
            if worked { await Task.yield(); continue }
            var timeout = options.pollInterval
            if let wakeAt {
                let ms = max(1, wakeAt.milliseconds - clock.now().milliseconds)
                timeout = min(timeout, .milliseconds(ms))
            }
            await ledger.appended.wait(after: seen, timeout: timeout)
        }
    }
}

/// An async mutual exclusion: waiters queue in order and never block a thread.
final class TurnLock: Sendable {
    private let state = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.held { s.held = true; return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.held = false; return nil }
            return s.waiters.removeFirst()  // the turn passes straight to the next waiter
        }
        next?.resume()
    }
}

/// The runner as a swift-service-lifecycle `Service`: runs until the group shuts down.
extension ProjectionRunner: Service {
    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.runLive() }
    }
}
