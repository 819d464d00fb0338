import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerVercelBlob
import Testing

/// What every `BlobStore` must do, run against the embedded folder store and against
/// `VercelBlobStore` on the stand-in: the same expectations for both.
@Suite(.serialized) struct BlobStoreConformanceTests {
    static func conforms(_ store: any BlobStore) async throws {
        let a = Data("first".utf8), b = Data("second, longer".utf8)
        let p1 = "jobs/conf-1/final-0123456789abcdef.png", p2 = "jobs/conf-1/lowres-fedcba9876543210.png", p3 = "jobs/conf-2/final-aaaa.png"
        let first = try await store.put(pathname: p1, bytes: a, contentType: "image/png")
        #expect(first.pathname == p1 && first.size == Int64(a.count) && first.contentType == "image/png")
        // Idempotent: the same pathname again gives the same URL.
        #expect(try await store.put(pathname: p1, bytes: a, contentType: "image/png").url == first.url)
        _ = try await store.put(pathname: p2, bytes: b, contentType: "image/png")
        _ = try await store.put(pathname: p3, bytes: b, contentType: "image/png")
        if let predicted = store.publicURL(for: p1) { #expect(predicted == first.url) }

        let head = try #require(try await store.head(pathname: p1))
        #expect(head.url == first.url && head.size == Int64(a.count) && head.contentType == "image/png")
        #expect(try await store.head(pathname: "jobs/conf-1/missing.png") == nil)

        #expect(try await store.list(prefix: "jobs/conf-1/").map(\.pathname) == [p1, p2])
        #expect(try await store.list(prefix: "jobs/").map(\.pathname) == [p1, p2, p3])
        #expect(try await store.list(prefix: "jobs/conf-1/").map(\.size) == [Int64(a.count), Int64(b.count)])

        try await store.delete(pathname: p1)
        try await store.delete(pathname: p1)  // missing: no error
        #expect(try await store.head(pathname: p1) == nil)
        try await store.delete(pathnames: [p2, p3, "jobs/never/was.png"])
        #expect(try await store.list(prefix: "jobs/").isEmpty)
    }

    @Test func theFolderStore() async throws {
        let folder = TempFolder()
        try await Self.conforms(LocalFolderBlobStore(path: folder.path("blobs")))
    }

    @Test func theVercelBlobStore() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await Self.conforms(try testStore(standIn))
    }
}
