import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// Whatever the log accepts, its export imports: the depth limit is the payload's, and the
/// export line's own object around the payload does not count against it.
@Suite(.timeLimit(.minutes(2)))
struct NestingDepthRoundTripTests {
    let dir = TempDir()

    /// A queued payload's text whose JSON nests `levels` levels, counting its own object: the
    /// input is `levels - 1` arrays, one inside the other.
    func payloadText(levels: Int) -> String {
        let arrays = levels - 1
        return "{\"kind\":\"x\",\"input\":" + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + "}"
    }

    /// The same input built in Swift.
    func nestedInput(arrays: Int) -> JSONValue {
        var v = JSONValue.array([])
        for _ in 1..<arrays { v = .array([v]) }
        return v
    }

    func export(_ ledger: Ledger) throws -> [String] {
        var lines: [String] = []
        try ledger.exportNDJSON { lines.append($0) }
        return lines
    }

    @Test func aPayloadAtTheDepthLimitIsExportedAndImportedAgain() async throws {
        let text = payloadText(levels: JSONValue.maxDepth)
        let payload = try EventPayload.decode(type: .queued, text: text)
        let ledger = try Ledger.open(path: dir.path("deep.sqlite"))
        _ = try await ledger.append(NewEvent(job: jid("deep-1"), payload: payload))
        #expect(try ledger.verify().isValid)
        let lines = try export(ledger)
        #expect(lines.count == 1)

        let copy = try Ledger.open(path: dir.path("copy.sqlite"))
        let report = try copy.importNDJSON(lines)
        #expect(report.events == 1)
        #expect(try copy.head() == ledger.head(), "the same event, the same hash")
        #expect(try export(copy) == lines)
    }

    @Test func aPayloadOneLevelPastTheLimitIsRefusedByAppendAndByImport() async throws {
        // As text: parsing refuses it.
        #expect(throws: PayloadError.self) { try EventPayload.decode(type: .queued, text: payloadText(levels: JSONValue.maxDepth + 1)) }
        // Built in Swift: the append refuses it (before, it was stored, and no read or import
        // could parse it back).
        let ledger = try Ledger.open(path: dir.path("deep.sqlite"))
        let deep = EventPayload.queued(.init(kind: "x", input: nestedInput(arrays: JSONValue.maxDepth)))
        let refused = await expectLedgerError { _ = try await ledger.append(NewEvent(job: jid("deep-1"), payload: deep)) }
        guard case .invalidPayload(let e)? = refused else { Issue.record("expected invalidPayload, got \(String(describing: refused))"); return }
        #expect(e.description.contains("'input' is nested deeper"), "\(e)")
        #expect(try ledger.head() == nil, "nothing was written")
        // At the limit, built in Swift: accepted.
        let atLimit = EventPayload.queued(.init(kind: "x", input: nestedInput(arrays: JSONValue.maxDepth - 1)))
        _ = try await ledger.append(NewEvent(job: jid("deep-2"), payload: atLimit))

        // An export line (hand-made) whose payload nests one level past the limit is refused,
        // naming the depth the payload may have.
        var line = try export(ledger)[0]
        #expect(line.contains("]],\"kind\""))
        line = line.replacingOccurrences(of: "\"input\":[", with: "\"input\":[[").replacingOccurrences(of: "]],\"kind\"", with: "]]],\"kind\"")
        let copy = try Ledger.open(path: dir.path("copy.sqlite"))
        let importRefused = await expectLedgerError { _ = try copy.importNDJSON([line]) }
        guard case .importFailed(let number, let reason)? = importRefused else {
            Issue.record("expected importFailed, got \(String(describing: importRefused))"); return
        }
        #expect(number == 1)
        #expect(reason.contains("nested deeper than \(JSONValue.maxDepth) levels"), "\(reason)")
        #expect(try copy.head() == nil)
    }
}
