import Foundation
import GRDB
import JobLedger
import JobLedgerSQLite

/// A projection that keeps rows of its own in the log's database, written in the same
/// transaction that moves its checkpoint: every event is applied exactly once, and a crash
/// leaves rows and checkpoint together. The `jobs` table is one (`JobsTableProjection`).
///
/// Register it with a `ProjectionRunner`; the runner reads the events after its checkpoint,
/// folds the jobs' states and calls `apply` in the transaction.
///
/// ```swift
/// import GRDB
///
/// /// How many jobs of each kind finished, kept in a table of its own.
/// struct FinishedByKind: StateProjection {
///     let name = ProjectionName("finished_by_kind")
///     func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {
///         try db.execute(sql: "CREATE TABLE IF NOT EXISTS finished_by_kind (kind TEXT PRIMARY KEY, n INTEGER NOT NULL)")
///         for e in events where e.type == .completed {
///             try db.execute(sql: "INSERT INTO finished_by_kind VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1",
///                            arguments: [states[e.job]!.kind])
///         }
///     }
///     func reset(_ db: Database) throws { try db.execute(sql: "DROP TABLE IF EXISTS finished_by_kind") }
/// }
///
/// let runner = ProjectionRunner(ledger: ledger, state: [JobsTableProjection(), FinishedByKind()], effects: [])
/// ```
public protocol StateProjection: Sendable {
    /// The name its checkpoint is kept and shown under.
    var name: ProjectionName { get }
    /// Applies a batch of events (in `seq` order) to the projection's rows. `states` holds the
    /// state of every job of the batch after its last event in it. Throwing rolls the batch
    /// back, checkpoint included.
    func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws
    /// Empties the projection's rows; the runner then rebuilds them from the log. Called by
    /// `Ledger.resetStateProjection(_:)`, with the checkpoint set back to 0 in its transaction.
    func reset(_ db: Database) throws
    /// Recreates the projection's tables when they are missing (dropped behind the log's back),
    /// in the transaction of its next batch, and says whether it did: the runner then takes the
    /// batch from the start of the log, so the rows are rebuilt. Default: false (nothing to
    /// recreate, as for a projection that creates its tables in `apply`).
    func restoreTables(_ db: Database) throws -> Bool
}

extension StateProjection {
    /// Nothing to recreate.
    public func restoreTables(_ db: Database) throws -> Bool { false }
}

/// What a projection's deliveries left behind, by target, for the projections that wait for it
/// (the broadcast looks up the URL the blob projection published an artefact at).
public typealias ReceiptLookup = (_ projection: ProjectionName, _ target: String) -> String?

/// A projection that makes effects on the outside world — a broadcast, an upload, a webhook —
/// through the outbox, with its guarantees: at least once, in `seq` order, retries with
/// backoff, `Retry-After` honoured, dead letters and re-drive, and ownership fenced between
/// processes. Register it with a `ProjectionRunner`.
///
/// Only `name`, `items(for:state:receipts:)` and `deliver(_:)` are required:
///
/// ```swift
/// struct Webhook: EffectProjection {
///     let name = ProjectionName("webhook")
///     let post: @Sendable (String) async throws(SinkError) -> Void
///     func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] {
///         state.status.isTerminal ? [OutboxDraft(target: "https://example.com/hook", body: "{\"job\":\"\(state.id)\"}")] : []
///     }
///     func deliver(_ items: [OutboxItem]) async -> Delivery {
///         for (i, item) in items.enumerated() {
///             do { try await post(item.body) } catch { return .failed([item], error, after: items[..<i]) }
///         }
///         return .delivered(items)
///     }
/// }
/// ```
public protocol EffectProjection: Sendable {
    /// The name its checkpoint, outbox and lease are kept and shown under.
    var name: ProjectionName { get }
    /// Projections whose effects for an event are delivered before this one takes the event
    /// in (the broadcast waits for the blob projection, so that its messages carry URLs).
    /// Only those registered with the same runner are waited for. Default: none.
    var dependencies: [ProjectionName] { get }
    /// What to deliver for one event, given the job's state after it. Pure: a replay plans the
    /// same items without delivering them (`replay --effects`).
    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft]
    /// Delivers due items, in `seq` order (never more than `preferredBatchSize` at once), and
    /// says which were delivered and which failed with what (an answer that names none of
    /// them is a failed try of all of them). When shutdown cancels the call, a failure does not
    /// count as a try.
    func deliver(_ items: [OutboxItem]) async -> Delivery
    /// Whether items are delivered as their events are taken in, not later from the outbox:
    /// for a destination inside this process (the broadcast hub), which cannot fail, holds
    /// nothing across a restart and so needs no retry. The runner stores such an item as sent
    /// in the transaction that takes its event in, and hands it to `deliver` once that has
    /// committed (what it answers is only logged); the outbox keeps it, for replay and for
    /// clients catching up. Default: false.
    var deliversAsTakenIn: Bool { get }
    /// Whether it makes no items for events that came in by an import (`ImportedRanges`): for
    /// an effect the log the events came from already made, with what an export does not
    /// carry (the blob projection: an export has no asset bytes). A replay still plans them:
    /// it shows what the events mean, as the log they came from made them (an incident is
    /// replayed from an imported copy). Default: false.
    var skipsImportedEvents: Bool { get }
    /// The most items one `deliver` call takes. Default: the runner's `deliveryBatch`.
    var preferredBatchSize: Int? { get }
    /// How long a live runner may wait, after a partial batch, for more items to fill the
    /// next one. Default: none.
    var linger: Duration? { get }
    /// Records what deliveries left behind (a published URL …), in the transaction that marks
    /// the items sent. Default: nothing.
    func recordDelivered(_ receipts: [(item: OutboxItem, receipt: String)], db: Database) throws
    /// What the delivery for `target` left behind, for the projections that wait for this one.
    /// Default: nothing.
    func receipt(for target: String, db: Database) throws -> String?
    /// Everything deliveries left behind, by target (what a replay looks receipts up in).
    /// Default: nothing.
    func receipts(db: Database) throws -> [String: String]
    /// What a delivery for `target` would leave behind, when that is known without delivering
    /// (the URL a blob store gives a pathname): what a replay shows for a target the log holds
    /// no receipt for. Default: nil.
    func plannedReceipt(for target: String) -> String?
    /// How `replay --effects` names this projection's effects (default: its name).
    var effectLabel: String { get }
    /// One line of `replay --effects` for a planned item, after its seq, label and target
    /// (default: the body).
    func summary(of draft: OutboxDraft) -> String
    /// A planned item as JSON, for `replay --effects --json`.
    func json(of draft: OutboxDraft, seq: Int64) -> JSONValue
}

/// The defaults: an effect projection that waits for nothing, takes the runner's batches, keeps
/// nothing of its deliveries and shows its items by their body.
extension EffectProjection {
    /// Waits for no other projection.
    public var dependencies: [ProjectionName] { [] }
    /// Delivered from the outbox, with retries.
    public var deliversAsTakenIn: Bool { false }
    /// Imported events get their items as any others.
    public var skipsImportedEvents: Bool { false }
    /// No limit of its own: the runner's `deliveryBatch`.
    public var preferredBatchSize: Int? { nil }
    /// Delivers at once, without waiting to fill a batch.
    public var linger: Duration? { nil }
    /// Keeps nothing of its deliveries.
    public func recordDelivered(_ receipts: [(item: OutboxItem, receipt: String)], db: Database) throws {}
    /// Nothing to look up.
    public func receipt(for target: String, db: Database) throws -> String? { nil }
    /// Nothing to look up.
    public func receipts(db: Database) throws -> [String: String] { [:] }
    /// No URL known without the network: the target itself is shown.
    public func plannedReceipt(for target: String) -> String? { nil }
    /// The projection's name.
    public var effectLabel: String { name.rawValue }
    /// The item's body.
    public func summary(of draft: OutboxDraft) -> String { draft.body }
    /// `{"seq": …, "effect": <label>, "target": …, "body": <the body, as JSON when it is JSON>}`.
    public func json(of draft: OutboxDraft, seq: Int64) -> JSONValue {
        .object(["seq": .int(seq), "effect": .string(effectLabel), "target": .string(draft.target),
                 "body": (try? JSONValue(parsing: draft.body)) ?? .string(draft.body)])
    }
}

/// What one `EffectProjection.deliver` call did: the items delivered (in order, each with what
/// it left behind, if anything), and the failure, with the items it applies to.
///
/// Items neither delivered nor failed (after the failed ones, in a batch cut short) stay
/// pending and are handed over again in order. A delivery that names no item at all delivered
/// nothing: the runner counts it as a failed try of every item it handed over (`unavailable`,
/// or the failure's error if it gave one), so that they back off, and become dead letters after
/// `maxAttempts`, instead of being handed over again at once. Use the shorthands where they fit:
///
/// ```swift
/// return .delivered(items)                                // all of them
/// return .failed([item], error, after: items[..<i])       // the first i, then item failed
/// return .failed(items, .unavailable("not ready"), after: [])  // none yet: try again later
/// ```
public struct Delivery: Sendable {
    /// The items delivered, in order, each with what its delivery left behind (a published
    /// URL …) for `EffectProjection.recordDelivered(_:db:)`, or nil.
    public var delivered: [(item: OutboxItem, receipt: String?)]
    /// Why the rest failed, with the items that failed (they count a try each; a `rejected`
    /// error makes them dead letters at once).
    public var failure: (error: SinkError, items: [OutboxItem])?

    /// What a delivery did, item by item.
    public init(delivered: [(item: OutboxItem, receipt: String?)], failure: (error: SinkError, items: [OutboxItem])? = nil) {
        self.delivered = delivered
        self.failure = failure
    }

    /// Every item delivered, leaving nothing behind.
    public static func delivered<C: Collection>(_ items: C) -> Delivery where C.Element == OutboxItem {
        Delivery(delivered: items.map { ($0, nil) })
    }

    /// `failed` items not delivered because of `error`, after `delivered` ones were.
    public static func failed<F: Collection, D: Collection>(_ failed: F, _ error: SinkError, after delivered: D) -> Delivery
    where F.Element == OutboxItem, D.Element == OutboxItem {
        Delivery(delivered: delivered.map { ($0, nil) }, failure: (error, Array(failed)))
    }
}
