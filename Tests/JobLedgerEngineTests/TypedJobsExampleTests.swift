// The code of Docs/Embedding.md § Typed jobs, verbatim (plus `import Testing`).

import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// A kind of job, declared once: its input, its output and its name in the log.
enum Thumbnail: JobDefinition {
    struct Input: Codable, Sendable {
        var imageURL: String
        var width: Int
    }
    struct Output: Codable, Sendable, Equatable {
        var width: Int
        var height: Int
    }
    static let kind = "thumbnail"
}

func typedExample(path: String) async throws -> Thumbnail.Output {
    let engine = JobEngine(ledger: try Ledger.open(path: path))

    // 1. The handler gets the decoded input and returns the output. An input that does not
    //    decode (a JSON submit of another shape) fails the job for good: code "invalid_input".
    engine.register(Thumbnail.self, retry: RetryPolicy(baseMilliseconds: 500)) { ctx, input in
        try await ctx.progress(0.5, message: "scaling")      // the context works as for JSON jobs
        return Thumbnail.Output(width: input.width, height: input.width * 3 / 4)
    }

    // 2. Submit a typed value. Idempotency keys, priority, run-at and attempts work as for JSON jobs.
    let job = try await engine.submit(Thumbnail.self, .init(imageURL: "https://example.com/cat.png", width: 320),
                                      idempotencyKey: "thumb-cat-320")

    // 3. Work, then read the typed result. `output(of:as:)` is nil while the job is queued or
    //    running; both throw `TypedJobError` (saying why) if it failed or was canceled.
    try await engine.workUntilIdle()
    return try await engine.wait(for: job, as: Thumbnail.self)   // Output(width: 320, height: 240)
}

@Suite struct TypedJobsExampleTests {
    @Test func theTypedJobsExampleRuns() async throws {
        let dir = TempDir()
        let path = dir.path("typed.sqlite")
        #expect(try await typedExample(path: path) == Thumbnail.Output(width: 320, height: 240))
        let ledger = try Ledger.open(path: path, create: false)
        let job = try #require(try ledger.jobStates().values.first)
        #expect(job.kind == "thumbnail")
        #expect(job.input == ["imageURL": "https://example.com/cat.png", "width": 320])
        #expect(job.output == ["width": 320, "height": 240])
        #expect(try ledger.verify().isValid)
    }

    @Test func theGuideShowsThisCode() throws {
        let here = URL(fileURLWithPath: #filePath)
        let guide = try String(contentsOf: here.deletingLastPathComponent().appendingPathComponent("../../Docs/Embedding.md").standardized,
                               encoding: .utf8)
        let section = try #require(guide.range(of: "## Typed jobs\n"))
        let start = try #require(guide.range(of: "```swift\n", range: section.upperBound..<guide.endIndex)).upperBound
        let end = try #require(guide.range(of: "```", range: start..<guide.endIndex)).lowerBound
        let block = guide[start..<end].split(separator: "\n", omittingEmptySubsequences: false)
        let imports = block.prefix { $0.hasPrefix("import ") }
        let body = block.dropFirst(imports.count).joined(separator: "\n")
        let test = try String(contentsOf: here, encoding: .utf8)
        #expect(test.contains(imports.joined(separator: "\n")), "the same imports, in the same order")
        #expect(test.contains(body))
    }
}
