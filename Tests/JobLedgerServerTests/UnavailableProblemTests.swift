import HTTPTypes
import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// Every 503 says when to send the request again (`Retry-After`), as a 429 does: a paused
/// log's storage, an unavailable rate limiter, a log busy with another writer.
@Suite struct UnavailableProblemTests {
    @Test func aPausedLogsStorageIsA503WithRetryAfter() {
        let fault = LedgerError.storageFault(StorageFault(kind: .full, path: "/var/lib/jobs.sqlite", detail: "database or disk is full"))
        let p = JobLedgerServer.storage(fault)
        #expect(p.status == .serviceUnavailable && p.slug == "unavailable")
        #expect(p.headers[.retryAfter] == "5")
    }

    /// Any signed-in user gets the 503: it names the fault's kind, not the log's path on the
    /// server nor the free space there (those go to the server's log).
    @Test(arguments: StorageFault.Kind.allCases)
    func aPausedLogs503NamesTheKindOfFaultOnly(kind: StorageFault.Kind) {
        let fault = StorageFault(kind: kind, path: "/srv/secret-place/jobs.sqlite", detail: "database or disk is full", freeBytes: 12_345)
        let p = JobLedgerServer.storage(LedgerError.storageFault(fault))
        let sent = p.json.canonicalText
        #expect(sent.contains("(\(kind.rawValue):"), "\(sent)")
        #expect(!sent.contains("secret-place") && !sent.contains("12345") && !sent.contains("12.1 KB"), "\(sent)")
        #expect(p.headers[.retryAfter] == "5")
        #expect(p.storageFault == fault, "the fault stays on the server, for its log")
    }

    @Test func aBusyLogIsA503WithAShorterRetryAfter() {
        let p = JobLedgerServer.refusal(LedgerError.busy(path: "jobs.sqlite", waitedMilliseconds: 5_000))
        #expect(p.status == .serviceUnavailable && p.headers[.retryAfter] == "1")
    }

    @Test func aLogThatCannotBeReadIsA500WithoutRetryAfter() {
        let p = JobLedgerServer.storage(LedgerError.storage("the log could not be read"))
        #expect(p.status == .internalServerError && p.headers[.retryAfter] == nil)
    }
}
