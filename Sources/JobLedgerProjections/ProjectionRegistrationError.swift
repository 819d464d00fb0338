import JobLedger

/// Why a `ProjectionRunner` refuses the projections it was given: a built-in's name (`jobs`,
/// `blob`, `broadcast`) on another projection, which would share the built-in's checkpoint,
/// outbox and lease in the log; two projections under one name; an effect projection
/// registered before one it waits for, or waits no order fixes (itself, each other, a state
/// projection). Such a runner runs none of them: `catchUp()`,
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
    /// The effect projection `name` waits for itself.
    case dependsOnItself(ProjectionName)
    /// The effect projections `name` and `dependency` wait for each other (directly or through
    /// others): no order of registration works.
    case dependencyCycle(ProjectionName, dependency: ProjectionName)
    /// The effect projection `name` waits for `dependency`, a state projection: only effect
    /// projections' deliveries can be waited for.
    case dependsOnStateProjection(ProjectionName, dependency: ProjectionName)

    /// What is wrong and what to do.
    public var description: String {
        switch self {
        case .reservedName(let name, let builtIn, let registered):
            "projection name '\(name)' is reserved for the built-in \(builtIn); register \(registered) under a name of its own"
        case .duplicateName(let name):
            "more than one projection is registered under the name '\(name)'; each needs a name of its own"
        case .dependencyAfter(let name, let dependency):
            "projection \(name) waits for \(dependency), which must be registered before it"
        case .dependsOnItself(let name):
            "projection \(name) waits for itself; take \(name) out of its dependencies"
        case .dependencyCycle(let name, let dependency):
            "projections \(name) and \(dependency) wait for each other, so no order of registration works; take one of the two out of the other's dependencies"
        case .dependsOnStateProjection(let name, let dependency):
            "projection \(name) waits for \(dependency), a state projection: only effect projections (their deliveries) can be waited for; take \(dependency) out of its dependencies"
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
        let stateNames = Set(state.map(\.name))
        let byName = Dictionary(effects.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        /// Whether `from` waits for `target`, directly or through other registered effect projections.
        func waits(_ from: ProjectionName, for target: ProjectionName) -> Bool {
            var seen: Set<ProjectionName> = [], next = [from]
            while let n = next.popLast() {
                for d in byName[n]?.dependencies ?? [] where seen.insert(d).inserted {
                    if d == target { return true }
                    next.append(d)
                }
            }
            return false
        }
        for (i, p) in effects.enumerated() {
            for d in p.dependencies {
                if d == p.name { return .dependsOnItself(p.name) }
                if stateNames.contains(d) { return .dependsOnStateProjection(p.name, dependency: d) }
                guard byName[d] != nil, !effects[..<i].contains(where: { $0.name == d }) else { continue }
                return waits(d, for: p.name) ? .dependencyCycle(p.name, dependency: d) : .dependencyAfter(p.name, dependency: d)
            }
        }
        return nil
    }
}
