/// Who a request is from: the token's subject (a job's owner) and whether it is an admin.
public struct Principal: Sendable, Hashable {
    /// The `sub` claim (Clerk: `user_…`); the owner recorded with the jobs it submits.
    public var subject: String
    /// Whether the admin claim was present with the admin value (cancel, retry, re-drive, every job).
    public var isAdmin: Bool

    /// A principal from its parts.
    public init(subject: String, isAdmin: Bool) { self.subject = subject; self.isAdmin = isAdmin }

    /// The caller when the server runs with `--insecure-no-auth`: one local admin.
    public static let insecureLocal = Principal(subject: "local", isAdmin: true)

    /// Whether this caller may see or act on a job owned by `owner`.
    public func may(access owner: String?) -> Bool { isAdmin || owner == subject }
}
