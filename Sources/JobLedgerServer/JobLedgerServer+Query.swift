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
}
