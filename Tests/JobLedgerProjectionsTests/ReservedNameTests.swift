import Foundation
import GRDB
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite
import Logging
import Testing

/// An app's effect projection under any name, delivering nothing.
struct NamedEffect: EffectProjection {
    let name: ProjectionName
    var dependencies: [ProjectionName] = []
    func items(for event: ProjectedEvent, state: JobState, receipts: ReceiptLookup) -> [OutboxDraft] { [] }
    func deliver(_ items: [OutboxItem]) async -> Delivery { .delivered(items) }
}

/// An app's state projection under any name, writing nothing.
struct NamedState: StateProjection {
    let name: ProjectionName
    func apply(_ events: [ProjectedEvent], states: [JobID: JobState], db: Database) throws {}
    func reset(_ db: Database) throws {}
}

@Suite struct ReservedNameTests {
    func options() -> ProjectionRunner.Options {
        var o = ProjectionRunner.Options(owner: "app")
        o.logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        return o
    }

    func refusal(_ runner: ProjectionRunner) async -> ProjectionRegistrationError? {
        do { try await runner.catchUp(); return nil } catch { return error as? ProjectionRegistrationError }
    }

    /// A built-in's name on an app's projection trapped the process when the built-in was
    /// registered too (names must be unique: a precondition), and otherwise shared the
    /// built-in's checkpoint, outbox and lease. It is a typed error, thrown before anything is
    /// written, by every way of running the runner.
    @Test func aBuiltInNameOnAnAppsProjectionIsRefusedWithATypedError() async throws {
        let f = try Fixture()
        _ = try await f.ledger.append([NewEvent(job: try JobID("job-1"), payload: .queued(.init(kind: "k")))])

        // Beside the built-in of that name (this trapped).
        let beside = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: BroadcastHub(),
                                      extra: [NamedEffect(name: .broadcast)], options: options())
        let e = try #require(await refusal(beside))
        #expect(e == .reservedName(.broadcast, builtIn: "BroadcastProjection", registered: "NamedEffect"))
        #expect(e.description == "projection name 'broadcast' is reserved for the built-in BroadcastProjection; register NamedEffect under a name of its own")
        await #expect(throws: e) { try await beside.runLive() }
        await #expect(throws: e) { _ = try await beside.drain(for: .seconds(1)) }

        // Without it, and for a state projection: reserved all the same.
        let alone = ProjectionRunner(ledger: f.ledger, clock: f.clock, extra: [NamedEffect(name: .blob)], options: options())
        #expect(await refusal(alone) == .reservedName(.blob, builtIn: "BlobProjection", registered: "NamedEffect"))
        let state = ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [NamedState(name: .jobs)], effects: [], options: options())
        #expect(await refusal(state) == .reservedName(.jobs, builtIn: "JobsTableProjection", registered: "NamedState"))

        // Nothing was written: no projection has a row, the jobs table is not built.
        #expect(try f.ledger.projectionStatus().isEmpty)
        #expect(try f.ledger.checkpoint(of: .jobs).checkpoint == 0)
    }

    /// Two projections of an app under one name, or one registered before a projection it
    /// waits for, trapped too.
    @Test func aDuplicateNameOrAWaitInTheWrongOrderIsRefusedWithATypedError() async throws {
        let f = try Fixture()
        let twice = ProjectionRunner(ledger: f.ledger, clock: f.clock,
                                     extra: [NamedEffect(name: ProjectionName("hook")), NamedEffect(name: ProjectionName("hook"))], options: options())
        #expect(await refusal(twice) == .duplicateName(ProjectionName("hook")))

        let early = ProjectionRunner(ledger: f.ledger, clock: f.clock, broadcasts: BroadcastHub(),
                                     extra: [BlobProjection(store: LocalFolderBlobStore(path: f.dir.path("blobs")), ledger: f.ledger)], options: options())
        #expect(await refusal(early) == .dependencyAfter(.broadcast, dependency: .blob))

        // Waits no order fixes were called "must be registered before it": a projection that
        // waits for itself, two that wait for each other (directly or through a third), and
        // one that waits for a state projection (whose rows are no delivery).
        func refused(_ effects: [NamedEffect]) async -> ProjectionRegistrationError? {
            await refusal(ProjectionRunner(ledger: f.ledger, clock: f.clock, state: [JobsTableProjection()], effects: effects, options: options()))
        }
        let a = ProjectionName("a"), b = ProjectionName("b"), c = ProjectionName("c")
        #expect(await refused([NamedEffect(name: a, dependencies: [a])]) == .dependsOnItself(a))
        #expect(await refused([NamedEffect(name: a, dependencies: [b]), NamedEffect(name: b, dependencies: [a])]) == .dependencyCycle(a, dependency: b))
        #expect(await refused([NamedEffect(name: a, dependencies: [c]), NamedEffect(name: b, dependencies: [a]), NamedEffect(name: c, dependencies: [b])])
                == .dependencyCycle(a, dependency: c))
        #expect(await refused([NamedEffect(name: a, dependencies: [.jobs])]) == .dependsOnStateProjection(a, dependency: .jobs))
        #expect(await refused([NamedEffect(name: a, dependencies: [b]), NamedEffect(name: b)]) == .dependencyAfter(a, dependency: b))
        #expect(await refused([NamedEffect(name: b), NamedEffect(name: a, dependencies: [b])]) == nil)
        #expect("\(ProjectionRegistrationError.dependencyCycle(a, dependency: b))".contains("no order of registration works"))

        // The built-ins under their own names are, of course, fine.
        let fine = ProjectionRunner(ledger: f.ledger, clock: f.clock, blobs: LocalFolderBlobStore(path: f.dir.path("blobs")),
                                    broadcasts: BroadcastHub(), extra: [NamedEffect(name: ProjectionName("hook"))], options: options())
        #expect(await refusal(fine) == nil)
    }
}
