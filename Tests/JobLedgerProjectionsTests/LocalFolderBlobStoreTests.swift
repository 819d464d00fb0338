import Foundation
import JobLedger
import JobLedgerProjections
import Testing

/// A write the folder store cannot make says why, as the system said it: the error is the
/// blob projection's last error (`projections`, the `work` log lines), where "The operation
/// could not be completed. (NSCocoaErrorDomain error 512.)" told the operator nothing of a
/// file standing where the store's folder should be, or of a full disk.
@Suite struct LocalFolderBlobStoreTests {
    @Test func aFileWhereTheFolderShouldBeIsNamed() async throws {
        let dir = TempDir()
        let notAFolder = dir.path("blobs")
        try Data("x".utf8).write(to: URL(fileURLWithPath: notAFolder))
        let message = try #require(await refusal(of: LocalFolderBlobStore(path: notAFolder)))
        #expect(message.hasPrefix("cannot write \(notAFolder)/jobs/j1/final.png: Not a directory (at \(notAFolder)"), "\(message)")
        #expect(!message.contains("NSCocoaErrorDomain"), "\(message)")
    }

    @Test func aFolderWhereTheFileShouldBeIsNamed() async throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path("blobs/jobs/j1/final.png"), withIntermediateDirectories: true)
        let message = try #require(await refusal(of: LocalFolderBlobStore(path: dir.path("blobs"))))
        #expect(message.contains("Is a directory"), "\(message)")
        #expect(!message.contains("NSCocoaErrorDomain"), "\(message)")
    }

    /// What the store says when it refuses to put `jobs/j1/final.png`; nil (with an issue
    /// recorded) when it did not refuse it as unavailable.
    func refusal(of store: LocalFolderBlobStore) async -> String? {
        do {
            _ = try await store.put(pathname: "jobs/j1/final.png", bytes: Data([1, 2, 3]), contentType: "image/png")
            Issue.record("the write succeeded")
        } catch {
            guard case .unavailable(let message, _) = error else { Issue.record("not unavailable: \(error)"); return nil }
            return message
        }
        return nil
    }
}
