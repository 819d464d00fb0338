/// An `If-None-Match` request header (RFC 9110 § 13.1.2) and its weak comparison (§ 8.8.3.2):
/// `*`, or a list of entity tags (`"a", W/"b"`, possibly over several header lines), each of
/// which matches a current `ETag` whose opaque tag is the same, weak or strong alike.
/// A member that is not an entity tag is ignored (a lenient reading: it can match nothing).
struct IfNoneMatch: Equatable, Sendable {
    /// `*`: any current representation matches.
    var any: Bool
    /// The opaque tags listed, quotes included, without `W/`.
    var tags: [Substring]

    /// The header's values (one per line), or nil when there are none.
    init?(_ values: [String]) {
        guard !values.isEmpty else { return nil }
        any = false
        tags = []
        for value in values {
            for member in Self.members(value) {
                if member == "*" { any = true } else if let tag = Self.opaqueTag(member) { tags.append(tag) }
            }
        }
    }

    /// Whether a resource whose current ETag is `etag` fails the condition (a GET or HEAD then
    /// gets 304): `*`, or a listed tag weakly equal to it.
    func matches(etag: String) -> Bool {
        if any { return true }
        guard let current = Self.opaqueTag(Substring(etag)) else { return false }
        return tags.contains(current)
    }

    /// The members of a list, split at commas outside quoted tags, without the spaces around them.
    static func members(_ value: String) -> [Substring] {
        var out: [Substring] = []
        var start = value.startIndex, quoted = false
        for i in value.indices {
            switch value[i] {
            case "\"": quoted.toggle()
            case "," where !quoted:
                out.append(value[start..<i]); start = value.index(after: i)
            default: break
            }
        }
        out.append(value[start...])
        return out.map { JobLedgerServer.trimmingSpaces($0) }.filter { !$0.isEmpty }
    }

    /// `"xyz"` of `W/"xyz"` or `"xyz"`; nil when `member` is not an entity tag (RFC 9110
    /// § 8.8.3: `[W/] DQUOTE *etagc DQUOTE`, where etagc is `!`, `#`–`~` or obs-text).
    static func opaqueTag(_ member: Substring) -> Substring? {
        let tag = member.hasPrefix("W/") ? member.dropFirst(2) : member
        guard tag.count >= 2, tag.first == "\"", tag.last == "\"" else { return nil }
        let inner = tag.dropFirst().dropLast()
        guard inner.utf8.allSatisfy({ $0 == 0x21 || (0x23...0x7E).contains($0) || $0 >= 0x80 }) else { return nil }
        return tag
    }
}
