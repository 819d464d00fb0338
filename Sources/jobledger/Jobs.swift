import ArgumentParser
import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every job with its current state: the jobs table, with the events it has not taken in yet folded in (nothing is written).")

    @OptionGroup var log: LogOptions
    @Option(help: "Only jobs in this state.") var state: JobStatus?
    @Flag(help: "Print a JSON array instead of a table.") var json = false

    func run() async throws {
        try await guarded {
            let filter = state
            // The jobs table is a projection that may lag the log (or be missing from an older
            // schema): the rows are read with the events after its checkpoint folded in memory,
            // so that looking writes nothing and works on a read-only copy. The rows go out as
            // they are read, and printed rows cannot be taken back: read with locks from the
            // start (as `export`), so that a writer starting meanwhile cannot fail the read.
            let ledger = try log.openReadOnlyWithLocks()
            // The table ahead of the log: its rows hold events the log no longer has.
            let s = try ledger.checkpoint(of: .jobs)
            if s.checkpoint > s.head {
                printErr("jobledger: warning: the jobs table has taken in events up to seq \(s.checkpoint), but the log ends at seq \(s.head): events were cut off the end, and the rows show states the log no longer holds (run jobledger verify)")
            }
            // Streamed, a row at a time, as it printed when it held them all (613 MB at 175,000
            // jobs with --json): the JSON array an element at a time; the table in two passes
            // over the same snapshot, the first measuring the columns.
            let out = BufferedOutput()
            var listed = 0
            do {
                if json {
                    out.write("[")
                    try ledger.forEachCurrentJobRow(state: filter) { _, row in
                        guard out.isOpen else { throw CancellationError() }
                        out.write((listed == 0 ? "" : ",") + row.json.canonicalText)
                        listed += 1
                    }
                    out.write("]\n")
                } else {
                    var layout = TableLayout(columns: Self.header.count)
                    layout.measure(Self.header)
                    var printed = 0
                    try ledger.forEachCurrentJobRow(state: filter, passes: 2) { pass, row in
                        guard out.isOpen else { throw CancellationError() }
                        if pass == 0 { layout.measure(Self.cells(row)); listed += 1; return }
                        // The header once the widths are known (none for no rows); the rows of
                        // the second pass as many as the first counted (the same snapshot).
                        if printed == 0 { out.write(layout.line(Self.header) + "\n") }
                        out.write(layout.line(Self.cells(row)) + "\n")
                        printed += 1
                    }
                }
            } catch where !out.isOpen {
                // The reader has gone (`| head`): the rest is not read for nothing.
            }
            if !json && listed == 0 { printErr("no jobs\(filter.map { " in state \($0)" } ?? "")"); return }
            try out.finish()
        }
    }

    static let header = ["JOB", "KIND", "STATE", "ATTEMPT", "PROGRESS", "UPDATED", "LAST ERROR"]

    static func cells(_ j: JobRow) -> [String] {
        [j.id.rawValue, j.kind, j.state.rawValue, "\(j.attempt)/\(j.maxAttempts)",
         "\(Int((j.progress * 100).rounded()))%", j.updatedAt.iso8601,
         j.errorCode.map { "\($0): \(j.errorMessage ?? "")" } ?? ""]
    }
}
