import HTTPTypes
import Hummingbird
import Synchronization

/// Which methods the router answers on a path, for a request whose method has no route there:
/// 405 Method Not Allowed with `Allow` (RFC 9110 § 15.5.6) rather than a 404 that says the
/// resource does not exist (`DELETE /api/jobs/{id}`, `OPTIONS /api/jobs`, `GET /api/design`).
/// Learnt from the router's own routes once they are all added (`learn`), so it cannot drift
/// from them; every GET route also answers HEAD (`autoGenerateHeadEndpoints`).
final class AllowedMethods: Sendable {
    private let table = Mutex<[(path: RouterPath, methods: [HTTPRequest.Method])]>([])
    /// Paths answered by a middleware rather than a route (`/blobs/…`, the folder's files):
    /// everything under the prefix answers these methods.
    private let prefixes = Mutex<[(prefix: String, methods: [HTTPRequest.Method])]>([])

    /// Takes in `routes`, the router's once every route is added.
    func learn(_ routes: [Router<BasicRequestContext>.RouteDescription]) {
        var byPath: [(path: RouterPath, methods: [HTTPRequest.Method])] = []
        for r in routes {
            if let i = byPath.firstIndex(where: { $0.path == r.path }) { byPath[i].methods.append(r.method) } else { byPath.append((r.path, [r.method])) }
        }
        let table = byPath.map { entry in
            var m = entry.methods
            if m.contains(.get), !m.contains(.head) { m.append(.head) }
            return (path: entry.path, methods: m)
        }
        self.table.withLock { $0 = table }
    }

    /// Takes in a prefix whose paths a middleware answers with `methods` (a `PUT` of a blob is
    /// a 405 with `Allow: GET, HEAD`, not a 404).
    func learn(prefix: String, methods: [HTTPRequest.Method]) {
        prefixes.withLock { $0.append((prefix.hasSuffix("/") ? prefix : prefix + "/", methods)) }
    }

    /// Whether some route answers on `path`, but none with `method`.
    func refuses(_ method: HTTPRequest.Method, on path: String) -> Bool {
        let methods = methods(for: path)
        return !methods.isEmpty && !methods.contains(method)
    }

    /// The methods some route answers on `path` (sorted, no repeats); empty when none does.
    func methods(for path: String) -> [HTTPRequest.Method] {
        if let entry = prefixes.withLock({ $0 }).first(where: { path.hasPrefix($0.prefix) && path.count > $0.prefix.count }) {
            return entry.methods.map(\.rawValue).sorted().compactMap { HTTPRequest.Method($0) }
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var found: Set<String> = []
        for route in table.withLock({ $0 }) where route.path.components.count == segments.count {
            if zip(route.path.components, segments).allSatisfy({ $0 ~= $1 }) { found.formUnion(route.methods.map(\.rawValue)) }
        }
        return found.sorted().compactMap { HTTPRequest.Method($0) }
    }
}
