/// How broadcast streams are named: `<prefix><job id>`, by default `job:<id>`.
///
/// ```swift
/// StreamNaming().stream(for: job)                    // "job:<id>"
/// StreamNaming(prefix: "design:").stream(for: job)   // "design:<id>"
/// ```
public struct StreamNaming: Sendable, Hashable {
    /// What comes before the job id.
    public var prefix: String
    /// Streams `<prefix><job id>`, `job:<id>` by default.
    public init(prefix: String = "job:") { self.prefix = prefix }
    /// The stream of `job`.
    public func stream(for job: JobID) -> String { prefix + job.rawValue }
}
