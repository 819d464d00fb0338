import Foundation

/// A stream entry's fields as the intake reads them: texts by name, plus the names of fields
/// whose value is not UTF-8 text (a binary thumbnail a web app put beside the job's fields).
///
/// Read as one `[String: String]` that was nil when any value was not UTF-8, such an entry was
/// taken for one deleted while pending: acknowledged, and lost without a word.
struct StreamEntryFields {
    /// The UTF-8 fields, by name.
    var texts: [String: String] = [:]
    /// Names of the fields whose value is not UTF-8 (a field whose name is not UTF-8 is left out).
    var binary: Set<String> = []
    /// `[field, value, …]` as the dead-letter stream keeps them: a value that is not UTF-8 as
    /// `base64:` and its bytes in base64 (the REST API carries text only).
    var raw: [String] = []

    /// The fields of `reply` (`[field, value, …]`); nil when it is not such a list, as for an
    /// entry deleted from the stream while pending.
    init?(_ reply: RedisValue) {
        guard let a = reply.array, a.count % 2 == 0 else { return nil }
        var i = 0
        while i < a.count {
            defer { i += 2 }
            let name = a[i].string, value = a[i + 1].string
            raw.append(name ?? "base64:" + Self.bytes(a[i]).base64EncodedString())
            raw.append(value ?? "base64:" + Self.bytes(a[i + 1]).base64EncodedString())
            guard let name else { continue }
            if let value { texts[name] = value } else { binary.insert(name) }
        }
    }

    private static func bytes(_ v: RedisValue) -> Data {
        if case .bytes(let d) = v { return d }
        return Data(v.description.utf8)
    }
}
