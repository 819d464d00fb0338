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

    /// Whether this caller may see or act on a job owned by `owner`. The owner and the subject are
    /// compared byte for byte, as the jobs list's SQL does: Swift's `String ==` calls the same text
    /// in two Unicode forms (`é` and `e` + U+0301) equal, and an identity provider may issue both
    /// as two users.
    public func may(access owner: String?) -> Bool {
        isAdmin || owner.map { $0.utf8.elementsEqual(subject.utf8) } ?? false
    }

    /// Equal when the subjects are the same bytes and the admin flags agree.
    public static func == (a: Principal, b: Principal) -> Bool {
        a.isAdmin == b.isAdmin && a.subject.utf8.elementsEqual(b.subject.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(isAdmin)
        for byte in subject.utf8 { hasher.combine(byte) }
    }
}
