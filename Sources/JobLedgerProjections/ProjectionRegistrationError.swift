import JobLedger

/// Why a `ProjectionRunner` refuses the projections it was given: a built-in's name (`jobs`,
/// `blob`, `broadcast`) on another projection, which would share the built-in's checkpoint,
/// outbox and lease in the log; two projections under one name; or an effect projection
/// registered before one it waits for. Such a runner runs none of them: `catchUp()`,
/// `drain(for:)` and `runLive()` throw this before they touch the log.
///
/// ```swift
/// let runner = ProjectionRunner(ledger: ledger, extra: [MyBroadcast()])   // named "broadcast"
/// do { try await runner.catchUp() } catch let e as ProjectionRegistrationError {
///     print(e)   // projection name 'broadcast' is reserved for the built-in BroadcastProjection; …
/// }
/// ```
public enum ProjectionRegistrationError: Error, Hashable, CustomStringConvertible {
    /// `name` belongs to the built-in `builtIn`; `registered` is the type that used it.
    case reservedName(ProjectionName, builtIn: String, registered: String)
    /// More than one projection registered under `name`.
    case duplicateName(ProjectionName)
    /// The effect projection `name` waits for `dependency`, registered after it.
    case dependencyAfter(ProjectionName, dependency: ProjectionName)

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case .reservedName(let name, let builtIn, let registered):
            "projection name '\(name)' is reserved for the built-in \(builtIn); register \(registered) under a name of its own"
        case .duplicateName(let name):
            "more than one projection is registered under the name '\(name)'; each needs a name of its own"
        case .dependencyAfter(let name, let dependency):
            "projection \(name) waits for \(dependency), which must be registered before it"
        }
    }

    /// The built-in projections' names, each with the one type that may use it.
    static let builtIns: [ProjectionName: Any.Type] = [
        .jobs: JobsTableProjection.self, .blob: BlobProjection.self, .broadcast: BroadcastProjection.self,
    ]

    /// The first thing wrong with registering these projections, in this order; nil when nothing is.
    static func check(state: [any StateProjection], effects: [any EffectProjection]) -> ProjectionRegistrationError? {
        let named: [(name: ProjectionName, type: Any.Type)] = state.map { ($0.name, type(of: $0)) } + effects.map { ($0.name, type(of: $0)) }
        for (name, type) in named {
            if let builtIn = builtIns[name], builtIn != type {
                return .reservedName(name, builtIn: "\(builtIn)", registered: "\(type)")
            }
        }
        var seen = Set<ProjectionName>()
        for (name, _) in named where !seen.insert(name).inserted { return .duplicateName(name) }
        let names = named.map(\.name)
        for (i, p) in effects.enumerated() {
            for d in p.dependencies where names.contains(d) && !effects[..<i].contains(where: { $0.name == d }) {
                return .dependencyAfter(p.name, dependency: d)
            }
        }
        return nil
    }
}
