import GRDB

/// The objects in the file that hold the log's rules, by the schema version that made them: the
/// triggers that refuse `UPDATE` and `DELETE` on `events`, the index that keeps idempotency keys
/// unique, and (schema v4) the table `chain_rules`, which says from which seq events are hashed
/// under which rule, with its own triggers. Someone with write access can drop any of them;
/// nothing the log's writers do would notice, so `verify` looks for each and names what is gone.
enum IntegrityRules {
    /// Each rule: its kind in `sqlite_schema`, its name, what it holds, and the schema that made it.
    static let all: [(type: String, name: String, holds: String, since: Int)] = [
        ("trigger", "events_no_update", "refuses UPDATE on events", 1),
        ("trigger", "events_no_delete", "refuses DELETE on events", 1),
        ("index", "events_idempotency_key", "one event per idempotency key", 1),
        ("table", "chain_rules", "which seqs are hashed under which rule", 4),
        ("trigger", "chain_rules_no_update", "refuses UPDATE on chain_rules", 4),
        ("trigger", "chain_rules_no_delete", "refuses DELETE on chain_rules", 4),
    ]

    /// The rules a log of `schemaVersion` should hold and this file does not, each as
    /// `trigger events_no_update (refuses UPDATE on events)`.
    static func removed(_ db: Database, schemaVersion: Int) throws -> [String] {
        let present = Set(try Row.fetchAll(db, sql: "SELECT type, name FROM sqlite_schema").map { "\($0[0] as String) \($0[1] as String)" })
        return all.filter { $0.since <= schemaVersion && !present.contains("\($0.type) \($0.name)") }
            .map { "\($0.type) \($0.name) (\($0.holds))" }
    }
}

extension Ledger {
    /// The log's rules (triggers, the idempotency index, `chain_rules`) that its schema should
    /// hold and the file does not: dropped behind the log's back. Empty for an intact file.
    public func removedIntegrityRules() throws(LedgerError) -> [String] {
        let version = schemaVersion
        return try read { db in try IntegrityRules.removed(db, schemaVersion: version) }
    }
}
