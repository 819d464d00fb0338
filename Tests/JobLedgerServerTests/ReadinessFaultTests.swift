import JobLedger
@testable import JobLedgerServer
import JobLedgerSQLite
import Testing

/// `/readyz` needs no token: while the log's storage is paused it says which kind of fault, not
/// the fault's text, which names the log's path on the server and the free space there.
@Suite struct ReadinessFaultTests {
    @Test(arguments: StorageFault.Kind.allCases)
    func aPausedLogIsNamedByItsKindOnly(kind: StorageFault.Kind) {
        let fault = StorageFault(kind: kind, path: "/srv/secret-place/jobs.sqlite", detail: "database or disk is full", freeBytes: 12_345)
        let body = JobLedgerServer.paused(fault, since: Timestamp(milliseconds: 1_795_000_000_000))
        #expect(body["status"] == "paused")
        #expect(body["storage_fault"] == .string(kind.rawValue))
        #expect(body["since"] == "2026-11-18T11:06:40.000Z")
        let text = JSONValue.object(body).canonicalText
        #expect(!text.contains("secret-place") && !text.contains("12345"), "\(text)")
    }
}
