import JobLedger
import JobLedgerSQLite

/// An effect a projection makes on the outside world for one event, as a replay plans it.
public struct PlannedEffect: Sendable {
    /// The projection that would make it.
    public let projection: any EffectProjection
    /// The event it is made for.
    public let seq: Int64
    /// The event's job.
    public let job: JobID
    /// What would go where.
    public let draft: OutboxDraft

    /// `seq N <TAB> label <TAB> target <TAB> summary`: one line of `replay --effects`.
    public var line: String { "seq \(seq)\t\(projection.effectLabel)\t\(draft.target)\t\(projection.summary(of: draft))" }
    /// The effect as JSON: one element of `replay --effects --json`.
    public var json: JSONValue { projection.json(of: draft, seq: seq) }
}

/// The projections' pure fold: from events in log order to every job's row (the `jobs` table)
/// and the effects every registered effect projection plans, in order. The replay tool runs it
/// over a log; the projection runner makes the same decisions one event at a time (through the
/// same `items(for:state:receipts:)`), so a rebuilt projection equals the stored one.
///
/// Feed it with `Ledger.replay(into:until:job:progress:effect:)`, or event by event with
/// `apply(_:)`. Memory follows the jobs (one row each), not the length of the log.
///
/// ```swift
/// // What would the broadcast projection have sent for job J, up to 12:03?
/// var fold = ReplayFold(effects: [BroadcastProjection(sink: BroadcastHub())],
///                       receipts: try ledger.receipts(of: [BlobProjection(store: store, ledger: ledger)]))
/// _ = try ledger.replay(into: &fold, until: ReplayPoint("2026-11-18T12:03:00Z")!, job: j, effect: { effect in
///     print(effect.line)                     // seq 31  broadcast  job:J  {"attempt":1, …}
/// })
/// print(fold.rows[j]?.state as Any)          // the job's row as of then
/// ```
public struct ReplayFold: Sendable {
    /// The effect projections whose items are planned, in order (dependencies first).
    public var effects: [any EffectProjection]
    /// What deliveries left behind, by projection and target (the published URLs).
    public var receipts: [ProjectionName: [String: String]]
    /// What a target without a receipt is shown as: nil (as the live projections store it,
    /// which `replay --check` needs), or the target itself (what a dry run would have
    /// published it at).
    public var showsTargets: Bool
    /// With `showsTargets`, the projections asked what a target without a receipt would get
    /// (`EffectProjection.plannedReceipt(for:)`: the URL a blob store gives a pathname) before
    /// the target itself is shown.
    public var receiptPlanners: [any EffectProjection]
    /// Every job's state so far (the same fold the log's `verify` runs).
    public private(set) var fold = LedgerFold()
    /// Every job's row so far, as the `jobs` table would hold it.
    public private(set) var rows: [JobID: JobRow] = [:]

    /// An empty fold planning the items of `effects` (none: the `jobs` rows only), looking
    /// published URLs up in `receipts` (`Ledger.receipts(of:)`).
    public init(effects: [any EffectProjection] = [], receipts: [ProjectionName: [String: String]] = [:], showsTargets: Bool = false,
                receiptPlanners: [any EffectProjection] = []) {
        self.effects = effects
        self.receipts = receipts
        self.showsTargets = showsTargets
        self.receiptPlanners = receiptPlanners
    }

    /// The last `seq` folded (0 before the first).
    public var lastSeq: Int64 { fold.lastSeq }

    /// What a delivery of `projection` left behind for `target`; when `showsTargets` and there
    /// is none, what it would leave (if a planner knows) or the target itself.
    public func receipt(_ projection: ProjectionName, _ target: String) -> String? {
        Self.receipt(projection, target, receipts: receipts, showsTargets: showsTargets, planners: receiptPlanners)
    }

    private static func receipt(_ projection: ProjectionName, _ target: String, receipts: [ProjectionName: [String: String]],
                                showsTargets: Bool, planners: [any EffectProjection]) -> String? {
        if let r = receipts[projection]?[target] { return r }
        guard showsTargets else { return nil }
        return planners.first { $0.name == projection }?.plannedReceipt(for: target) ?? target
    }

    /// Folds one event; returns the job's new state, its row and the effects, in the order
    /// they are made (an upload before the message that links to it).
    @discardableResult
    public mutating func apply(seq: Int64, job: JobID, version: Int, payload: EventPayload, at time: Timestamp) throws(LifecycleError)
        -> (state: JobState, row: JobRow, effects: [PlannedEffect]) {
        let state = try fold.apply(job: job, payload: payload, at: time, seq: seq)
        let event = ProjectedEvent(seq: seq, job: job, version: version, payload: payload, recordedAt: time)
        // Captures what a lookup reads, not `self`: a copy of the fold held by the closure made
        // `rows[job] = row` below copy every row on every event (copy on write), so a replay
        // took time in the square of the jobs (`replay --check` on 20,000 queued jobs: 16 s,
        // on 200,000 it had not ended after 16 minutes).
        let (receipts, showsTargets, planners) = (self.receipts, self.showsTargets, self.receiptPlanners)
        let lookup: ReceiptLookup = { p, t in Self.receipt(p, t, receipts: receipts, showsTargets: showsTargets, planners: planners) }
        var planned: [PlannedEffect] = []
        for p in effects {
            for draft in p.items(for: event, state: state, receipts: lookup) {
                planned.append(PlannedEffect(projection: p, seq: seq, job: job, draft: draft))
            }
        }
        let paths = state.artefactPathnames
        let row = JobRow(state: state, previewURL: paths.preview.flatMap { receipt(.blob, $0.description) },
                         resultURL: paths.result.flatMap { receipt(.blob, $0.description) })
        rows[job] = row
        return (state, row, planned)
    }

    /// Folds one stored event.
    @discardableResult
    public mutating func apply(_ e: StoredEvent) throws(LifecycleError) -> (state: JobState, row: JobRow, effects: [PlannedEffect]) {
        try apply(seq: e.seq, job: e.job, version: e.version, payload: e.payload, at: e.recordedAt)
    }
}

extension Ledger {
    /// Replays the log (or one job's events) into `fold` up to `point`, in one snapshot and
    /// constant memory beyond the fold, calling `effect` with every planned effect in order
    /// and `progress` every 4,096 events. Works on a read-only ledger and sends nothing: the
    /// replay tool's `replay`, `state --as-of` and `diff` are this.
    ///
    /// ```swift
    /// var fold = ReplayFold()
    /// let summary = try ledger.replay(into: &fold, until: .seq(40))
    /// print("as of seq \(summary.lastSeq): \(fold.rows.count) jobs")
    /// ```
    ///
    /// `stop` is asked before each event; once it answers true the replay ends there, throwing
    /// `LedgerError.storage` (what a command stopped by a signal does, rather than fold the rest).
    public func replay(into fold: inout ReplayFold, until point: ReplayPoint = .end, job: JobID? = nil,
                       progress: (Int) -> Void = { _ in }, stop: () -> Bool = { false },
                       effect: (PlannedEffect) -> Void = { _ in }) throws(LedgerError) -> ReplaySummary {
        var f = fold
        defer { fold = f }
        return try replayEvents(until: point, job: job, progress: progress) { e in
            if stop() { throw ReplayStopped() }
            for x in try f.apply(e).effects { effect(x) }
        }
    }

    /// What the registered effect projections' deliveries left behind, by projection (the
    /// receipts a replay shows): pass it to `ReplayFold(effects:receipts:showsTargets:)` so
    /// that replayed messages carry the URLs really published.
    public func receipts(of projections: [any EffectProjection]) throws(LedgerError) -> [ProjectionName: [String: String]] {
        guard hasProjections else { return [:] }
        return try readSnapshot { db in
            var out: [ProjectionName: [String: String]] = [:]
            for p in projections { out[p.name] = try p.receipts(db: db) }
            return out
        }
    }
}

/// Why a replay asked to stop ended early.
struct ReplayStopped: Error, CustomStringConvertible {
    var description: String { "the replay was stopped" }
}
