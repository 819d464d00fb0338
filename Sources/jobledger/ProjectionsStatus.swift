import ArgumentParser
import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

struct ProjectionsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show each projection's standing (the default).",
        discussion: "With --check, exit 1 when a projection needs someone: dead items, a delivery error, or events taken in past the log's end (each said on stderr, with what to do); a script or a monitor can run it as it runs verify.")

    @OptionGroup var log: LogOptions
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Exit 1 when a projection has dead items, a last error, or a checkpoint past the log's end (said on stderr).") var check = false

    func run() async throws {
        try await guarded {
            // Read again, with locks, when a writer disturbed a read without locks: nothing is
            // printed before the whole status is read.
            let all = try log.retryingRead { ledger in try ledger.projectionStatus(builtInProjections) }
            let effects = Set(builtInProjections.filter { $0 != .jobs })
            func isEffect(_ s: ProjectionStatus) -> Bool { effects.contains(s.name) || (s.name != .jobs && s.hasOutbox) }
            if json {
                print(JSONValue.array(all.map { s in
                    .object(["name": .string(s.name.rawValue), "checkpoint": .int(s.checkpoint), "head": .int(s.head), "lag": .int(s.lag),
                             "applied": .int(s.applied), "pending": .int(Int64(s.pending)), "dead": .int(Int64(s.dead)),
                             "sent": .int(Int64(s.sent)), "coalesced": .int(Int64(s.coalesced)),
                             "next_attempt_at": s.nextAttemptAt.map { .string($0.iso8601) } ?? .null,
                             "last_error": s.lastError.map(JSONValue.string) ?? .null, "owner": s.owner.map(JSONValue.string) ?? .null])
                }).canonicalText)
            } else {
                printTable(header: ["PROJECTION", "CHECKPOINT", "LAG", "PENDING", "DEAD", "SENT", "COALESCED", "NEXT TRY", "LAST ERROR"], rows: all.map { s in
                    [s.name.rawValue, "\(s.checkpoint)/\(s.head)", "\(s.lag)",
                     isEffect(s) ? "\(s.pending)" : "-", isEffect(s) ? "\(s.dead)" : "-",
                     isEffect(s) ? "\(s.sent)" : "-", isEffect(s) ? "\(s.coalesced)" : "-",
                     s.nextAttemptAt?.iso8601 ?? "", s.lastError ?? ""]
                })
                // A checkpoint past the head: the projection took in events the log no longer has.
                for s in all where s.checkpoint > s.head {
                    printErr("jobledger: warning: projection \(s.name.rawValue) has taken in events up to seq \(s.checkpoint), but the log ends at seq \(s.head): events were cut off the end (run jobledger verify)")
                }
            }
            guard check else { return }
            let problems = Self.problems(all, path: log.path)
            for line in problems { printErr("jobledger: check: \(line)") }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }

    /// What `--check` fails on, one line per projection, with what to do: dead items (nothing
    /// retries them), a delivery error on items still pending (the sink is failing now), and a
    /// checkpoint past the head (said above as a warning). Lag and pending items alone are
    /// work in progress, not a failure.
    static func problems(_ statuses: [ProjectionStatus], path: String) -> [String] {
        var out: [String] = []
        for s in statuses {
            let name = s.name.rawValue
            if s.dead > 0 {
                out.append("\(name) has \(s.dead) dead item\(s.dead == 1 ? "" : "s")"
                           + (s.lastError.map { " (last error: \(terminalSafe($0)))" } ?? "")
                           + "; nothing retries \(s.dead == 1 ? "it" : "them"): fix the cause, then `jobledger projections retry \(name) --db \(path)`")
            } else if let error = s.lastError {
                out.append("\(name) is failing to deliver: \(s.pending) pending, last error: \(terminalSafe(error))"
                           + (s.nextAttemptAt.map { "; next try \($0.iso8601)" } ?? ""))
            }
            if s.checkpoint > s.head {
                out.append("\(name) has taken in events up to seq \(s.checkpoint), past the log's end at seq \(s.head): run `jobledger verify --db \(path)`")
            }
        }
        return out
    }
}
