import ArgumentParser
import JobLedger
import JobLedgerSQLite

// Options whose values come from a fixed vocabulary are typed: `--help` lists the values, and
// any other value is a usage error (exit 64) that names the option and the values it takes.

/// `--durability normal|full` (every command).
extension LedgerConfiguration.Durability: ExpressibleByArgument {}

/// `jobs --state queued|running|completed|failed|canceled`.
extension JobStatus: ExpressibleByArgument {}

/// `append --type queued|started|progress|lowres|completed|failed|canceled`.
extension EventType: ExpressibleByArgument {}

/// `export --format`: the formats the log can be written in.
enum ExportFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// One event per line, as JSON (`Docs/EventLog.md` § Export).
    case ndjson
}
