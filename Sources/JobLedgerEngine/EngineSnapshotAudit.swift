import JobLedger
import JobLedgerSQLite

/// Compares the log's engine snapshot (`EngineSnapshot`) with the log it was taken of: the jobs
/// in flight as of its `seq` (queued or running), folded from the events up to it, against the
/// jobs it holds. A starting engine trusts the snapshot and reads only the events after it, so a
/// queued job the snapshot leaves out (or holds at another version) is never claimed, while
/// `verify` passes: the snapshot is derived, outside the hash chain, and a consistent edit of its
/// two tables went unseen by every check. What `jobledger replay --check` runs.
///
/// ```swift
/// for difference in try EngineSnapshotAudit.differences(ledger) { print(difference) }
/// ```
public enum EngineSnapshotAudit {
    /// What the snapshot gets wrong, a sentence each (jobs named up to five at a time; `remedy`
    /// says what to do); empty when
    /// it agrees with the log, and when there is none a starting engine would use (none, another
    /// log's, or one that does not decode: the engine then folds the whole log). `progress` gets
    /// the seq folded up to.
    public static func differences(_ ledger: Ledger, progress: ((Int64) -> Void)? = nil) throws(LedgerError) -> [String] {
        guard let snapshot = try read(ledger) else { return [] }
        // Every job's state as of the snapshot's seq, folded as the engine folds.
        var fold = LedgerFold()
        var next: Int64 = 1
        folding: while next <= snapshot.seq {
            let page = try ledger.page(from: next, limit: 4096)
            if page.isEmpty { break }
            for e in page {
                if e.seq > snapshot.seq { break folding }
                do { try fold.apply(e) } catch {
                    return ["the log does not fold up to the engine snapshot's seq \(snapshot.seq) (seq \(e.seq): \(error)): run jobledger verify"]
                }
            }
            next = page.last!.seq + 1
            progress?(min(next - 1, snapshot.seq))
        }
        let inFlight = fold.active
        var found: [String] = []
        let where_ = "the engine snapshot at seq \(snapshot.seq)"
        let missing = inFlight.keys.filter { snapshot.queued[$0] == nil && !snapshot.unresolved.contains($0) }
        if !missing.isEmpty {
            found.append("\(where_) leaves out \(count(missing.count, "job")) queued or running in the log (\(listed(missing))): an engine starting from it would never run them")
        }
        let wrong = snapshot.queued.compactMap { id, version -> String? in
            guard let s = inFlight[id], s.status != .queued || s.version != version else { return nil }
            return "\(id) (it holds version \(version) queued, the log has version \(s.version) \(s.status.rawValue))"
        }
        if !wrong.isEmpty {
            found.append("\(where_) holds \(count(wrong.count, "job")) queued as the log does not (\(listed(wrong))): an engine starting from it would not claim them")
        }
        // (Only the queued ones: a job the head names is one whose state an engine reads from the
        // log, and may be one the engine that wrote it had just queued itself, after its seq.)
        let extra = snapshot.queued.keys.filter { inFlight[$0] == nil }
        if !extra.isEmpty {
            found.append("\(where_) holds \(count(extra.count, "job")) queued that the log has not in flight (\(listed(extra))): finished, or not in the log")
        }
        return found
    }

    /// What to do about a snapshot that does not match its log.
    public static let remedy = "delete the engine snapshot (sqlite3 <log> \"DELETE FROM engine_snapshot_parts; DELETE FROM engine_snapshots\"), "
        + "which is always safe: the next engine folds the whole log and writes a new one"

    /// The snapshot as a starting engine reads it (`EngineSnapshot.read`): the queued jobs of
    /// its parts with their versions, and the jobs of its head whose state is read from the log;
    /// nil when there is none it would start from.
    private static func read(_ ledger: Ledger) throws(LedgerError) -> (seq: Int64, queued: [JobID: Int], unresolved: Set<JobID>)? {
        var queued: [JobID: Int] = [:]
        var unresolved: Set<JobID> = []
        guard case .success(let seq)? = try EngineSnapshot.read(from: ledger, head: { unresolved = Set($0.unresolved) },
                                                                 part: { jobs, _ in for j in jobs { queued[j.id] = j.version } })
        else { return nil }
        return (seq, queued, unresolved)
    }

    private static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// Up to five, sorted, then how many more.
    private static func listed<C: Collection>(_ items: C) -> String where C.Element: CustomStringConvertible {
        let shown = items.map(\.description).sorted()
        return shown.prefix(5).joined(separator: ", ") + (shown.count > 5 ? " and \(shown.count - 5) more" : "")
    }
}
