import Foundation
import JobLedgerProjections
import Testing

/// A process killed in the middle of an upload to the folder store can leave the temporary file
/// of Foundation's atomic write (`.dat.nosync…`) beside the artefact it was writing; `blobs
/// list` counted it as an artefact (418 blobs where 417 were published).
@Suite struct LocalFolderBlobStoreListTests {
    @Test func aWriteLeftHalfMadeIsNotListed() async throws {
        let dir = TempDir()
        let store = LocalFolderBlobStore(path: dir.path("blobs"))
        _ = try await store.put(pathname: "jobs/j-1/result.png", bytes: Data([1, 2, 3]), contentType: "image/png")
        let left = dir.url.appendingPathComponent("blobs/jobs/j-1/.dat.nosync5B54.gvzqNk")
        try Data([9]).write(to: left)
        #expect(try await store.list(prefix: "").map(\.pathname) == ["jobs/j-1/result.png"])
        #expect(try await store.list(prefix: "jobs/j-1/").count == 1)
    }
}
