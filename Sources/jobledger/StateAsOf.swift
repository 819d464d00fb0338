import ArgumentParser
import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

struct StateAsOf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "One job's state as it was at a time or seq, and what its browser had been sent by then.")

    @OptionGroup var log: LogOptions
    @Argument(help: "The job id.") var job: String
    @Option(help: "A seq, \(OptionRanges.untilSeq.bounds), or a time (ISO-8601 UTC), \(OptionTime.rangeText); default: now.") var asOf: String?
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Broadcast stream names are this prefix plus the job id.") var streamPrefix: String = "job:"
    @OptionGroup var store: BlobStoreOptions

    func validate() throws {
        if let asOf { _ = try OptionTime.point(asOf, option: "--as-of") }
        try checkStreamPrefix(streamPrefix)
    }

    func run() async throws {
        try await guarded {
            let id = try wrap { () throws(InvalidJobID) in try JobID(job) }
            let point = try asOf.map { try OptionTime.point($0, option: "--as-of") } ?? .end
            let blobs = try store.resolve()  // no network: the store only names URLs here
            // Read again from the start, with locks, when a writer disturbed a read without
            // locks: the lines are printed only once everything is read.
            let lines = try log.retryingRead { ledger in try report(ledger, id: id, point: point, blobs: blobs) }
            for line in lines { print(line) }
        }
    }

    /// What `state` prints, line by line; reads the log and prints nothing.
    func report(_ ledger: Ledger, id: JobID, point: ReplayPoint, blobs: BlobStoreChoice) throws -> [String] {
        let planned = plannedProjections(ledger: ledger, streamPrefix: streamPrefix, blobs: blobs)
        var fold = ReplayFold(effects: planned.filter { $0.name == .broadcast }, receipts: try ledger.receipts(of: planned), showsTargets: true,
                              receiptPlanners: planned)
        var messages: [Publication] = []
        let summary = try ledger.replay(into: &fold, until: point, job: id, effect: { e in
            if let m = try? BroadcastMessage(text: e.draft.body) { messages.append(Publication(stream: e.draft.target, message: m)) }
        })
        guard let row = fold.rows[id] else {
            guard try ledger.state(of: id) != nil else { throw fail("no such job \(id) in \(ledger.path)", code: 3) }
            throw fail("job \(id) did not exist yet as of \(point)", code: 3)
        }
        // The moment "then" is: the time given, or when the event at the seq was recorded;
        // a seq past the log's head is now (its messages sent since are not "not yet sent").
        let headSeq = try ledger.head()?.seq ?? 0
        let pastHead: Bool = if case .seq(let s) = point { s > headSeq } else { false }
        let then: Timestamp? = switch point {
        case .time(let t): t
        case .seq(let s): pastHead ? nil : try ledger.recordedAt(seq: s) ?? summary.lastTime
        case .end: nil
        }
        let delivered = Dictionary(uniqueKeysWithValues: try ledger.outboxItems(.broadcast, job: id, limit: Int.max).map { ($0.seq, $0) })
        func fate(_ seq: Int64) -> String {
            guard let item = delivered[seq] else { return "not sent (no broadcast projection has taken it in)" }
            if item.status == .sent, let at = item.sentAt {
                if let then, at > then { return "not yet sent then (sent \(at.iso8601))" }
                return "sent \(at.iso8601)\(item.attempts > 1 ? " after \(item.attempts) tries" : "")"
            }
            // Only sending is timed; a message never sent was not sent by then either, and
            // its state now says why.
            let now: String = switch item.status {
            case .coalesced: "coalesced (superseded by a later message)"
            case .dead: "dead letter after \(item.attempts) tries: \(item.lastError ?? "")"
            case .pending: "pending, \(item.attempts) tries so far\(item.lastError.map { ": \($0)" } ?? "")"
            case .sent: "sent"
            }
            return then == nil ? now : "not sent by then; now \(now)"
        }
        if json {
            return [JSONValue.object([
                "as_of": .string(point.description), "row": row.json,
                "messages": .array(messages.map { .object(["stream": .string($0.stream), "data": $0.message.json, "delivery": .string(fate($0.message.seq))]) }),
            ]).canonicalText]
        }
        var title = "job \(id) as of \(point)"
        if case .seq = point, let then { title += " (\(then.iso8601))" }
        if pastHead { title += " (past the log's head, seq \(headSeq): as of now)" }
        var lines = [title]
        for f in row.fields where !f.value.isNull && f.name != "id" {
            lines.append("  \(f.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(terminalSafe(f.value.stringValue ?? f.value.canonicalText))")
        }
        lines.append("messages for stream \(StreamNaming(prefix: streamPrefix).stream(for: id)) by then (\(messages.count)):")
        for m in messages {
            let msg = m.message
            lines.append("  seq \(msg.seq)  v\(msg.version)  \(msg.type.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(msg.state.rawValue) \(Int((msg.progress * 100).rounded()))%  — \(terminalSafe(fate(msg.seq)))")
        }
        return lines
    }
}
