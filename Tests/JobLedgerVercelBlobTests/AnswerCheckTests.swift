import Foundation
import JobLedger
import JobLedgerVercelBlob
import Testing

/// The URL in an answer is checked before it is used: it must be the blob's public URL, the one
/// `publicURL(for:)` computes. Another one (a `javascript:` URL, another host, another store) is
/// an invalid answer — retried, and in the end a dead letter — never a URL in the log or a
/// broadcast.
@Suite struct AnswerCheckTests {
    static let path = "jobs/j/final-0123456789abcdef.png"
    static let right = "https://\(testStoreID).public.blob.vercel-storage.com/\(path)"

    func store(_ answer: String) throws -> VercelBlobStore {
        VercelBlobStore(configuration: VercelBlobConfiguration(token: try VercelBlobToken(testToken), retries: 0),
                        transport: CannedBlobAnswer(status: 200, body: answer), sleep: { _ in })
    }

    static func answer(url: String, download: String? = nil, pathname: String = path) -> String {
        #"{"url":"\#(url)","downloadUrl":"\#(download ?? url + "?download=1")","pathname":"\#(pathname)","contentType":"image/png"}"#
    }

    @Test(arguments: [
        "javascript:alert(1)", "https://evil.example/\(path)", "http://\(testStoreID).public.blob.vercel-storage.com/\(path)",
        "https://otherstore.public.blob.vercel-storage.com/\(path)", "https://\(testStoreID).public.blob.vercel-storage.com/other.png",
        "https://\(testStoreID).private.blob.vercel-storage.com/\(path)", "",
    ])
    func anUploadAnsweredWithAnotherURLIsRefused(_ url: String) async throws {
        let s = try store(Self.answer(url: url) + String(repeating: " ", count: 100_000))
        do {
            let info = try await s.put(pathname: Self.path, bytes: Data([1, 2, 3]), contentType: "image/png")
            Issue.record("stored \(info.url)")
        } catch {
            guard case .unavailable(let m, _) = error else { Issue.record("\(error)"); return }  // retried like other bad answers
            #expect(m.contains("body it does not send") && m.contains(Self.right), "\(m)")
            #expect(!m.contains("javascript") && !m.contains("evil") && !m.contains("otherstore") && m.count < 1000, "\(m)")
        }
    }

    @Test func anotherPathnameOrADownloadURLElsewhereIsRefusedToo() async throws {
        for answer in [Self.answer(url: "https://\(testStoreID).public.blob.vercel-storage.com/other.png", pathname: "other.png"),
                       Self.answer(url: Self.right, download: "javascript:alert(1)")] {
            await #expect(throws: SinkError.self) {
                _ = try await store(answer).put(pathname: Self.path, bytes: Data([1]), contentType: "image/png")
            }
        }
    }

    @Test func headAndListCheckEveryURLTheyReturn() async throws {
        let bad = Self.answer(url: "javascript:alert(1)")
        await #expect(throws: SinkError.self) { _ = try await store(bad).head(pathname: Self.path) }
        let listing = #"{"blobs":[\#(Self.answer(url: Self.right)),\#(bad)],"hasMore":false}"#
        await #expect(throws: SinkError.self) { _ = try await store(listing).list(prefix: "jobs/") }
        // The right URL goes through.
        let good = try store(Self.answer(url: Self.right))
        #expect(try await good.put(pathname: Self.path, bytes: Data([1]), contentType: "image/png").url == Self.right)
        #expect(try await good.head(pathname: Self.path)?.url == Self.right)
    }
}
