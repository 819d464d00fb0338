import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Synchronization
import Testing

/// A broadcast sink whose answers a test scripts: each call takes the next scripted answer
/// (nil: accept), and every accepted publication is recorded in order.
final class ScriptedSink: BroadcastSink {
    private let state = Mutex<(script: [SinkError?], calls: Int, received: [Publication])>(([], 0, []))
    /// When set, every call fails with this (after the script is used up).
    let down = Mutex<SinkError?>(nil)

    init(_ script: [SinkError?] = []) { state.withLock { $0.script = script } }

    func deliver(_ publications: [Publication]) async throws(SinkError) {
        let outcome: SinkError? = state.withLock { s in
            s.calls += 1
            if !s.script.isEmpty { let next = s.script.removeFirst(); if next == nil { s.received += publications }; return next }
            if let d = down.withLock({ $0 }) { return d }
            s.received += publications
            return nil
        }
        if let outcome { throw outcome }
    }

    var calls: Int { state.withLock { $0.calls } }
    var received: [Publication] { state.withLock { $0.received } }
}

/// A blob store that fails while `down` is set, storing in a local folder otherwise.
final class FlakyBlobStore: BlobStore {
    let inner: LocalFolderBlobStore
    let down = Mutex<SinkError?>(nil)
    init(path: String) { inner = LocalFolderBlobStore(path: path) }
    func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
        if let e = down.withLock({ $0 }) { throw e }
        return try await inner.put(pathname: pathname, bytes: bytes, contentType: contentType)
    }
    func head(pathname: String) async throws(SinkError) -> BlobInfo? { try await inner.head(pathname: pathname) }
    func list(prefix: String) async throws(SinkError) -> [BlobInfo] { try await inner.list(prefix: prefix) }
    func delete(pathname: String) async throws(SinkError) { try await inner.delete(pathname: pathname) }
}

extension Fixture {
    func runner(blobs: (any BlobStore)? = nil, sink: (any BroadcastSink)? = nil, maxAttempts: Int = 5,
                retry: RetryPolicy = RetryPolicy(baseMilliseconds: 100, capMilliseconds: 1000), coalesce: Bool = true) -> ProjectionRunner {
        var o = ProjectionRunner.Options(owner: "test-runner")
        o.randomSeed = 11
        o.maxAttempts = maxAttempts
        o.retry = retry
        o.coalesceProgress = coalesce
        o.deliveryBatch = 16
        o.batchSize = 32
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return ProjectionRunner(ledger: ledger, clock: clock, blobs: blobs, broadcasts: sink, options: o)
    }

    /// Appends one job's whole happy path, with a preview and a final image.
    @discardableResult
    func appendHappyJob(progressTicks: Int = 3) async throws -> JobID {
        let job = JobID.generate()
        let preview = try await ledger.stageAsset(Data("preview-\(job)".utf8), contentType: "image/png")
        let final = try await ledger.stageAsset(Data("final-\(job)".utf8), contentType: "image/png")
        var events: [EventPayload] = [.queued(.init(kind: "design")),
                                      .started(.init(worker: "w", attempt: 1, leaseDeadline: clock.now().adding(milliseconds: 60_000)))]
        for i in 1...max(1, progressTicks) { events.append(.progress(.init(fraction: Double(i) / Double(progressTicks + 1), message: "tick \(i)", attempt: 1))) }
        events.append(.lowres(.init(asset: preview, attempt: 1)))
        events.append(.completed(.init(asset: final, output: ["ok": true], attempt: 1)))
        for e in events { _ = try await ledger.append(NewEvent(job: job, payload: e)) }
        return job
    }

    /// The NDJSON export of a fresh log holding one happy job (`appendHappyJob`): what a
    /// restored log imports. An export carries no asset bytes.
    static func exportOfAHappyJob() async throws -> [String] {
        let original = try Fixture()
        _ = try await original.appendHappyJob(progressTicks: 1)
        var lines: [String] = []
        try original.ledger.exportNDJSON { lines.append($0) }
        return lines
    }

    /// The stored jobs table against the same rows rebuilt from the log by the pure fold.
    func rebuiltRows() throws -> [JobID: JobRow] {
        var fold = ReplayFold(receipts: [.blob: try ledger.blobURLs()])
        try ledger.forEachEvent { e in try fold.apply(e) }
        return fold.rows
    }

    func status(_ name: ProjectionName) throws -> ProjectionStatus {
        try ledger.projectionStatus().first { $0.name == name }!
    }
}

/// Checks what a browser would see: per job, versions strictly rising, nothing after the
/// terminal message.
func expectOrderedPerJob(_ pubs: [Publication], sourceLocation: SourceLocation = #_sourceLocation) {
    var last: [JobID: (version: Int, terminal: Bool)] = [:]
    for p in pubs {
        let m = p.message
        if let prev = last[m.job] {
            #expect(m.version > prev.version, "job \(m.job): version \(m.version) after \(prev.version)", sourceLocation: sourceLocation)
            #expect(!(prev.terminal && m.type == .progress), "job \(m.job): progress after its terminal message", sourceLocation: sourceLocation)
        }
        last[m.job] = (m.version, m.isTerminal)
    }
}

/// A random legal next event for a job in flight.
func randomNext(for s: JobState, random: inout SplitMix64, ledger: Ledger, now: Timestamp) async throws -> EventPayload {
    switch s.status {
    case .queued:
        return random.nextDouble() < 0.05 ? .canceled(.init(reason: "user")) :
            .started(.init(worker: "w\(random.next() % 3)", attempt: s.attempt + 1, leaseDeadline: now.adding(milliseconds: 30_000)))
    case .running:
        let r = random.nextDouble()
        if r < 0.45 { return .progress(.init(fraction: min(1, s.progress + 0.1), message: "p", attempt: s.attempt)) }
        if r < 0.6 { return .lowres(.init(asset: try await ledger.stageAsset(Data("lowres \(random.next())".utf8), contentType: "image/png"), attempt: s.attempt)) }
        if r < 0.8 { return .completed(.init(asset: try await ledger.stageAsset(Data("final \(random.next())".utf8), contentType: "image/png"), attempt: s.attempt)) }
        if r < 0.95 { return .failed(.init(code: "boom", message: "it broke", retryable: random.nextDouble() < 0.7, attempt: s.attempt)) }
        return .canceled(.init(reason: "user"))
    case .completed, .failed, .canceled:
        preconditionFailure("terminal jobs are not picked")
    }
}
