/// An `If-Match` request header (RFC 9110 § 13.1.1) and its strong comparison (§ 8.8.3.2):
/// `*`, which any current representation matches, or a list of entity tags, of which only a
/// strong one equal to a strong current `ETag` matches. A weak tag matches nothing, on either
/// side: the blobs' ETags are weak (from the file's time and size), so only `*` passes there.
struct IfMatch: Equatable, Sendable {
    /// `*`: any current representation matches.
    var any: Bool
    /// The strong tags listed, quotes included (a weak one can never match, and is dropped).
    var strongTags: [Substring]

    /// The header's values (one per line), or nil when there are none.
    init?(_ values: [String]) {
        guard !values.isEmpty else { return nil }
        any = false
        strongTags = []
        for value in values {
            for member in IfNoneMatch.members(value) {
                if member == "*" { any = true } else if !member.hasPrefix("W/"), let tag = IfNoneMatch.opaqueTag(member) { strongTags.append(tag) }
            }
        }
    }

    /// Whether a resource whose current ETag is `etag` passes the condition.
    func matches(etag: String) -> Bool {
        if any { return true }
        guard !etag.hasPrefix("W/"), let current = IfNoneMatch.opaqueTag(Substring(etag)) else { return false }
        return strongTags.contains(current)
    }
}
