/// How broadcast streams are named: `<prefix><job id>`, by default `job:<id>`.
public struct StreamNaming: Sendable, Hashable {
    public var prefix: String
    public init(prefix: String = "job:") { self.prefix = prefix }
    public func stream(for job: JobID) -> String { prefix + job.rawValue }
}
