import Testing
@testable import JobLedger

// MARK: - The table: every state × every event type

/// Starting points of the table; `absent` means no job (apply to nil).
enum Start: String, CaseIterable, Sendable {
    case absent, queued, running, completed, failed, canceled

    /// Builds the state by applying real events from `Lifecycle.begin`.
    func build() throws -> JobState? {
        switch self {
        case .absent:
            return nil
        case .queued:
            return try queuedJob()
        case .running:
            return try runningJob()
        case .completed:
            var s = try runningJob()
            try s.apply(.completed(.init(asset: resultAsset, output: .object(["pages": .int(1)]))), at: at(3_000))
            return s
        case .failed:
            var s = try runningJob()
            try s.apply(.failed(.init(code: "boom", message: "exploded", retryable: false, attempt: 1)), at: at(3_000))
            return s
        case .canceled:
            var s = try queuedJob()
            try s.apply(.canceled(.init(reason: "user")), at: at(3_000))
            return s
        }
    }

    var status: JobStatus? {
        switch self {
        case .absent: nil
        case .queued: .queued
        case .running: .running
        case .completed: .completed
        case .failed: .failed
        case .canceled: .canceled
        }
    }
}

/// Every event in the table happens at this time.
let tE = at(10_000)

/// The kind of the table's jobs (see `queuedJob`).
let failedKind = "resize"

/// The one payload of each type the table applies.
func samplePayload(_ type: EventType) -> EventPayload {
    switch type {
    case .queued: .queued(.init(kind: "other"))
    case .started: .started(.init(worker: "w2", attempt: 1, leaseDeadline: at(70_000)))
    case .progress: .progress(.init(fraction: 0.25, message: "quarter"))
    case .lowres: .lowres(.init(asset: previewAsset))
    case .completed: .completed(.init(asset: resultAsset, output: .object(["ok": .bool(true)])))
    case .failed: .failed(.init(code: "timeout", message: "too slow", retryable: true, attempt: 1, retryAt: at(15_000)))
    case .canceled: .canceled(.init(reason: "stop"))
    }
}

/// A field of the resulting state to check beyond status/attempt/progress/runAt.
enum Field: Sendable {
    case kind(String), priority(Int), maxAttempts(Int)
    case worker(String?), lease(Timestamp?), progressMessage(String?)
    case preview(AssetRef?), result(AssetRef?), output(JSONValue?)
    case lastError(JobFailure?), cancelReason(String?)
    case startedAt(Timestamp?), finishedAt(Timestamp?), createdAt(Timestamp)

    func check(_ s: JobState, sourceLocation: SourceLocation = #_sourceLocation) {
        switch self {
        case .kind(let v): #expect(s.kind == v, sourceLocation: sourceLocation)
        case .priority(let v): #expect(s.priority == v, sourceLocation: sourceLocation)
        case .maxAttempts(let v): #expect(s.maxAttempts == v, sourceLocation: sourceLocation)
        case .worker(let v): #expect(s.worker == v, sourceLocation: sourceLocation)
        case .lease(let v): #expect(s.leaseDeadline == v, sourceLocation: sourceLocation)
        case .progressMessage(let v): #expect(s.progressMessage == v, sourceLocation: sourceLocation)
        case .preview(let v): #expect(s.preview == v, sourceLocation: sourceLocation)
        case .result(let v): #expect(s.result == v, sourceLocation: sourceLocation)
        case .output(let v): #expect(s.output == v, sourceLocation: sourceLocation)
        case .lastError(let v): #expect(s.lastError == v, sourceLocation: sourceLocation)
        case .cancelReason(let v): #expect(s.cancelReason == v, sourceLocation: sourceLocation)
        case .startedAt(let v): #expect(s.startedAt == v, sourceLocation: sourceLocation)
        case .finishedAt(let v): #expect(s.finishedAt == v, sourceLocation: sourceLocation)
        case .createdAt(let v): #expect(s.createdAt == v, sourceLocation: sourceLocation)
        }
    }
}

struct Accepted: Sendable {
    var status: JobStatus
    var attempt: Int
    var progress: Double
    var runAt: Timestamp
    var fields: [Field] = []
}

enum Expected: Sendable {
    case accepted(Accepted)
    case refused(LifecycleError.Rule)
}

struct Cell: Sendable, CustomTestStringConvertible {
    let start: Start
    let event: EventType
    let expected: Expected
    var testDescription: String { "\(start.rawValue) × \(event.rawValue)" }
}

let terminalRow: [Cell] = [Start.completed, .failed, .canceled].flatMap { start in
    EventType.allCases.map { event in
        // A failed job accepts one thing: a requeue of its own kind (the table's `queued`
        // sample names another kind, so it is refused; LifecycleRequeueTests accept one).
        if start == .failed && event == .queued {
            return Cell(start: start, event: event, expected: .refused(.kindMismatch(expected: failedKind, got: "other")))
        }
        return Cell(start: start, event: event, expected: .refused(.terminal))
    }
}

let lifecycleTable: [Cell] = [
    // No job yet: only `queued` begins one.
    Cell(start: .absent, event: .queued, expected: .accepted(Accepted(
        status: .queued, attempt: 0, progress: 0, runAt: tE,
        fields: [.kind("other"), .priority(0), .maxAttempts(3), .createdAt(tE), .worker(nil), .startedAt(nil), .finishedAt(nil)]))),
    Cell(start: .absent, event: .started, expected: .refused(.unknownJob)),
    Cell(start: .absent, event: .progress, expected: .refused(.unknownJob)),
    Cell(start: .absent, event: .lowres, expected: .refused(.unknownJob)),
    Cell(start: .absent, event: .completed, expected: .refused(.unknownJob)),
    Cell(start: .absent, event: .failed, expected: .refused(.unknownJob)),
    Cell(start: .absent, event: .canceled, expected: .refused(.unknownJob)),

    // Queued.
    Cell(start: .queued, event: .queued, expected: .refused(.jobExists)),
    Cell(start: .queued, event: .started, expected: .accepted(Accepted(
        status: .running, attempt: 1, progress: 0, runAt: at(1_000),
        fields: [.worker("w2"), .lease(at(70_000)), .startedAt(tE), .finishedAt(nil), .kind("resize"), .priority(5), .createdAt(t0)]))),
    Cell(start: .queued, event: .progress, expected: .refused(.notRunning)),
    Cell(start: .queued, event: .lowres, expected: .refused(.notRunning)),
    Cell(start: .queued, event: .completed, expected: .refused(.notRunning)),
    Cell(start: .queued, event: .failed, expected: .refused(.notRunning)),
    Cell(start: .queued, event: .canceled, expected: .accepted(Accepted(
        status: .canceled, attempt: 0, progress: 0, runAt: at(1_000),
        fields: [.cancelReason("stop"), .finishedAt(tE), .startedAt(nil), .lease(nil)]))),

    // Running (attempt 1 of 3, worker w1).
    Cell(start: .running, event: .queued, expected: .refused(.jobExists)),
    Cell(start: .running, event: .started, expected: .refused(.alreadyRunning)),
    Cell(start: .running, event: .progress, expected: .accepted(Accepted(
        status: .running, attempt: 1, progress: 0.25, runAt: at(1_000),
        fields: [.progressMessage("quarter"), .worker("w1"), .lease(at(62_000)), .startedAt(at(2_000))]))),
    Cell(start: .running, event: .lowres, expected: .accepted(Accepted(
        status: .running, attempt: 1, progress: 0, runAt: at(1_000),
        fields: [.preview(previewAsset), .result(nil), .worker("w1"), .finishedAt(nil)]))),
    Cell(start: .running, event: .completed, expected: .accepted(Accepted(
        status: .completed, attempt: 1, progress: 1, runAt: at(1_000),
        fields: [.result(resultAsset), .output(.object(["ok": .bool(true)])), .lease(nil), .finishedAt(tE), .startedAt(at(2_000))]))),
    Cell(start: .running, event: .failed, expected: .accepted(Accepted(
        status: .queued, attempt: 1, progress: 0, runAt: at(15_000),
        fields: [.lastError(JobFailure(code: "timeout", message: "too slow", retryable: true, attempt: 1)),
                 .worker(nil), .lease(nil), .finishedAt(nil)]))),
    Cell(start: .running, event: .canceled, expected: .accepted(Accepted(
        status: .canceled, attempt: 1, progress: 0, runAt: at(1_000),
        fields: [.cancelReason("stop"), .lease(nil), .finishedAt(tE)]))),
] + terminalRow

@Suite("Lifecycle table")
struct LifecycleTableTests {
    @Test("the table has exactly one cell per state × event")
    func tableIsComplete() {
        #expect(lifecycleTable.count == Start.allCases.count * EventType.allCases.count)
        #expect(lifecycleTable.count == 42)
        for start in Start.allCases {
            for event in EventType.allCases {
                let n = lifecycleTable.filter { $0.start == start && $0.event == event }.count
                #expect(n == 1, "\(start) × \(event) appears \(n) times")
            }
        }
    }

    @Test("starting states are built as intended")
    func startingStates() throws {
        for start in Start.allCases {
            let s = try start.build()
            #expect(s?.status == start.status)
            #expect(s?.id == (start == .absent ? nil : testJob))
        }
        #expect(try Start.queued.build()?.version == 1)
        #expect(try Start.running.build()?.version == 2)
        #expect(try Start.completed.build()?.version == 3)
        #expect(try Start.failed.build()?.version == 3)
        #expect(try Start.canceled.build()?.version == 2)
    }

    @Test("state × event", arguments: lifecycleTable)
    func cell(_ cell: Cell) throws {
        let before = try cell.start.build()
        let payload = samplePayload(cell.event)
        #expect(payload.type == cell.event)

        switch cell.expected {
        case .accepted(let want):
            let after = try Lifecycle.apply(payload, to: before, job: testJob, at: tE)
            #expect(after.status == want.status)
            #expect(after.attempt == want.attempt)
            #expect(after.progress == want.progress)
            #expect(after.runAt == want.runAt)
            #expect(after.id == testJob)
            #expect(after.version == (before?.version ?? 0) + 1)
            #expect(after.updatedAt == tE)
            for f in want.fields { f.check(after) }
            // The mutating form agrees with the functional one.
            if var copy = before {
                try copy.apply(payload, at: tE)
                #expect(copy == after)
            }

        case .refused(let rule):
            let error = lifecycleError { _ = try Lifecycle.apply(payload, to: before, job: testJob, at: tE) }
            let e = try #require(error)
            #expect(e.rule == rule)
            #expect(e.job == testJob)
            #expect(e.event == cell.event)
            #expect(e.state == cell.start.status)
            if let before {
                // A refused event leaves the whole state value untouched.
                var copy = before
                let e2 = lifecycleError { try copy.apply(payload, at: tE) }
                #expect(e2 == e)
                #expect(copy == before)
            }
        }
    }
}
