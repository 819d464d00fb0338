import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import JobLedger
import JobLedgerServer
import JobLedgerSQLite
import Testing

/// Admins retrying one failed job at once (a double click, two admins): one retry requeues it,
/// every other is told that the job has not failed (409 `not-failed`, as Serve.md has it). A
/// retry that passed the route's check before the first was appended, and was then refused by
/// the log, was a 422 "the log refused the job", which reads as a bad request.
@Suite struct AdminRetryRaceTests {
    @Test func concurrentRetriesOfOneJobAreOneRequeueAndConflicts() async throws {
        let h = try await ServerHarness.make(); defer { h.cleanup() }
        let token = try await h.token("user_root", role: "admin")
        var jobs: [JobID] = []
        for _ in 0..<8 {
            let job = JobID.generate()
            _ = try await h.ledger.append(NewEvent(job: job, payload: .queued(.init(kind: "design", input: ["prompt": "x"]))))
            _ = try await h.ledger.append(NewEvent(job: job, payload: .started(.init(worker: "w", attempt: 1, leaseDeadline: Timestamp(milliseconds: 4_000_000_000_000)))))
            _ = try await h.ledger.append(NewEvent(job: job, payload: .failed(.init(code: "boom", message: "no", retryable: false, attempt: 1))))
            jobs.append(job)
        }
        let failed = jobs
        try await h.live { c async throws in
            let port = try #require(c.port)
            let auth: HTTPFields = [.authorization: "Bearer \(token)", HTTPField.Name("Host")!: "127.0.0.1:\(port)"]
            for job in failed {
                // Eight admins' clicks, each on a connection of its own.
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
                                Int(try await client.post("/api/jobs/\(job)/retry", headers: auth, body: ByteBuffer()).head.status.code)
                            }
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.sorted() == [200] + Array(repeating: 409, count: 7), "\(job): \(statuses.sorted())")
                let state = try await h.ledger.state(of: job)
                #expect(state?.status == .queued && state?.version == 4, "requeued once")
            }
        }
    }
}
