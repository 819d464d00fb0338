import Foundation
import GRDB
import JobLedger
@testable import JobLedgerProjections
import JobLedgerSQLite
import Synchronization
import Testing

/// The blob projection uploads a delivery's items several at a time: one at a time, a
/// catch-up of 10,500 uploads to a local folder took 40 s (each waiting for its file to reach
/// the disk, the process 85 % idle), 11 s now. What was uploaded is recorded whatever failed
/// beside it; the first failure in `seq` order counts a try, and the other failed items stay
/// due for the next delivery.
@Suite(.timeLimit(.minutes(1)))
struct ConcurrentUploadTests {
    /// A store whose puts wait until `together` of them are in flight at once (a delivery one
    /// at a time never gets there, and the time limit fails the test), and fail the pathnames
    /// a test names.
    final class GatheringStore: BlobStore {
        let inner: LocalFolderBlobStore
        let together: Int
        let failing: Mutex<[String: SinkError]>
        private let state = Mutex<(inFlight: Int, most: Int, waiting: [CheckedContinuation<Void, Never>])>((0, 0, []))

        init(path: String, together: Int, failing: [String: SinkError] = [:]) {
            inner = LocalFolderBlobStore(path: path)
            self.together = together
            self.failing = Mutex(failing)
        }

        var most: Int { state.withLock { $0.most } }

        func put(pathname: String, bytes: Data, contentType: String) async throws(SinkError) -> BlobInfo {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let release: [CheckedContinuation<Void, Never>] = state.withLock { s in
                    s.inFlight += 1
                    s.most = max(s.most, s.inFlight)
                    s.waiting.append(c)
                    guard s.waiting.count >= together else { return [] }
                    defer { s.waiting = [] }
                    return s.waiting
                }
                for w in release { w.resume() }
            }
            defer { state.withLock { $0.inFlight -= 1 } }
            if let e = failing.withLock({ s in s.first { pathname.contains($0.key) }?.value }) { throw e }
            return try await inner.put(pathname: pathname, bytes: bytes, contentType: contentType)
        }
        func head(pathname: String) async throws(SinkError) -> BlobInfo? { try await inner.head(pathname: pathname) }
        func list(prefix: String) async throws(SinkError) -> [BlobInfo] { try await inner.list(prefix: prefix) }
        func delete(pathname: String) async throws(SinkError) { try await inner.delete(pathname: pathname) }
    }

    @Test func uploadsOfOneDeliveryRunTogether() async throws {
        let f = try Fixture()
        for _ in 0..<4 { try await f.appendHappyJob(progressTicks: 1) }  // 8 uploads
        let store = GatheringStore(path: f.dir.path("blobs"), together: 8)
        let r = try await f.runner(blobs: store).catchUp()
        #expect(r.failed == 0 && store.most == 8)
        #expect(try f.status(.blob).sent == 8 && f.status(.blob).pending == 0)
    }

    @Test func whatWasUploadedBesideAFailureIsRecordedAndOnlyTheFirstFailureCountsATry() async throws {
        let f = try Fixture()
        var jobs: [JobID] = []
        for _ in 0..<4 { jobs.append(try await f.appendHappyJob(progressTicks: 1)) }
        // Job 1's two uploads fail (retryable), job 3's too (refused): job 1's preview is the
        // first failure in seq order.
        let store = GatheringStore(path: f.dir.path("blobs"), together: 8,
                                   failing: [jobs[1].rawValue: .unavailable("down"), jobs[3].rawValue: .rejected("no")])
        let runner = f.runner(blobs: store)
        _ = try await runner.catchUp()
        let s = try f.status(.blob)
        #expect(s.sent == 4 && s.pending == 4 && s.dead == 0, "\(s)")
        let uploaded = try FileManager.default.subpathsOfDirectory(atPath: f.dir.path("blobs")).filter { $0.hasSuffix(".png") }
        #expect(Set(uploaded.map { String($0.split(separator: "/")[1]) }) == [jobs[0].rawValue, jobs[2].rawValue])
        let attempts = try f.ledger.outboxItems(.blob, status: .pending).filter { $0.attempts > 0 }
        #expect(attempts.count == 1 && attempts.first?.target.contains(jobs[1].rawValue) == true && attempts.first?.target.contains("lowres") == true, "\(attempts.map { ($0.target, $0.attempts) }) jobs \(jobs)")
    }

    /// When the first failure in seq order is refused for good, every item of the delivery
    /// refused for good is dead-lettered with it: a log restored from an export (its assets are
    /// not in it) dead-lettered one upload a delivery, 237,701 of them in 20 minutes, each with
    /// an error line. Items that failed for another reason stay due, untouched.
    @Test func itemsRefusedForGoodBesideTheFirstFailureAreDeadLetteredTogether() async throws {
        let f = try Fixture()
        var jobs: [JobID] = []
        for _ in 0..<4 { jobs.append(try await f.appendHappyJob(progressTicks: 1)) }
        let store = GatheringStore(path: f.dir.path("blobs"), together: 8,
                                   failing: [jobs[1].rawValue: .rejected("gone"), jobs[2].rawValue: .unavailable("down"), jobs[3].rawValue: .rejected("gone")])
        let runner = f.runner(blobs: store)
        // One delivery (a catch-up would hand job 2's items over again, two puts that never
        // gather eight).
        let blob = try #require(runner.effectProjections.first { $0.name == .blob })
        _ = try await runner.ingest(blob)
        let step = try await runner.deliver(blob)
        guard case .worked(let delivered, let failed, let deadCount) = step else { Issue.record("\(step)"); return }
        #expect(delivered == 2 && failed == 4 && deadCount == 4)
        let s = try f.status(.blob)
        #expect(s.sent == 2 && s.dead == 4 && s.pending == 2, "\(s)")
        #expect(try f.ledger.outboxItems(.blob, status: .pending).allSatisfy { $0.attempts == 0 }, "job 2's items are untouched")
        let dead = try f.ledger.outboxItems(.blob, status: .dead)
        #expect(Set(dead.map { $0.job }) == [jobs[1], jobs[3]])
        #expect(dead.allSatisfy { $0.attempts == 1 && $0.lastError?.contains("gone (and 3 other items of the batch refused for good)") == true },
                "\(dead.map { ($0.attempts, $0.lastError ?? "") })")
        #expect(store.most == 8)
    }
}

/// After an import (an export carries no assets), every artefact was dead-lettered with
/// "not staged in this log" and the advice to re-drive, which can only fail the same way. The
/// log now records which seqs an import brought (`ImportedRanges`) and the blob projection makes
/// no upload for them; an asset that is still not staged (an event appended by hand, or an
/// import made before schema v9 recorded it) is refused for good, saying why.
@Suite struct ImportedLogUploadTests {
    @Test func anImportedLogsArtefactsAreNotUploadedFromIt() async throws {
        let lines = try await Fixture.exportOfAHappyJob()
        let restored = try Fixture()
        let report = try restored.ledger.importNDJSON(lines)
        let head = try #require(report.head?.seq)
        #expect(try restored.ledger.importedRanges() == ImportedRanges(ranges: [1...head]))
        let hub = BroadcastHub()
        let runner = restored.runner(blobs: LocalFolderBlobStore(path: restored.dir.path("blobs")), sink: hub, maxAttempts: 1)
        _ = try await runner.catchUp()
        let blob = try restored.status(.blob)
        #expect(blob.checkpoint == head && blob.pending == 0 && blob.dead == 0 && blob.sent == 0, "\(blob)")
        // The broadcast still sends every imported event's message.
        #expect(try restored.status(.broadcast).sent == Int(head))
    }

    @Test func anAssetNotStagedWithoutAnImportRecordIsDeadLetteredSayingWhyARedriveCannotHelp() async throws {
        let lines = try await Fixture.exportOfAHappyJob()
        let restored = try Fixture()
        _ = try restored.ledger.importNDJSON(lines)
        // As an import by a jobledger before schema v9 left it: no record of what it brought.
        let q = try DatabaseQueue(path: restored.dir.path("jobs.sqlite"))
        try await q.write { try $0.execute(sql: "DELETE FROM imports") }
        try q.close()
        let runner = restored.runner(blobs: LocalFolderBlobStore(path: restored.dir.path("blobs")), maxAttempts: 1)
        _ = try await runner.catchUp()
        let dead = try restored.ledger.outboxItems(.blob, status: .dead)
        #expect(dead.count == 2, "the preview and the final image: \(dead)")
        #expect(dead.allSatisfy { ($0.lastError ?? "").contains("an export carries no assets") && ($0.lastError ?? "").contains("a re-drive fails the same way") },
                "\(dead.map { $0.lastError ?? "" })")
    }
}

/// A log restored from an export owed its history's uploads for good: taken in, they became
/// dead letters no re-drive could clear, and every later `work --until-idle` exited 7. An import
/// that names the blob projection starts it after the imported events, in its transaction; one
/// into a log whose blob projection is still behind leaves it where it is (its own events
/// first), and it then makes no upload for the imported events (`ImportedRanges`).
@Suite struct ImportStartingAfterTests {
    @Test func theBlobProjectionStartsAfterTheImportedEvents() async throws {
        let lines = try await Fixture.exportOfAHappyJob()
        let restored = try Fixture()
        let report = try restored.ledger.importNDJSON(try CheckedImport.check(lines: lines), startingAfter: [.blob])
        let head = try #require(report.head?.seq)
        let runner = restored.runner(blobs: LocalFolderBlobStore(path: restored.dir.path("blobs")), maxAttempts: 1)
        _ = try await runner.catchUp()
        #expect(try restored.ledger.outboxItems(.blob, status: .dead).isEmpty)
        let blob = try #require(try restored.ledger.projectionStatus([.blob]).first { $0.name == .blob })
        #expect(blob.checkpoint == head && blob.pending == 0 && blob.dead == 0, "\(blob)")
        // The jobs table still takes every imported event in.
        #expect(try restored.ledger.projectionStatus([.jobs]).first { $0.name == .jobs }?.checkpoint == head)

        // A job of the restored log's own, after the import: its artefacts are uploaded.
        _ = try await restored.appendHappyJob(progressTicks: 1)
        _ = try await runner.catchUp()
        #expect(try restored.ledger.outboxItems(.blob, status: .sent).count == 2, "the new job's preview and final image")
    }

    @Test func aBlobProjectionStillBehindIsLeftWhereItIs() async throws {
        let lines = try await Fixture.exportOfAHappyJob()
        // Into a log with a job of its own whose artefacts the blob projection has not taken in yet.
        let target = try Fixture()
        _ = try await target.appendHappyJob(progressTicks: 1)
        _ = try target.ledger.importNDJSON(try CheckedImport.check(lines: lines), startingAfter: [.blob])
        let runner = target.runner(blobs: LocalFolderBlobStore(path: target.dir.path("blobs")), maxAttempts: 1)
        _ = try await runner.catchUp()
        let sent = try target.ledger.outboxItems(.blob, status: .sent)
        #expect(sent.count == 2, "its own job's artefacts are uploaded: \(sent)")
        #expect(try target.ledger.outboxItems(.blob, status: .dead).isEmpty, "the imported ones are not taken in as uploads (they were dead letters)")
        let imported = try target.ledger.importedRanges()
        #expect(imported.ranges.count == 1 && sent.allSatisfy { !imported.contains($0.seq) })
        let blob = try target.status(.blob)
        #expect(try blob.checkpoint == target.ledger.head()?.seq && blob.pending == 0, "\(blob)")

        // A replay still plans the imported job's uploads: it shows what the events mean, as
        // the log they came from made them (an incident is replayed from an imported copy).
        var fold = ReplayFold(effects: [BlobProjection(store: LocalFolderBlobStore(path: target.dir.path("blobs")), ledger: target.ledger)])
        var planned: [Int64] = []
        _ = try target.ledger.replay(into: &fold, effect: { planned.append($0.seq) })
        #expect(planned.count == 4 && planned.filter { imported.contains($0) }.count == 2 && Set(sent.map(\.seq)).isSubset(of: planned))
    }
}

/// The imported seqs are searched as disjoint ranges: overlapping or adjacent ones (rows put in
/// by hand) are merged, else `[1...10, 2...3]` said 5 was not imported.
@Suite struct ImportedRangesTests {
    @Test func overlappingAndAdjacentRangesAreMerged() {
        let r = ImportedRanges(ranges: [20...30, 2...3, 1...10, 11...12, 40...40])
        #expect(r.ranges == [1...12, 20...30, 40...40])
        for seq: Int64 in [1, 5, 12, 20, 30, 40] { #expect(r.contains(seq), "\(seq)") }
        for seq: Int64 in [0, 13, 19, 31, 39, 41] { #expect(!r.contains(seq), "\(seq)") }
        #expect(!ImportedRanges.none.contains(1))
    }
}
