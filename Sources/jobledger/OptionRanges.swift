import ArgumentParser
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite

/// A number an option can take: compared against its range, and shown in a refusal.
protocol OptionNumber: Comparable, Sendable {
    var optionText: String { get }
}

extension Int: OptionNumber { var optionText: String { String(self) } }
extension Int64: OptionNumber { var optionText: String { String(self) } }
extension Double: OptionNumber {
    var optionText: String {
        if isNaN { return "nan" }
        if isInfinite { return self < 0 ? "-inf" : "inf" }
        if self == rounded(), abs(self) < 1e15 { return String(Int64(self)) }
        return String(self)
    }
}

/// The values one numeric option accepts. Each command checks its options in `validate()`, so
/// a value out of range — negative, `inf`, `nan`, absurdly large — is a usage error (exit 64)
/// that names the option and its range, before the log is opened and before any conversion
/// (`Int64(seconds * 1000)`, a `Duration`) could trap.
struct OptionRange<Value: OptionNumber>: Sendable {
    let option: String
    let range: ClosedRange<Value>
    let unit: String

    init(_ option: String, _ range: ClosedRange<Value>, _ unit: String = "") {
        self.option = option
        self.range = range
        self.unit = unit
    }

    /// `1…1024`, `0…3600`: for help texts, which name the unit themselves.
    var bounds: String { "\(range.lowerBound.optionText)…\(range.upperBound.optionText)" }
    /// `1…1024`, `0…3600 seconds`: for messages.
    var text: String { bounds + (unit.isEmpty ? "" : " \(unit)") }

    /// Throws a `ValidationError` (exit 64) unless `value` is in the range (NaN never is).
    func check(_ value: Value) throws {
        guard range.contains(value) else { throw ValidationError("\(option) must be \(text) (got \(value.optionText))") }
    }

    func check(_ value: Value?) throws {
        if let value { try check(value) }
    }
}

/// Every numeric option's range, in one place (the README's option table lists the same).
enum OptionRanges {
    // Every command.
    static let busyTimeout = OptionRange("--busy-timeout", 0.0...3600, "seconds")
    static let maxPayloadBytes = OptionRange("--max-payload-bytes", 1...16 * 1024 * 1024, "bytes")
    // Workers (`work`, `demo`).
    static let workers = OptionRange("--workers", 1...1024)
    static let lease = OptionRange("--lease", 0.1...86_400, "seconds")
    static let drain = OptionRange("--drain", 0.0...3600, "seconds")
    static let storageWait = OptionRange("--storage-wait", 0.0...86_400, "seconds")
    static let failRate = OptionRange("--fail-rate", 0.0...1)
    static let stepMs = OptionRange("--step-ms", 0...600_000, "ms")
    static let progressIntervalMs = OptionRange("--progress-interval-ms", 0...3_600_000, "ms")
    // A demo job stages two images: about 25 KB of disk a job (10,000 jobs: 253 MB and 25 s
    // here; a million would take about 25 GB and 40 minutes). The engine at scale is measured
    // by `bench --only engine`, with no images.
    static let jobs = OptionRange("--jobs", 1...100_000)
    // Jobs (`submit`, `retry`, `append`, projections).
    static let priority = OptionRange("--priority", -1_000_000...1_000_000)
    static let maxAttempts = OptionRange("--max-attempts", 1...1000)
    static let attempts = OptionRange("--attempts", 1...1000)
    static let attempt = OptionRange("--attempt", 1...1000)
    static let expectVersion = OptionRange("--expect-version", 0...Int(Int32.max))
    // Reading (`tail`, `replay`, `state`). A seq is at most 2^53 − 1, the largest whole number
    // a JSON reader is sure to carry exactly (exports and `--json` output print seqs as numbers).
    static let seqs = Int64(0)...9_007_199_254_740_991
    static let after = OptionRange("--after", seqs)
    static let pollMs = OptionRange("--poll-ms", 10...60_000, "ms")
    static let untilSeq = OptionRange("--until-seq", seqs)
    // `bench`.
    static let events = OptionRange("--events", 6...100_000_000)
    static let replayEvents = OptionRange("--replay-events", 6...100_000_000)
    static let tasks = OptionRange("--tasks", 1...10_000)
    static let anycableMessages = OptionRange("--anycable-messages", 10...10_000_000)
    static let upstashEntries = OptionRange("--upstash-entries", 10...10_000_000)
    static let projectionEvents = OptionRange("--projection-events", 6...100_000_000)
    static let engineJobs = OptionRange("--engine-jobs", 1...10_000_000)
    static let engineWorkers = OptionRange("--engine-workers", 1...1024)
    static let restartEvents = OptionRange("--restart-events", 6...100_000_000)
    static let blobUploads = OptionRange("--blob-uploads", 10...100_000)
    static let blobParallelism = OptionRange("--blob-parallelism", 1...64)
}

extension OptionRanges {
    /// `--progress-interval-ms` against `--lease` (`work`, `demo`, `serve`): a written progress
    /// event is what renews an attempt's lease, and merged reports are written up to one interval
    /// apart, so an interval as long as the lease lets the other workers on the log take over
    /// attempts that are still running (two healthy workers with a 2 s lease and a 5 s interval
    /// swept each other's attempts until 4 jobs of 16 had failed for good, `lease_expired`).
    static func checkProgressInterval(_ milliseconds: Int, lease seconds: Double) throws {
        guard Double(milliseconds) < seconds * 1000 else {
            throw ValidationError("--progress-interval-ms (\(milliseconds) ms) must be below --lease (\(seconds.optionText) s): "
                                  + "a progress event is what renews an attempt's lease, so other workers would take over attempts that are still running")
        }
    }

    /// `--max-payload-bytes` for a command that runs workers: at least what the engine's own
    /// events need (`JobEngine.minimumPayloadBytes`). Below it, `work --max-payload-bytes 50`
    /// tried its refused claims again twenty times a second, for ever.
    static func checkEnginePayloadLimit(_ bytes: Int) throws {
        guard bytes >= JobEngine.minimumPayloadBytes else {
            throw ValidationError("--max-payload-bytes (\(bytes)) must be at least \(JobEngine.minimumPayloadBytes) for a command that runs workers: "
                                  + "the engine's own events (a claim, a failure with its message) need up to that")
        }
    }
}

/// Times typed as options (`--run-at`, `--until`, `--as-of`): ISO-8601 UTC text, or (where the
/// option says so) whole milliseconds since 1970, between 1970-01-01 and 9999-12-31.
enum OptionTime {
    static let range = Timestamp(milliseconds: Timestamp.recordable.lowerBound)...Timestamp(milliseconds: Timestamp.recordable.upperBound)
    static let rangeText = Timestamp.recordableText

    /// `text` as a time in `range`, or a `ValidationError` (exit 64) naming `option`.
    static func parse(_ text: String, option: String, milliseconds: Bool = true) throws -> Timestamp {
        let form = milliseconds ? "an ISO-8601 UTC time such as 2030-01-01T00:00:00Z, or whole milliseconds since 1970"
                                : "an ISO-8601 UTC time such as 2030-01-01T00:00:00Z"
        let t: Timestamp? = if isDigits(text) { milliseconds ? Int64(text).map(Timestamp.init(milliseconds:)) : nil }
                            else { Timestamp(iso8601: text) }
        guard let t, range.contains(t) else {
            throw ValidationError("\(option) must be \(form), within \(rangeText) (got '\(shown(text))')")
        }
        return t
    }

    /// What a replay point may be, with both ranges: the one wording every refusal of a point
    /// uses (`--as-of`, and `diff`'s `@POINT`), whichever of its forms was out of range.
    static let pointForm = "a seq, 0…\(OptionRanges.seqs.upperBound), or an ISO-8601 UTC time such as 2026-11-29T12:01:00Z, within \(rangeText)"

    /// A replay point: a seq (digits) or an ISO-8601 UTC time; nil when it is neither, or out of range.
    static func point(_ text: String) -> ReplayPoint? {
        if isDigits(text) {
            guard let seq = Int64(text), OptionRanges.seqs.contains(seq) else { return nil }
            return .seq(seq)
        }
        guard let t = Timestamp(iso8601: text), range.contains(t) else { return nil }
        return .time(t)
    }

    /// `point(text)`, or a `ValidationError` (exit 64) naming `option` and `pointForm`.
    static func point(_ text: String, option: String) throws -> ReplayPoint {
        guard let p = point(text) else { throw ValidationError("\(option) must be \(pointForm) (got '\(shown(text))')") }
        return p
    }

    static func isDigits(_ text: String) -> Bool { !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    /// The first 40 characters of what was typed (a refusal never echoes a huge argument).
    static func shown(_ text: String) -> String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
}
