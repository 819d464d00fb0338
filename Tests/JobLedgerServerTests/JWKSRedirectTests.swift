import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import JobLedgerServer
import Testing

/// A JWKS URL that answers a redirect: `URLSession.shared` followed it, so an `https://` URL
/// redirected to a plain `http://` one (or to another host) gave the server keys fetched from
/// wherever the answer pointed. No redirect is followed now: the set is refused, saying what kind
/// of place the redirect pointed to (never the URL), and its target is never fetched. Over
/// loopback HTTP (no TLS here), so the rule shown is the one for every redirect.
@Suite struct JWKSRedirectTests {
    @Test func aRedirectIsRefusedAndNotFollowed() async throws {
        let jwks = JWKSServer()
        try jwks.serve(try SigningKeys.jwks(rsa: ["rsa1": try SigningKeys.rsa()]))
        try await jwks.run { base in
            let port = try #require(URL(string: base)?.port)
            let keys = "/.well-known/jwks.json"
            for status in [301, 302, 303, 307, 308] {
                try await JWKSURLTests.expectRefused("\(base)/redirect/\(status)?to=\(keys)&token=url-secret",
                                                     because: "the JWKS URL answered a redirect (HTTP \(status) to an http:// URL on the same host), which is not followed")
            }
            // Another host name for the same server, and an absolute Location.
            let away = "http://localhost:\(port)\(keys)".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            try await JWKSURLTests.expectRefused("\(base)/redirect/302?to=\(away)", because: "to an http:// URL on another host")
            #expect(jwks.fetches == 0, "a redirect's target was fetched")
            // The set itself, asked for where it is, is read.
            let configuration = try #require(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_JWKS": "\(base)\(keys)"]))
            _ = try await TokenVerifier(configuration: configuration)
            #expect(jwks.fetches == 1)
        }
    }

    /// How an `https://` JWKS URL's redirect is said (no TLS server here to send one): a
    /// downgrade to plain HTTP is named as one; the answer of another URL than the one asked for
    /// (a redirect followed after all) is refused too.
    @Test func aDowngradeIsNamedAsOne() throws {
        let requested = try #require(URL(string: "https://clerk.example.com/.well-known/jwks.json?token=url-secret"))
        func refusal(_ status: Int, _ location: String?, url: String? = nil) throws -> String? {
            let response = try #require(HTTPURLResponse(url: URL(string: url ?? requested.absoluteString)!, statusCode: status, httpVersion: "HTTP/1.1",
                                                        headerFields: location.map { ["Location": $0] } ?? [:]))
            return JWKSRedirectRefusal.refusal(response, requested: requested)
        }
        let cases: [(Int, String, String)] = [
            (301, "http://clerk.example.com/.well-known/jwks.json", "HTTP 301 to a plain http:// URL on the same host"),
            (302, "https://evil.example/jwks.json?token=x", "HTTP 302 to an https:// URL on another host"),
            (307, "/v2/jwks.json", "HTTP 307 to an https:// URL on the same host"),
            (308, "https://clerk.example.com:8443/jwks.json", "HTTP 308 to an https:// URL on the same host, another port"),
        ]
        for (status, location, said) in cases {
            let why = try #require(try refusal(status, location), "\(status) \(location)")
            #expect(why.contains(said) && why.contains("JOBLEDGER_AUTH_JWKS"), "\(why)")
            #expect(!why.contains("example") && !why.contains("token"), "the URL was said: \(why)")
        }
        #expect(try refusal(200, nil) == nil)
        #expect(try refusal(304, nil) == nil)   // no Location: not a redirect (and not a 200: refused as such)
        #expect(try refusal(200, nil, url: "http://clerk.example.com/.well-known/jwks.json")?.contains("followed to a plain http:// URL on the same host") == true)
    }
}
