import Foundation
import JobLedger
@testable import JobLedgerSQLite
import Testing

/// How many events a replay up to a point reads: the total of `replay`'s and `diff`'s progress
/// bars, which counted the whole log whatever the point.
@Suite struct ReplayLengthTests {
    @Test func theEventsUpToASeqOrATimeAreCountedNotTheWholeLog() async throws {
        let dir = TempDir()
        let clock = TestClock()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"), configuration: config(clock: clock))
        for e in lifecycle(jid("job-1")) + lifecycle(jid("job-2")) {
            clock.advance(10)
            _ = try await ledger.append(e)
        }
        #expect(try ledger.eventCount() == 12)
        #expect(try ledger.eventsReplayed(until: .end) == 12)
        #expect(try ledger.eventsReplayed(until: .seq(0)) == 0)
        #expect(try ledger.eventsReplayed(until: .seq(5)) == 5)
        #expect(try ledger.eventsReplayed(until: .seq(500)) == 12)
        // Event k was recorded at start + 10 k ms: up to (and with) event 4 at its own time, and
        // at a time between events 4 and 5.
        let start: Int64 = 1_795_000_000_000
        #expect(try ledger.eventsReplayed(until: .time(Timestamp(milliseconds: start + 40))) == 4)
        #expect(try ledger.eventsReplayed(until: .time(Timestamp(milliseconds: start + 45))) == 4)
        #expect(try ledger.eventsReplayed(until: .time(Timestamp(milliseconds: start))) == 0)
        #expect(try ledger.eventsReplayed(until: .time(Timestamp(milliseconds: start + 10_000))) == 12)
    }
}
