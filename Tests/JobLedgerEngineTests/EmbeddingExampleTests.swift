import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

// The code of Docs/Embedding.md, verbatim.

func renderPoster(prompt: String) async throws -> Data { Data("png bytes for \(prompt)".utf8) }

func example(path: String) async throws -> JobState? {
    let ledger = try Ledger.open(path: path)
    let engine = JobEngine(ledger: ledger)

    // 1. A handler per kind. It gets the job and a context for progress and previews,
    //    and returns the final bytes and/or output JSON — or throws.
    engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 500, capMilliseconds: 60_000)) { ctx in
        guard let prompt = ctx.input["prompt"]?.stringValue else {
            throw JobError(code: "bad_input", message: "input.prompt is missing", retryable: false)
        }
        try await ctx.progress(0.1, message: "sketching")          // also renews the lease
        try await ctx.lowres(Data("tiny preview".utf8), contentType: "image/png")
        let png = try await renderPoster(prompt: prompt)
        try await ctx.progress(0.9, message: "encoding")
        return JobCompletion(bytes: png, contentType: "image/png", output: ["width": 1024, "height": 1024])
    }

    // 2. Submit. The same idempotency key with the same request returns the first job and queues
    //    nothing (another request under that key throws IdempotencyKeyReused).
    let job = try await engine.submit(kind: "design", input: ["prompt": "a red bicycle"],
                                      idempotencyKey: "request-7f3", maxAttempts: 3, priority: 5)

    // 3. Work. In a service: add the engine to a `ServiceGroup` (`engine.run()` drains on
    //    SIGTERM), or `try await engine.work()` in a task of your own. Here: until nothing is left.
    try await engine.workUntilIdle()

    // 4. The outcome, from the log.
    return try engine.result(of: job)   // .completed, result asset, output
}

@Test func theEmbeddingGuideExampleRuns() async throws {
    let dir = TempDir()
    let path = dir.path("service.sqlite")
    let s = try #require(try await example(path: path))
    #expect(s.status == .completed)
    #expect(s.output == ["width": 1024, "height": 1024])
    #expect(s.preview != nil && s.result != nil)
    #expect(try Ledger.open(path: path, create: false).verify().isValid)
}

@Test func theEmbeddingGuideCodeIsTheCodeInTheGuide() throws {
    // The guide's code block must stay identical to the code above.
    let here = URL(fileURLWithPath: #filePath)
    let guide = try String(contentsOf: here.deletingLastPathComponent().appendingPathComponent("../../Docs/Embedding.md").standardized, encoding: .utf8)
    let test = try String(contentsOf: here, encoding: .utf8)
    let section = guide.range(of: "## A complete example\n")!.upperBound
    let start = guide.range(of: "```swift\n", range: section..<guide.endIndex)!.upperBound
    let block = guide[start..<guide.range(of: "```", range: start..<guide.endIndex)!.lowerBound]
    let body = block.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("import ") || $0.isEmpty }
    #expect(test.contains(body.joined(separator: "\n")))
}
