import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Keeps registered projections up with the log: state projections (the `jobs` table, exactly
/// once, with their checkpoints) and effect projections (artefacts published, broadcasts,
/// an app's webhook: at least once, through the outbox, with retries, backoff and dead
/// letters). Live: woken by appends through the same `Ledger`, polling for other processes'
/// appends; after a restart it catches up from the stored checkpoints. Each projection runs on
/// its own, so a slow or dead sink holds back only its own projection (and those that wait for
/// it), and appends never wait for any of them.
///
/// ```swift
/// let runner = ProjectionRunner(ledger: ledger,
///                               blobs: LocalFolderBlobStore(path: "jobs.sqlite.blobs"),
///                               broadcasts: BroadcastHub(),
///                               extra: [MyWebhook()])
/// try await runner.runLive()   // or add it to a ServiceGroup: it is a Service
/// ```
///
/// Beside a `JobEngine` on the same `Ledger`, in one service group:
///
/// ```swift
/// // The runner first: it is stopped last, after the engine has drained.
/// let group = ServiceGroup(services: [runner, engine], gracefulShutdownSignals: [.sigterm],
///                          logger: logger)
/// try await group.run()
/// ```
///
/// In tests and scripts, `catchUp()` does what can be done now and returns; `drain(for:)` also
/// waits out backoffs until nothing is owed.
public final class ProjectionRunner: Sendable {
    /// How a runner works: who it is, batch sizes, retries, leases, coalescing, logs and
    /// metrics. Every field has a default; values a runner cannot work with (a batch size
    /// below 1, a negative duration) are refused by every run with `InvalidProjectionOptions`
    /// (see `validate()`).
    ///
    /// ```swift
    /// var options = ProjectionRunner.Options()
    /// options.maxAttempts = 20                            // tries before a dead letter
    /// options.streams = StreamNaming(prefix: "design:")   // broadcast streams "design:<id>"
    /// options.coalesceProgress = false                    // send every progress message
    /// let runner = ProjectionRunner(ledger: ledger, broadcasts: hub, options: options)
    /// ```
    public struct Options: Sendable {
        /// Recorded as the owner of the effect projections; unique per running process. The
        /// default, `<host>/<pid namespace>:<pid>`, lets a process on the same host take over
        /// at once from an owner whose process has died.
        public var owner: String
        /// Events taken in per transaction.
        public var batchSize = 256
        /// Under load, how long a live projection waits after a step that took in fewer than
        /// `batchSize` events before its next step, so that the next batch gathers what is
        /// appended meanwhile: fewer, larger transactions (each page of the `jobs` table and
        /// its indexes, the outbox and the checkpoint written once per batch, not once per
        /// handful of events), for at most this much more lag. An event that arrives while its
        /// projection is idle is taken in at once; only one that arrives right behind another
        /// waits. Zero steps again at once. Not used by `catchUp()` and `drain(for:)`.
        public var batchWindow: Duration = .milliseconds(10)
        /// In a live run (`runLive()`), the most events a state projection (the `jobs` table)
        /// applies in one transaction: more than `batchSize`, since a state projection's cost is
        /// in its transactions. Each one writes a page of each of the table's indexes wherever
        /// the batch's jobs land, one page per owner for `jobs_by_owner`, whether one job or
        /// many land there. With 100 users submitting at once, 100 events a transaction cost
        /// SQLite 25 µs a job, 1,000 events 17 µs. `catchUp()` and `drain(for:)` use `batchSize`.
        public var stateBatchSize = 1024
        /// Under load, how long a live state projection waits after a partial batch, as
        /// `batchWindow` for the effect projections, but longer: its rows are read by queries
        /// (the jobs list and its counts), while what a browser watches live is the broadcast.
        /// `jobledger serve`'s readiness allows the jobs table 10,000 events of lag
        /// (`--ready-max-lag`); this keeps it under a second's worth of appends.
        public var stateBatchWindow: Duration = .milliseconds(50)
        /// On a graceful shutdown (the runner as a `Service`), how long its last catch-up may
        /// take: what the engine recorded while it drained is taken in before the runner stops.
        /// Zero: stop at once.
        public var shutdownCatchUp: Duration = .seconds(10)
        /// Outbox items delivered per call to a projection's `deliver`.
        public var deliveryBatch = 100
        /// Tries before an item becomes a dead letter.
        public var maxAttempts = 8
        /// Backoff between tries (full jitter); a sink's Retry-After is honoured when longer.
        public var retry = RetryPolicy(baseMilliseconds: 500, capMilliseconds: 60_000)
        /// How often to look for appends made by other processes.
        public var pollInterval: Duration = .milliseconds(200)
        /// How long an effect projection stays owned without being renewed.
        public var leaseMilliseconds: Int64 = 30_000
        /// How often the lease is renewed while a delivery is in flight (default: a third of
        /// the lease), so that a slow delivery keeps its projection and no second process
        /// delivers the same items meanwhile.
        public var renewInterval: Duration?
        /// The longest a sink's Retry-After is honoured: a larger (or absurd) value would stop
        /// the projection, which delivers in order, for that long.
        public var maxRetryAfterMilliseconds: Int64 = 300_000
        /// Broadcast stream names (for the built-in broadcast projection).
        public var streams = StreamNaming()
        /// Coalesce: a pending supersedable item (a progress message) is dropped when a newer
        /// item of its job is taken in.
        public var coalesceProgress = true
        /// Seed for the retry jitter, for repeatable tests; nil draws one.
        public var randomSeed: UInt64?
        /// Where the runner logs: a warning per failed delivery, an error per dead letter, each
        /// with the projection as `projection` metadata.
        public var logger = Logger(label: "jobledger.projections")
        /// Where the counters `jobledger_projection_{applied,ingested,delivered,failed,dead}_total`
        /// go, with a `projection` dimension (default: the process's bootstrapped metrics system).
        public var metrics: (any MetricsFactory)?
        /// How the projections wait out a storage fault: their steps pause and are retried with
        /// backoff. With `giveUpAfter`, `runLive()` and `drain(for:)` throw
        /// `LedgerError.storageFault` once a fault has lasted that long. See Docs/Operations.md.
        public var storageFaults = StorageFaultPolicy()

        /// Defaults for everything, with this process as the owner unless given.
        public init(owner: String = ProjectionRunner.localOwner) {
            self.owner = owner
        }
    }

    /// What one `catchUp` did.
    public struct Report: Sendable, Hashable {
        /// Events applied to state projections.
        public var applied = 0
        /// Events taken into effect projections' outboxes.
        public var ingested = 0
        /// Outbox items delivered.
        public var delivered = 0
        /// Outbox items whose delivery failed (tried again later, or dead).
        public var failed = 0
        /// Outbox items that became dead letters.
        public var dead = 0
        /// Effect projections another process owns (its lease is running): not run here.
        public var notOwned: Set<ProjectionName> = []
        /// An empty report.
        public init() {}
    }

    enum Step {
        case idle
        case waitUntil(Timestamp)
        case worked(delivered: Int, failed: Int, dead: Int)
        /// Took in a partial batch (fewer events than `batchSize`) and has nothing else to
        /// do at once: the live loop waits `batchWindow` before the next step.
        case tookIn
    }

    /// The log the projections follow.
    public let ledger: Ledger
    /// Where the runner takes the time (backoff, due items, leases).
    public let clock: any JobClock
    /// The options it was created with.
    public let options: Options
    /// The state projections, in the order they are stepped.
    public let stateProjections: [any StateProjection]
    /// The effect projections, dependencies first.
    public let effectProjections: [any EffectProjection]
    let caches: [ProjectionName: StateCache]
    /// What the first projection to reach an event read and folded, for the others.
    let folded = FoldedEvents()
    let random: Mutex<SplitMix64>
    let leases = Mutex<[ProjectionName: ProjectionLease]>([:])
    /// The lease renewals running beside sink calls (`renewingLease`), by a number of their
    /// own: `release()` stops them before it gives the leases up, else one took its lease back.
    let renewals = Mutex<(next: Int, tasks: [Int: Task<Void, Never>])>((0, [:]))
    /// One step of a projection at a time in this runner: `catchUp` and the live loops may
    /// overlap (a worker catching up before it stops), and must not deliver the same items twice.
    let turns: [ProjectionName: TurnLock]
    /// The storage fault episode, shared by the projections' writes (`Options.storageFaults`).
    let storage: StoragePause
    /// Deliveries a storage fault kept from being recorded as sent: recorded before anything
    /// else is delivered, so that nothing is delivered twice.
    let unrecorded = Mutex<[ProjectionName: UnrecordedDelivery]>([:])
    /// Dead letters are logged at most once a minute per projection (`DeadLetterLogThrottle`).
    let deadLetterLog = Mutex(DeadLetterLogThrottle())
    /// What is wrong with the projections given, if anything: thrown by every run, before the
    /// log is touched.
    let registrationError: ProjectionRegistrationError?

    /// A runner for the given projections, registered by name (names must be unique, and a
    /// built-in's name is its own; an effect projection's dependencies are waited for when
    /// registered here too, and must come before it). Otherwise the runner runs nothing:
    /// `catchUp()`, `drain(for:)` and `runLive()` throw `ProjectionRegistrationError`.
    ///
    /// ```swift
    /// let runner = ProjectionRunner(ledger: ledger, state: [JobsTableProjection()],
    ///                               effects: [BlobProjection(store: store, ledger: ledger),
    ///                                         BroadcastProjection(sink: hub), webhook])
    /// ```
    public init(ledger: Ledger, clock: any JobClock = SystemClock(), state: [any StateProjection], effects: [any EffectProjection],
                options: Options = Options()) {
        let names = state.map(\.name) + effects.map(\.name)
        self.registrationError = ProjectionRegistrationError.check(state: state, effects: effects)
        self.ledger = ledger
        self.clock = clock
        self.options = options
        self.stateProjections = state
        self.effectProjections = effects
        self.caches = Dictionary(names.map { ($0, StateCache()) }, uniquingKeysWith: { first, _ in first })
        // Shared by the runners of this process on the same file under the same owner (the
        // default owner is the process): they hold one lease, so they take the same items in
        // turn, not at once, or both delivered them. Runners of other owners go by the lease.
        self.turns = Dictionary(names.map {
            ($0, TurnLock.shared(file: ledger.path, owner: options.owner, projection: $0.rawValue))
        }, uniquingKeysWith: { first, _ in first })
        self.random = Mutex(SplitMix64(seed: options.randomSeed ?? UInt64.random(in: 0...UInt64.max)))
        self.storage = StoragePause(policy: options.storageFaults, clock: { clock.now() }, paused: "projection steps",
                                    observe: LedgerMetrics(component: "projections", factory: options.metrics).storageObserver(logger: options.logger))
    }

    /// The embedded defaults: the `jobs` table; with a blob store, artefacts published to it;
    /// with a sink, a broadcast of every event (after the uploads); then `extra` effect
    /// projections of the app's own.
    public convenience init(ledger: Ledger, clock: any JobClock = SystemClock(), blobs: (any BlobStore)? = nil,
                            broadcasts: (any BroadcastSink)? = nil, extra: [any EffectProjection] = [], options: Options = Options()) {
        var effects: [any EffectProjection] = []
        if let blobs { effects.append(BlobProjection(store: blobs, ledger: ledger)) }
        if let broadcasts { effects.append(BroadcastProjection(sink: broadcasts, streams: options.streams)) }
        self.init(ledger: ledger, clock: clock, state: [JobsTableProjection()], effects: effects + extra, options: options)
    }

    /// The names of the projections this runner keeps, state ones first.
    public var projections: [ProjectionName] { stateProjections.map(\.name) + effectProjections.map(\.name) }
    /// The effect projections' names (those with an outbox, which a re-drive applies to).
    public var effects: [ProjectionName] { effectProjections.map(\.name) }

    /// Counts through the metrics shared with the engine (`LedgerMetrics`).
    func count(_ what: String, _ name: ProjectionName, _ n: Int) {
        LedgerMetrics(component: "projections", factory: options.metrics).countProjection(what, projection: name.rawValue, n)
    }

    // MARK: - Steps

    /// Does everything that can be done now, projection by projection, until nothing is left
    /// that is due: the log applied and taken in up to its head, every due item delivered or
    /// failed. Tests drive the runner with this and an injected clock. Items backing off are
    /// left for later (see `drain(for:)`); effect projections another process owns are skipped
    /// and named in `Report.notOwned`. Throws `ProjectionRegistrationError`, doing nothing,
    /// when the projections given cannot be run together, and `InvalidProjectionOptions` for
    /// options it cannot work with (`Options.validate()`).
    ///
    /// ```swift
    /// let report = try await runner.catchUp()
    /// print(report.applied, report.delivered, report.dead)
    /// ```
    @discardableResult
    public func catchUp() async throws -> Report {
        try checkRunnable()
        var report = Report()
        while true {
            var worked = false
            var applied = 0
            for p in stateProjections { applied += try await step(p) }
            report.applied += applied
            for p in effectProjections {
                guard try await own(p.name) != nil else { report.notOwned.insert(p.name); continue }
                let (n, handedOver) = try await ingest(p)
                report.ingested += n
                report.delivered += handedOver
                if case .worked(let d, let f, let dead) = try await deliver(p) {
                    report.delivered += d; report.failed += f; report.dead += dead
                    worked = true
                }
                if n > 0 { worked = true }
            }
            if applied == 0 && !worked { return report }
        }
    }
}

/// The runner as a swift-service-lifecycle `Service`: runs until the group shuts down.
extension ProjectionRunner: Service {
    /// `runLive()` until the service group shuts down gracefully (or the task is cancelled);
    /// then, on a graceful shutdown, one last `catchUp()` (within `options.shutdownCatchUp`),
    /// and the leases are given up.
    ///
    /// A `ServiceGroup` stops its services in the reverse of their order: list the runner
    /// *before* the engine, so that the engine has drained its running attempts when the runner
    /// stops, and the last catch-up takes in what they recorded (the jobs table shows them
    /// finished, their images are uploaded, their last messages sent).
    ///
    /// Throws `ProjectionRegistrationError` or `InvalidProjectionOptions` at once, as
    /// `runLive()` does, for projections or options it cannot run with.
    public func run() async throws {
        try checkRunnable()
        try await cancelWhenGracefulShutdown { try await self.runLive() }
        guard Task.isShuttingDownGracefully, !Task.isCancelled, options.shutdownCatchUp > .zero else { return }
        let limit = options.shutdownCatchUp
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await self.catchUp() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
        await release()
    }
}
