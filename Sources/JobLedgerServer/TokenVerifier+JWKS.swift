import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobLedger
import JWTKit

/// Reading the JWKS, from a file or a URL.
extension TokenVerifier {
    /// Why a JWKS could not be read, in words that never carry the source (a URL may hold a
    /// secret in its query).
    static func cause(_ error: any Error) -> String {
        if let e = error as? URLError {
            switch e.code {
            case .timedOut: return "the URL did not answer in time"
            case .cannotConnectToHost, .cannotFindHost, .networkConnectionLost, .notConnectedToInternet: return "cannot connect to the URL's host"
            case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid:
                return "the TLS connection failed"
            case .cancelled: return "the fetch was cancelled"
            default: return "the fetch failed (URLError \(e.code.rawValue))"
            }
        }
        if let e = error as? CocoaError {
            switch e.code {
            case .fileReadNoSuchFile: return "no such file"
            case .fileReadNoPermission: return "permission denied"
            case .fileReadInapplicableStringEncoding, .fileReadCorruptFile: return "the file is not UTF-8 text"
            default: return "the file cannot be read (CocoaError \(e.code.rawValue))"
            }
        }
        if error is CancellationError { return "the fetch was cancelled" }
        return "\(type(of: error))"
    }

    /// Reads and parses a JWKS file or URL.
    static func loadJWKS(_ source: String) async throws(ServerConfigurationError) -> (JWTKeyCollection, Set<String>, skipped: [String]) {
        let text: String
        let scheme = source.range(of: "://").map { source[..<$0.lowerBound].lowercased() }
        do {
            // A URL of another scheme (`ftp://`, `file://`) was read as a file path: "no such file".
            if let scheme, scheme != "https", scheme != "http", !scheme.contains("/") {
                throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "only an https:// (or http://) URL or a file path is read, not a URL of another scheme (such as ftp:// or file://)")
            }
            if let scheme, scheme == "https" || scheme == "http" {
                // Schemes are case-insensitive (RFC 3986 § 3.1); URLSession takes them lowercase.
                guard let url = URL(string: scheme + source.dropFirst(scheme.utf8.count)) else {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "not a valid URL")
                }
                // Bounded, and never cancelled mid-flight (on Linux, cancelling a task suspended
                // in URLSession can deadlock; see `withoutCancelling`): a refresh runs inside a
                // request, which its client may drop.
                var request = URLRequest(url: url)
                request.timeoutInterval = 10
                // 10 s in all, not only between bytes: a URL that sent a byte every few seconds
                // held the server's start (and a refresh, and a shutdown) for minutes.
                // Redirects are not followed (`JWKSRedirectRefusal`): the 3xx itself comes back.
                let (data, response) = try await withoutCancelling(within: .seconds(10)) { [request] in
                    try await JWKSRedirectRefusal.session.data(for: request, delegate: JWKSRedirectRefusal.shared)
                }
                guard let http = response as? HTTPURLResponse else {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "the JWKS URL did not answer 200")
                }
                if let refused = JWKSRedirectRefusal.refusal(http, requested: url) {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: refused)
                }
                guard http.statusCode == 200 else {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "the JWKS URL did not answer 200")
                }
                guard data.count <= Self.maxJWKSBytes else {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "the JWKS is over \(Self.maxJWKSBytes) bytes")
                }
                text = String(decoding: data, as: UTF8.self)
            } else {
                let size = (try? FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber)?.intValue ?? 0
                guard size <= Self.maxJWKSBytes else {
                    throw ServerConfigurationError.invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "the JWKS is over \(Self.maxJWKSBytes) bytes")
                }
                text = try String(contentsOfFile: source, encoding: .utf8)
            }
        } catch let e as ServerConfigurationError {
            throw e
        } catch {
            throw .invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "cannot read the JWKS (\(Self.cause(error)))")
        }
        // Each key on its own (RFC 7517 § 5: keys an implementation does not understand are
        // ignored): one key this server cannot use made the whole set unusable, so a refresh
        // kept the old keys, revoked ones included, for as long as the issuer published it.
        guard let document = try? JSONValue(parsing: text, exactNumbers: false), case .array(let entries)? = document["keys"] else {
            throw .invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "not a usable JWKS document")
        }
        guard !entries.isEmpty else { throw .invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "the JWKS has no keys") }
        let keys = JWTKeyCollection()
        var kids = Set<String>(), skipped: [String] = []
        for (i, entry) in entries.enumerated() {
            let name = entry["kid"]?.stringValue.map { "kid \(Problem.quoted($0))" } ?? "key \(i + 1)"
            if let use = entry["use"]?.stringValue, use != "sig" { skipped.append("\(name): for \(Problem.quoted(use)), not signatures"); continue }
            if case .array(let ops)? = entry["key_ops"], !ops.contains(.string("verify")) { skipped.append("\(name): key_ops without verify"); continue }
            do {
                let one = try JSONDecoder().decode(JWKS.self, from: Data(JSONValue.object(["keys": .array([entry])]).canonicalText.utf8))
                try await keys.add(jwks: one)
                if let kid = entry["kid"]?.stringValue { kids.insert(kid) }
            } catch {
                skipped.append("\(name): not a key this server can verify with (RSA of 2048 bits or more, EC P-256/P-384/P-521 for its algorithm, each with a kid)")
            }
        }
        guard !kids.isEmpty || skipped.count < entries.count else {
            throw .invalid(variable: "JOBLEDGER_AUTH_JWKS", reason: "no key of the JWKS is usable (\(skipped.joined(separator: "; ")))")
        }
        return (keys, kids, skipped)
    }

    /// The largest JWKS read (an issuer's set is a few KB; a 250 MB one was read whole).
    static let maxJWKSBytes = 1 << 20
}
