import GRDB

/// The seqs of a log that came in by `jobledger import` (`Ledger.importNDJSON`), one range per
/// import, as the log records them (table `imports`, schema v9). An export carries events, not
/// the bytes of their assets: the artefacts of imported events were published by the log they
/// came from, and cannot be uploaded from this one (`EffectProjection.skipsImportedEvents`).
public struct ImportedRanges: Sendable, Equatable {
    /// The imported seqs as ranges, in order, none overlapping (overlapping or adjacent ones
    /// given are merged).
    public let ranges: [ClosedRange<Int64>]

    /// No import.
    public static let none = ImportedRanges(ranges: [])

    /// The ranges given, sorted and merged: `contains` searches them as disjoint (rows put in
    /// by hand may overlap; `[1...10, 2...3]` said 5 was not imported).
    public init(ranges: [ClosedRange<Int64>]) {
        var merged: [ClosedRange<Int64>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, r.lowerBound <= last.upperBound || r.lowerBound - 1 == last.upperBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        self.ranges = merged
    }

    /// True when the event at `seq` came in by an import.
    public func contains(_ seq: Int64) -> Bool {
        // Binary search: the last range starting at or before `seq`.
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].lowerBound <= seq { low = mid + 1 } else { high = mid }
        }
        return low > 0 && ranges[low - 1].contains(seq)
    }

    /// The imports that overlap `first…last`, on a log that records them
    /// (`Ledger.recordsImports`).
    package static func fetch(_ db: Database, from first: Int64, through last: Int64) throws -> ImportedRanges {
        guard first <= last else { return .none }
        let rows = try Row.fetchAll(db.cachedStatement(sql: "SELECT first_seq, last_seq FROM imports WHERE first_seq <= ? AND last_seq >= ? ORDER BY first_seq"),
                                    arguments: [last, first])
        return ImportedRanges(ranges: rows.map { ($0[0] as Int64)...($0[1] as Int64) })
    }

    /// Records that `first…last` came in by an import, at `now` (ms), on a log that keeps the
    /// record (`Ledger.recordsImports`).
    static func record(_ db: Database, first: Int64, last: Int64, now: Int64) throws {
        try db.execute(sql: "INSERT INTO imports (first_seq, last_seq, imported_at) VALUES (?, ?, ?)", arguments: [first, last, now])
    }
}

extension Ledger {
    /// The seqs that came in by an import (none on a log before schema v9).
    ///
    /// ```swift
    /// let imported = try ledger.importedRanges()
    /// print(imported.contains(42) ? "seq 42 was imported" : "seq 42 was appended here")
    /// ```
    public func importedRanges() throws(LedgerError) -> ImportedRanges {
        guard recordsImports else { return .none }
        return try readSnapshot { db in try ImportedRanges.fetch(db, from: 1, through: .max) }
    }
}
