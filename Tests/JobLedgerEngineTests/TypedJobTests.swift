import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A typed job kind for these tests: nested values, an optional, a free-form JSON field.
enum Resize: JobDefinition {
    struct Input: Codable, Sendable, Hashable {
        var url: String
        var sizes: [Int]
        var quality: Double?
        var tags: [String: String] = [:]
        var extra: JSONValue = .null
    }
    struct Output: Codable, Sendable, Hashable {
        var pixels: [Int]
        var note: String
    }
    static let kind = "resize"
}

/// Another kind, to read a job through the wrong definition.
enum Ping: JobDefinition {
    typealias Input = String
    typealias Output = String
    static let kind = "ping"
}

@Suite struct TypedJobTests {
    let input = Resize.Input(url: "https://example.com/a.png", sizes: [64, 128], quality: 0.85,
                             tags: ["who": "ünïcode ✓"], extra: ["nested": [1, "two", .null]])

    func resizeEngine(_ f: Fixture, seen: Recorder<Resize.Input>? = nil) -> JobEngine {
        let engine = f.engine()
        engine.register(Resize.self, retry: RetryPolicy(baseMilliseconds: 0, capMilliseconds: 0)) { ctx, input in
            seen?.add(input)
            try await ctx.progress(0.5)
            return Resize.Output(pixels: input.sizes.map { $0 * $0 }, note: "from \(input.url)")
        }
        return engine
    }

    @Test func aTypedJobRoundTripsItsInputAndOutput() async throws {
        let f = try Fixture()
        let seen = Recorder<Resize.Input>()
        let engine = resizeEngine(f, seen: seen)
        let job = try await engine.submit(Resize.self, input, priority: 2)

        #expect(try engine.output(of: job, as: Resize.self) == nil, "nil while queued")
        #expect(try await engine.tick() == 1)
        #expect(seen.all == [input], "the handler gets the value that was submitted")

        let out = try #require(try engine.output(of: job, as: Resize.self))
        #expect(out == Resize.Output(pixels: [4096, 16384], note: "from https://example.com/a.png"))
        #expect(try await engine.wait(for: job, as: Resize.self) == out)

        // In the log it is an ordinary job of kind "resize" with JSON input and output.
        let s = try #require(try engine.state(of: job))
        #expect(s.kind == "resize" && s.status == .completed && s.priority == 2)
        #expect(s.input == (try JSONValue(encoding: input)))
        #expect(s.input["sizes"] == [64, 128])
        #expect(s.output == ["pixels": [4096, 16384], "note": "from https://example.com/a.png"])
        #expect(try f.types(job) == [.queued, .started, .progress, .completed])
    }

    @Test func anInputThatDoesNotDecodeFailsTheJobForGoodWithInvalidInput() async throws {
        let f = try Fixture()
        let seen = Recorder<Resize.Input>()
        let engine = resizeEngine(f, seen: seen)
        // Submitted through the JSON API with the wrong shape: `sizes` is a string.
        let job = try await engine.submit(kind: Resize.kind, input: ["url": "u", "sizes": "64"], maxAttempts: 3)
        #expect(try await engine.tick() == 1)
        #expect(seen.all.isEmpty, "the handler never runs")

        let s = try #require(try engine.result(of: job))
        #expect(s.status == .failed, "not retried: the same input cannot decode next time")
        #expect(s.attempt == 1)
        let failure = try #require(s.lastError)
        #expect(failure.code == "invalid_input" && !failure.retryable)
        #expect(failure.message.contains("Resize.Input") && failure.message.contains("field 'sizes'"), "\(failure.message)")

        // Reading the typed output says why there is none.
        #expect(throws: TypedJobError.failed(job: job, failure)) { try engine.output(of: job, as: Resize.self) }
        let described = "\(TypedJobError.failed(job: job, failure))"
        #expect(described.contains("failed: invalid_input: the input is not a Resize.Input"), "\(described)")
        #expect(described.hasSuffix("(attempt 1, not retryable)"), "\(described)")

        // A missing field is named too.
        let missing = try await engine.submit(kind: Resize.kind, input: ["sizes": [1]])
        #expect(try await engine.tick() == 1)
        #expect(try engine.result(of: missing)?.lastError?.message.contains("missing field 'url'") == true)
    }

    @Test func outputIsReadBackOnlyThroughItsOwnDefinition() async throws {
        let f = try Fixture()
        let engine = resizeEngine(f)
        let job = try await engine.submit(Resize.self, input)
        #expect(throws: TypedJobError.kindMismatch(job: job, expected: "ping", actual: "resize")) {
            try engine.output(of: job, as: Ping.self)
        }
        let unknown = try JobID("no-such-job")
        #expect(throws: TypedJobError.unknownJob(unknown)) { try engine.output(of: unknown, as: Resize.self) }

        // A job of the kind completed by a JSON handler with another output shape.
        let other = f.engine("w2")
        other.register(kind: Resize.kind) { _ in JobCompletion(output: ["pixels": "many"]) }
        #expect(try await other.tick() == 1)
        let error = try #require(throws: TypedJobError.self) { try engine.output(of: job, as: Resize.self) }
        guard case .undecodableOutput(job, "resize", let reason) = error else {
            Issue.record("expected undecodableOutput, got \(error)")
            return
        }
        #expect(reason.contains("pixels"), "\(reason)")
    }

    @Test func canceledJobsSayTheyWereCanceled() async throws {
        let f = try Fixture()
        let engine = resizeEngine(f)
        let job = try await engine.submit(Resize.self, input)
        try await engine.cancel(job, reason: "not needed")
        #expect(throws: TypedJobError.canceled(job: job, reason: "not needed")) { try engine.output(of: job, as: Resize.self) }
        await #expect(throws: TypedJobError.canceled(job: job, reason: "not needed")) {
            try await engine.wait(for: job, as: Resize.self)
        }
    }

    @Test func theSameIdempotencyKeyQueuesOneTypedJob() async throws {
        let f = try Fixture()
        let engine = resizeEngine(f)
        let first = try await engine.submit(Resize.self, input, idempotencyKey: "upload-81")
        let again = try await engine.submit(Resize.self, input, idempotencyKey: "upload-81")
        #expect(again == first)
        // Another input under the same key is refused, not answered with the first job.
        var changed = input
        changed.sizes = [1]
        await #expect(throws: IdempotencyKeyReused(key: "upload-81", job: first, fields: ["input"])) {
            _ = try await engine.submit(Resize.self, changed, idempotencyKey: "upload-81")
        }
        #expect(try engine.jobs(kind: Resize.kind).count == 1)
        #expect(try await engine.tick() == 1)
        #expect(try engine.output(of: first, as: Resize.self)?.pixels == [4096, 16384], "the first input is the one that ran")
    }

    @Test func anInputThatCannotBeEncodedIsRefusedAndNothingIsWritten() async throws {
        let f = try Fixture()
        let engine = resizeEngine(f)
        var bad = input
        bad.quality = .infinity
        await #expect(throws: LedgerError.self) { try await engine.submit(Resize.self, bad) }
        #expect(try f.ledger.head() == nil)
    }

    @Test func scalarInputsAndOutputsWorkToo() async throws {
        let f = try Fixture()
        let engine = f.engine()
        engine.register(Ping.self) { _, input in input.uppercased() }
        let job = try await engine.submit(Ping.self, "hello")
        #expect(try engine.state(of: job)?.input == "hello")
        try await engine.workUntilIdle(pollInterval: .milliseconds(1))
        #expect(try engine.output(of: job, as: Ping.self) == "HELLO")
    }
}
