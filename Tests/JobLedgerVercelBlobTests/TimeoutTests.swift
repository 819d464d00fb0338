import Foundation
import JobLedger
import JobLedgerVercelBlob
import Testing

/// FoundationNetworking counts a request's time without progress in whole seconds and drops the
/// fraction: a timeout is rounded up to whole seconds (never down to 0, which ended every request
/// at once), and the variable refuses less than a second.
@Suite(.serialized) struct VercelBlobTimeoutTests {
    @Test func aTimeoutWithAFractionIsRoundedUpNotDown() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "delay", "ms": 400, "count": 1])
        let store = try testStore(standIn, retries: 0, timeout: .milliseconds(300))
        let info = try await store.put(pathname: "slow.png", bytes: Data([1, 2, 3]), contentType: "image/png")
        #expect(info.url == store.publicURL(for: "slow.png"))
        #expect(try await standIn.stats().requests == 1)
    }

    @Test func theVariableRefusesLessThanASecondAndSaysWhy() throws {
        do {
            _ = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": testToken, "JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS": "999"])
            Issue.record("999 ms was accepted")
        } catch {
            #expect("\(error)".contains("JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS") && "\(error)".contains("from 1000") && "\(error)".contains("whole seconds"))
        }
        let c = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": testToken, "JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS": "1000"])
        #expect(c.requestTimeout == .seconds(1))
    }

    /// The timeout is libcurl's, without progress: a server that sent a byte now and then held a
    /// request (and `blobs list`) for ever. The whole request is bounded: ten times the timeout,
    /// at least a minute.
    @Test func aWholeRequestIsBounded() {
        #expect(VercelBlobURLSessionTransport.wholeRequestLimit(.seconds(2)) == .seconds(60))
        #expect(VercelBlobURLSessionTransport.wholeRequestLimit(.seconds(60)) == .seconds(600))
        #expect(VercelBlobURLSessionTransport.wholeRequestLimit(.seconds(600)) == .seconds(6000))
    }
}
