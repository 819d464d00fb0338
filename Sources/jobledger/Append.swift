import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append one event to the log (for operators and scripts).",
        discussion: """
            Prints the job id on stdout (a new one for --type queued without --job), and what was \
            stored on stderr. Example: JOB=$(jobledger append --type queued --payload '{"kind":"design"}')
            """)

    @OptionGroup var log: LogOptions
    @OptionGroup var storage: StorageWaitOptions
    @Option(help: "The job; omit with --type queued to start a new job.") var job: String?
    @Option(help: "The event type.") var type: EventType
    @Option(help: "The event's payload as JSON (see Docs/EventLog.md).") var payload: String = "{}"
    @Option(help: "A repeated key with the same job, type and payload returns the first event stored with it and writes nothing; with another one it is refused (exit 3).") var idempotencyKey: String?
    @Option(help: "Refuse unless the job is at this version (optimistic concurrency), \(OptionRanges.expectVersion.bounds).") var expectVersion: Int?
    @Option(help: ArgumentHelp("The attempt this progress, lowres, completed or failed event belongs to (its claim), \(OptionRanges.attempt.bounds).",
                               discussion: "Refused with exit 3 when that attempt no longer holds the job (its lease expired and the job was requeued, or it finished). Same as \"attempt\" in the payload."))
    var attempt: Int?
    @Flag(help: "Print the stored event as JSON on stdout.") var json = false

    func validate() throws {
        try OptionRanges.expectVersion.check(expectVersion)
        try OptionRanges.attempt.check(attempt)
    }

    func run() async throws {
        try await guarded {
            let type = self.type
            // A usage error, said before the payload (default `{}`) is judged for a job not named.
            if job == nil, type != .queued {
                throw fail("--job is required for a '\(type)' event (only --type queued starts a new job)", code: 64)
            }
            // A `failed` payload must name its attempt to decode at all: `--attempt` names it,
            // as it does the other events an attempt writes (it was read only after decoding,
            // so `--type failed --attempt 1` was refused for a missing "attempt").
            var text = self.payload
            if let attempt, type == .failed, case .object(var o)? = try? JSONValue(parsing: text), o["attempt"] == nil {
                o["attempt"] = .int(Int64(attempt))
                text = JSONValue.object(o).canonicalText
            }
            var payload = try wrap { () throws(PayloadError) in try EventPayload.decode(type: type, text: text) }
            if let attempt { payload = try claimed(payload, attempt: attempt) }
            let jobID: JobID
            if let job {
                jobID = try wrap { () throws(InvalidJobID) in try JobID(job) }
            } else {
                jobID = JobID.generate()
            }
            // Opening is bounded like the write: a full disk may refuse the -wal or -shm.
            let ledger = try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try log.open(create: true) }
            let headBefore = try ledger.head()?.seq ?? 0
            let event = NewEvent(job: jobID, payload: payload, expectedVersion: expectVersion, idempotencyKey: idempotencyKey)
            let stored = try await waitingOutStorageFaults(storage.bound(oneShot: true)) { try await ledger.append(event) }
            // The key already belonged to another append: nothing was written, and the job
            // printed would not be the one asked for.
            if let key = idempotencyKey, let differences = AppendKeyReuse.differences(stored: stored, job: job == nil ? nil : jobID, payload: payload) {
                throw fail(AppendKeyReuse.message(key: key, stored: stored, differences: differences), code: 3)
            }
            if json {
                print(NDJSON.line(RawEvent(stored)))
            } else {
                print(stored.job)
            }
            if stored.seq <= headBefore, idempotencyKey != nil {
                printErr("idempotency key already used: returning seq \(stored.seq) (job \(stored.job) version \(stored.version) \(stored.type)); nothing written")
            } else {
                printErr("appended seq \(stored.seq): job \(stored.job) version \(stored.version) \(stored.type)")
            }
        }
    }
}

/// The payload with `--attempt` as its claim; refuses a type that names no attempt, or a
/// payload that names another one.
func claimed(_ payload: EventPayload, attempt: Int) throws -> EventPayload {
    guard payload.isWrittenByAnAttempt else {
        throw fail("--attempt applies to progress, lowres, completed and failed events, not '\(payload.type)'", code: 64)
    }
    if let named = payload.claim, named != attempt {
        throw fail("--attempt \(attempt) contradicts \"attempt\": \(named) in the payload", code: 2)
    }
    var p = payload
    switch p {
    case .progress(var x): x.attempt = attempt; p = .progress(x)
    case .lowres(var x): x.attempt = attempt; p = .lowres(x)
    case .completed(var x): x.attempt = attempt; p = .completed(x)
    case .failed, .queued, .started, .canceled: break
    }
    return try wrap { () throws(PayloadError) in try p.validate(); return p }
}

/// Turns a typed core error into the matching `LedgerError`.
func wrap<T>(_ body: () throws(PayloadError) -> T) throws -> T {
    do { return try body() } catch { throw LedgerError.invalidPayload(error) }
}

func wrap<T>(_ body: () throws(InvalidJobID) -> T) throws -> T {
    do { return try body() } catch { throw LedgerError.invalidJobID(error) }
}
