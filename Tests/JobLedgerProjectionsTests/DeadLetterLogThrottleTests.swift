import JobLedger
@testable import JobLedgerProjections
import Testing

/// Dead letters are logged at most once a minute per projection, each line counting those not
/// logged since: 237,701 dead letters made 237,701 error lines (84 MB of stderr).
@Suite struct DeadLetterLogThrottleTests {
    @Test func firstAtOnceThenOneLineAMinuteCountingTheRest() {
        var t = DeadLetterLogThrottle()
        let blob = ProjectionName.blob, broadcast = ProjectionName.broadcast
        #expect(t.dead(1, of: blob, at: 1_000) == (true, 0))
        #expect(t.dead(5, of: blob, at: 2_000) == (false, 0))
        #expect(t.dead(1, of: broadcast, at: 2_000) == (true, 0), "each projection on its own")
        #expect(t.dead(7, of: blob, at: 60_999) == (false, 0))
        #expect(t.dead(2, of: blob, at: 61_000) == (true, 12))
        #expect(t.dead(1, of: blob, at: 200_000) == (true, 0))
        // A clock that went back does not silence it for good.
        #expect(t.dead(1, of: blob, at: 100) == (true, 0))
    }
}
