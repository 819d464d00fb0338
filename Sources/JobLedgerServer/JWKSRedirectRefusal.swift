import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Keeps a JWKS fetch from following redirects. `URLSession.shared` followed them: a redirect
/// from the configured `https://` URL to a plain `http://` one (or to another host) had the
/// server take its keys from wherever the answer pointed, over a channel anyone on the path can
/// write to, and every token those keys sign verifies. The keys are the root of trust, so the
/// rule is the simplest one: no redirect is followed, whatever its target; the 3xx itself is the
/// answer, and `refusal` words it (`JOBLEDGER_AUTH_JWKS` is to name the URL the keys are at).
final class JWKSRedirectRefusal: NSObject, URLSessionTaskDelegate, Sendable {
    static let shared = JWKSRedirectRefusal()
    /// The session of every JWKS fetch: ephemeral (no cookies, no cache), with this delegate.
    /// Made once and kept (a session holds its delegate until invalidated).
    static let session = URLSession(configuration: .ephemeral, delegate: shared, delegateQueue: nil)

    /// Declines the redirect: the task completes with the 3xx response.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    /// Why `response` to a fetch of `requested` is not a JWKS to read, when it is a redirect (a
    /// 3xx with a `Location`), or the answer of another URL than the one asked for (a redirect
    /// followed after all): where it points, as a kind of place (the scheme, and whether the host
    /// is the same), never the URL itself, which may carry a credential as the configured one may.
    static func refusal(_ response: HTTPURLResponse, requested: URL) -> String? {
        let location = response.value(forHTTPHeaderField: "Location")
        let redirect = (300...399).contains(response.statusCode) && location != nil
        let elsewhere = response.url.map { $0.absoluteString != requested.absoluteString } ?? false
        guard redirect || elsewhere else { return nil }
        let target = redirect ? location.flatMap { URL(string: $0, relativeTo: requested)?.absoluteURL } : response.url
        var place = "another location"
        if let target {
            let scheme = target.scheme?.lowercased() ?? "?"
            let host = target.host?.lowercased() != requested.host?.lowercased() ? "on another host"
                : target.port != requested.port ? "on the same host, another port" : "on the same host"
            let downgrade = requested.scheme?.lowercased() == "https" && scheme == "http"
            place = "\(downgrade ? "a plain " : "an ")\(scheme):// URL \(host)"
        }
        return "the JWKS URL answered a redirect (\(redirect ? "HTTP \(response.statusCode)" : "followed") to \(place)), which is not followed: "
            + "a key set is read only from the URL configured; set JOBLEDGER_AUTH_JWKS to the URL the keys are at"
    }
}
