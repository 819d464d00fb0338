import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// The first event links to the chain's start (64 zeros), not to an event: a broken first link
/// is named as such, not as a mismatch with "the hash of seq 0", which no log has.
@Suite struct GenesisLinkTests {
    @Test func aBrokenFirstLinkNamesTheChainsStart() async throws {
        let dir = TempDir()
        var rows = try await VerifyReportTests().rows(dir)
        rows[0].prevHash = String(repeating: "f", count: 64)
        let report = try forgedLog(rows, in: dir).verify()
        #expect(report.problem?.seq == 1, "\(String(describing: report.problem))")
        let message = try #require(report.problem?.message)
        #expect(message.contains("prev_hash does not match the chain's start (64 zeros"), "\(message)")
        #expect(!message.contains("seq 0"), "\(message)")
    }
}
