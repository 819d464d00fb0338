// The code of the JobLedgerEngine DocC catalog's overview, verbatim (plus `import Testing`).
import Foundation
import JobLedger
import JobLedgerEngine
import JobLedgerSQLite
import Testing

/// Stands in for your renderer: the PNG bytes for a prompt.
func renderPNG(prompt: String) async throws -> Data { Data("png bytes for \(prompt)".utf8) }

func renderPosters(path: String) async throws -> JobStatus? {
    let engine = JobEngine(ledger: try Ledger.open(path: path))

    engine.register(kind: "design", retry: RetryPolicy(baseMilliseconds: 500)) { ctx in
        try await ctx.progress(0.5, message: "rendering")        // also renews the lease
        let png = try await renderPNG(prompt: ctx.input["prompt"]?.stringValue ?? "")
        return JobCompletion(bytes: png, contentType: "image/png", output: ["width": 1024])
    }

    let job = try await engine.submit(kind: "design", input: ["prompt": "a red bicycle"],
                                      idempotencyKey: "request-7f3")
    try await engine.workUntilIdle()                             // or run() in a ServiceGroup
    return try engine.result(of: job)?.status                    // .completed
}

/// The catalog's example compiles (it is the code above) and runs; the Package.swift snippet of
/// the catalog and of Docs/Embedding.md is one text, and names products the manifest declares.
@Suite struct CatalogExampleTests {
    static let here = URL(fileURLWithPath: #filePath)
    static func read(_ relative: String) throws -> String {
        try String(contentsOf: here.deletingLastPathComponent().appendingPathComponent(relative).standardized, encoding: .utf8)
    }
    static let catalogPath = "../../Sources/JobLedgerEngine/Documentation.docc/JobLedgerEngine.md"

    /// The ```swift blocks of a page, in order.
    static func swiftBlocks(_ page: String) -> [String] {
        page.components(separatedBy: "```swift\n").dropFirst().map { String($0.components(separatedBy: "```")[0]) }
    }

    @Test func theCatalogExampleRuns() async throws {
        let dir = TempDir()
        #expect(try await renderPosters(path: dir.path("posters.sqlite")) == .completed)
    }

    @Test func theCatalogShowsThisCode() throws {
        let block = try #require(Self.swiftBlocks(try Self.read(Self.catalogPath)).first { $0.contains("func renderPosters") })
        let body = block.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("import ") || $0.isEmpty }
        #expect(try String(contentsOf: Self.here, encoding: .utf8).contains(body.joined(separator: "\n")))
    }

    @Test func thePackageSnippetNamesTheManifestsProducts() throws {
        let catalog = try #require(Self.swiftBlocks(try Self.read(Self.catalogPath)).first { $0.contains("import PackageDescription") })
        let guide = try #require(Self.swiftBlocks(try Self.read("../../Docs/Embedding.md")).first { $0.contains("import PackageDescription") })
        #expect(catalog == guide)
        let manifest = try Self.read("../../Package.swift")
        let used = guide.components(separatedBy: ".product(name: \"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(used == ["JobLedger", "JobLedgerSQLite", "JobLedgerEngine"])
        for product in used { #expect(manifest.contains(".library(name: \"\(product)\""), "no library product \(product)") }
        #expect(guide.contains("package: \"JobLedger\"") && manifest.contains("name: \"JobLedger\","))
        #expect(guide.contains("platforms: [.macOS(.v15)]") && manifest.contains("platforms: [.macOS(.v15)]"))
    }
}
