import JobLedgerSQLite

/// A library error as the command line prints it. The library's messages name no flag or
/// command of this tool (a program embedding the library has neither); where one is the fix,
/// it is added here, where the error reaches the command line.
///
/// ```swift
/// commandLineMessage(.noSuchLog(path: "jobs.sqlite"))   // no JobLedger log at jobs.sqlite (check --db or JOBLEDGER_DB)
/// ```
func commandLineMessage(_ e: LedgerError) -> String {
    switch e {
    case .noSuchLog:
        return "\(e) (check --db or JOBLEDGER_DB)"
    case .missingProjectionTable:
        return "\(e) (jobledger projections rebuild)"
    case .storage(let m) where m.hasPrefix("cannot open ") && m.hasSuffix(" does not exist"):
        return "\(e) (check --db or JOBLEDGER_DB)"
    case .storage(let m) where m.hasPrefix("cannot open ") && (m.contains("(ELOOP: ") || m.contains("(ENOTDIR: ")):
        return "\(e) (check --db or JOBLEDGER_DB)"
    case .storage(let m) where m.contains(" is damaged (SQLite: "):
        return "\(e) (jobledger import)"
    case .storage(let m) where m.contains(" has lost events: "):
        return "\(e) (jobledger import, jobledger verify)"
    case .storage(let m) where m.contains(" holds events that break their job's lifecycle (") || m.contains(", which no append gives: "):
        return "\(e) (jobledger verify, jobledger import)"
    case .importFailed(let line, let reason) where reason.hasPrefix("the line is longer than the limit"):
        return LedgerError.importFailed(line: line, reason: reason + " (--max-line-bytes)").description
    case .importFailed(let line, let reason) where reason.hasPrefix("payload for job ") && reason.hasSuffix("; stage large bytes as an asset and reference it"):
        // The event is already in the export: what lets it in is the limit, not an asset.
        let limit = reason.dropLast("; stage large bytes as an asset and reference it".count)
        return LedgerError.importFailed(line: line, reason: limit + " (--max-payload-bytes raises the limit, up to \(OptionRanges.maxPayloadBytes.range.upperBound))").description
    default:
        return e.description
    }
}
