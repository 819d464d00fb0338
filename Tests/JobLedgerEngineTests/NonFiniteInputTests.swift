import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A number JSON cannot carry (NaN, ±infinity) in a job's input is refused with a typed error
/// naming where it is, and nothing is appended: it used to be stored as `null`.
@Suite struct NonFiniteInputTests {
    /// The refusal's reason, or nil when the submit was not refused with `invalidPayload`.
    static func refusal(_ submit: () async throws -> Void) async -> String? {
        do { try await submit() } catch LedgerError.invalidPayload(let e) { return e.description } catch { Issue.record("unexpected \(error)") }
        return nil
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func aJSONInputHoldingANonFiniteNumberIsRefused(_ bad: Double) async throws {
        let f = try Fixture()
        let engine = f.engine()
        let input: JSONValue = ["prompt": "a cat", "scales": [1, 2.5, .double(bad)]]
        let reason = await Self.refusal { try await engine.submit(kind: "k", input: input) }
        #expect(reason == "invalid queued payload: 'input.scales[2]' must be a finite number, got \(bad)")
        #expect(try f.ledger.eventCount() == 0)
        // Straight to the log, the same.
        let event = NewEvent(job: try JobID("j-1"), payload: .queued(.init(kind: "k", input: input)))
        #expect(await Self.refusal { _ = try await f.ledger.append(event) } != nil)
        #expect(try f.ledger.eventCount() == 0)
    }

    struct Scaled: JobDefinition {
        struct Input: Codable, Sendable { var scale: Double; var extra: JSONValue }
        typealias Output = Int
        static let kind = "scaled"
    }

    /// A typed input: the encoder refuses a non-finite `Double`, and so does the payload check
    /// for one in a free-form `JSONValue` field.
    @Test func aTypedInputHoldingANonFiniteNumberIsRefused() async throws {
        let f = try Fixture()
        let engine = f.engine()
        #expect(await Self.refusal { try await engine.submit(Scaled.self, .init(scale: .nan, extra: [:])) } != nil)
        #expect(await Self.refusal { try await engine.submit(Scaled.self, .init(scale: 1, extra: ["x": .double(.infinity)])) } != nil)
        #expect(try f.ledger.eventCount() == 0)
        // A finite input goes through.
        _ = try await engine.submit(Scaled.self, .init(scale: 1.5, extra: ["x": 2]))
        #expect(try f.ledger.eventCount() == 1)
    }

    /// A handler's output holding one cannot be recorded either: the attempt fails for good,
    /// saying why, instead of completing with `null` in its place.
    @Test func anOutputHoldingANonFiniteNumberFailsTheAttempt() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(kind: "k") { _ in JobCompletion(output: ["ratio": .double(.nan)]) }
        let job = try await engine.submit(kind: "k")
        try await engine.tick()
        let s = try #require(try engine.result(of: job))
        #expect(s.status == .failed)
        #expect(s.lastError?.code == "invalid_result")
        #expect(s.lastError?.message.contains("'output.ratio' must be a finite number, got nan") == true)
    }

    @Test func validateNamesTheFirstNonFiniteNumberInKeyOrder() {
        let payload = EventPayload.queued(.init(kind: "k", input: ["b": .double(.nan), "a": ["x": [0, .double(-.infinity)]]]))
        #expect(throws: PayloadError(type: .queued, reason: "'input.a.x[1]' must be a finite number, got -inf")) { try payload.validate() }
        #expect(throws: Never.self) { try EventPayload.queued(.init(kind: "k", input: ["a": 1.5, "b": [1, "two", .null]])).validate() }
    }
}
