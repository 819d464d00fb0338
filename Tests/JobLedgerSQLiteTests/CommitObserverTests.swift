import Foundation
import GRDB
import JobLedger
@testable import JobLedgerSQLite
import Synchronization
import Testing

/// `Ledger.observeCommits`: what the writer hands a live runner as it commits is exactly what a
/// read of the log gives back (events and the states folded from them), in `seq` order, and
/// nothing that was refused or only found by its idempotency key.
@Suite struct CommitObserverTests {
    final class Seen: Sendable {
        let batches = Mutex<[[CommittedEvent]]>([])
        var events: [CommittedEvent] { batches.withLock { $0.flatMap { $0 } } }
    }

    /// Whole doubles (`5.0`, `-0.0`) come back from the log as integers: the observer is given
    /// them so, in the payload and in the state, as a read would.
    let input: JSONValue = .object(["n": .double(5.0), "z": .double(-0.0), "f": .double(1.5), "list": .array([.double(2.0), .int(3), .string("x")])])

    @Test func observersAreGivenWhatTheLogReadsBackAndNothingElse() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        let seen = Seen()
        let observation = ledger.observeCommits { batch in seen.batches.withLock { $0.append(batch) } }

        let keyed = NewEvent(job: jid("a"), payload: .queued(.init(kind: "design", input: input)), idempotencyKey: "k1")
        _ = try await ledger.append(keyed)
        _ = try await ledger.append(NewEvent(job: jid("other"), payload: queued, idempotencyKey: "k1"))  // found by its key: nothing new
        _ = try await ledger.append([NewEvent(job: jid("b"), payload: .queued(.init(kind: "design", input: .null))), NewEvent(job: jid("b"), payload: started())])
        _ = await expectLedgerError {  // refused as a whole: none of it is observed
            _ = try await ledger.append([NewEvent(job: jid("c"), payload: queued), NewEvent(job: jid("a"), payload: queued)])
        }
        let each = await ledger.appendEach([NewEvent(job: jid("b"), payload: queued), NewEvent(job: jid("a"), payload: started())])
        #expect(each.map { (try? $0.get()) == nil } == [true, false])
        _ = try await ledger.append(NewEvent(job: jid("a"), payload: .completed(.init(output: .object(["score": .double(7.0)]), attempt: 1))))

        let observed = seen.events
        #expect(observed.map(\.event.seq) == [1, 2, 3, 4, 5], "in seq order, each once, none of the refused or repeated")
        let read = try await ledger.asyncRead { db in try Ledger.projectedEvents(db, after: 0, through: .max, limit: 100) }
        #expect(observed.map(\.event) == read, "the events as the log gives them back")
        #expect(observed[0].event.payload != keyed.payload, "the payload as given held doubles the log gives back as integers")
        // Each state is the log's fold up to its event.
        var folded: [JobID: JobState] = [:]
        for (o, e) in zip(observed, read) {
            folded[e.job] = try Lifecycle.apply(e.payload, to: folded[e.job], job: e.job, at: e.recordedAt)
            #expect(o.after == folded[e.job], "state after seq \(e.seq)")
        }
        #expect(observed[4].after.output?["score"] == .int(7))

        observation.cancel()
        let appended = try await ledger.append(NewEvent(job: jid("e"), payload: .queued(.init(kind: "design", input: input))))
        #expect(appended.payload == observed[0].event.payload, "append returns the payload as stored too")
        #expect(seen.events.count == 5, "no calls after cancel()")
    }

    /// With no observer, an append transaction keeps nothing for one.
    @Test func withoutObserversNothingIsCollected() async throws {
        let dir = TempDir()
        let ledger = try Ledger.open(path: dir.path("log.sqlite"))
        #expect(!ledger.committer.observers.isActive)
        let observation = ledger.observeCommits { _ in }
        #expect(ledger.committer.observers.isActive)
        observation.cancel()
        #expect(!ledger.committer.observers.isActive)
        var states = BatchStates(collecting: false)
        let stored = try await ledger.append(NewEvent(job: jid("a"), payload: queued))
        states.recorded(stored, after: try #require(try await ledger.state(of: jid("a"))))
        #expect(states.appended.isEmpty)
    }
}
