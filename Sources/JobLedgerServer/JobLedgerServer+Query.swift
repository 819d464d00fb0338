import Hummingbird

extension JobLedgerServer {
    /// The one value of the query parameter `name`, nil when absent. Given twice
    /// (`?limit=5&limit=500`) it is refused (422 `invalid-field` naming it), not read as its
    /// first value: a client, or a proxy in front of the server, may mean the other one, and
    /// the answer would then silently be for a request nobody sent.
    static func queryValue(_ name: String, in request: Request) throws(Problem) -> String? {
        let values = request.uri.queryParameters.getAll(name)
        guard values.count <= 1 else {
            throw Problem.invalid(name, "\(name) was given \(values.count) times; give it once")
        }
        return values.first
    }

    /// Refuses (422 `invalid-field` naming it) a query parameter the route does not read: a
    /// misspelt or percent-encoded filter (`?stat=failed`, `?st%61te=failed`) was ignored, and
    /// the answer looked filtered while it held every job.
    static func onlyParameters(_ known: Set<String>, in request: Request) throws(Problem) {
        for (name, _) in request.uri.queryParameters where !name.isEmpty {  // `?&limit=5`: a stray `&`
            let text = String(name)
            guard known.contains(where: { $0.utf8.elementsEqual(text.utf8) }) else {
                throw Problem.invalid(Problem.quoted(text), "unknown parameter \(Problem.quoted(text)) (this route reads \(known.sorted().joined(separator: ", ")))")
            }
        }
    }

    /// Whether `text` is one or more ASCII decimal digits and nothing else (no sign, no space):
    /// a seq or a count as the OpenAPI document's `^[0-9]+$` has it (`Int64` alone also reads
    /// `+1` as 1).
    static func isDigits(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
