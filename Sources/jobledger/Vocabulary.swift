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

/// `--broadcast hub|anycable` (`work`, `demo`, `project`): where broadcasts go.
enum BroadcastTarget: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// The in-process hub (watch with `jobledger tail`).
    case hub
    /// AnyCable's HTTP broadcast API, configured from the `ANYCABLE_*` variables.
    case anycable
}

/// `--blob-store folder|vercel` (`work`, `demo`, `project`, `blobs`, `replay`, `state`): where
/// the blob projection publishes artefacts.
enum BlobStoreTarget: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// A local folder (`--blobs`, default `<db>.blobs`).
    case folder
    /// Vercel Blob, configured from `BLOB_READ_WRITE_TOKEN` (and `VERCEL_BLOB_API_URL`).
    case vercel
}

/// `bench --only`: one part of the benchmark.
enum BenchPart: String, CaseIterable, Sendable, ExpressibleByArgument {
    case live, group, replay, engine, projections, anycable, upstash, blobs
    /// An engine restarted on a long log, with and without its snapshot (run only when asked:
    /// its log takes minutes to write).
    case restart
}

/// `replay --projection`: which rebuilt projection to print.
enum ReplayedProjection: String, CaseIterable, Sendable, ExpressibleByArgument {
    case jobs, broadcast, blob
}

/// `--intake log|upstash` (`work`, `demo`): where job requests come from.
enum IntakeSource: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// The log itself (`jobledger submit`, `JobEngine.submit`).
    case log
    /// The Upstash stream (`--stream`, default design:jobs) through a consumer group, configured
    /// from the `UPSTASH_*` variables.
    case upstash
}

/// `--status-cache table|upstash` (`work`, `demo`, `project`): where each job's latest state is
/// published for a web app.
enum StatusCacheTarget: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// The `jobs` table in the log (always kept).
    case table
    /// Also the Upstash hash `<stream>:<id>`, configured from the `UPSTASH_*` variables.
    case upstash
}
