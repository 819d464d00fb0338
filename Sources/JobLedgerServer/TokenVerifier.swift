import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JobLedger
import JWTKit
import Logging
import Synchronization

/// Verifies bearer JWTs (Clerk session tokens, or HS256 tokens of a local secret) and returns
/// the caller. The algorithm is decided before any key is touched: `alg: none` is refused,
/// HS256 is verified only with the configured secret and RS256/ES256 only with the JWKS keys, so
/// an HS256 token "signed" with a public key is refused (algorithm confusion). Claims are
/// checked against an injected clock: `exp` (required) and `nbf` with the leeway, `iss`, `aud`
/// and `azp` when configured.
///
/// ```swift
/// let verifier = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: secret))
/// let caller = try await verifier.verify(token)   // Principal(subject: "user_…", isAdmin: false)
/// ```
public final class TokenVerifier: Sendable {
    /// The payload jwt-kit decodes: nothing; the claims are read and checked here.
    struct SignatureOnly: JWTPayload {
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// The algorithms verified with JWKS keys.
    static let jwksAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]

    /// The secret or JWKS, and the claims checked (issuer, audiences, authorized parties, admin
    /// claim, leeway).
    public let configuration: AuthConfiguration
    private let hmac: JWTKeyCollection?
    private let jwks: Mutex<JWTKeyCollection?>
    private let knownKids: Mutex<Set<String>>
    /// When the JWKS was last fetched, and when a fetch was last tried (successful or not).
    private let fetches = Mutex<(succeeded: Int64, tried: Int64)>((0, 0))
    private let now: @Sendable () -> Int64
    /// Where a JWKS with keys left out, or a refresh that failed, is said (nil: nowhere).
    private let logger: Logger?
    /// Tokens whose signature verified, with their claims: a caller sends the same token with
    /// every request until it expires, and its signature cannot change. The claims are still
    /// checked on every request (expiry, issuer, audience); the cache is emptied whenever the
    /// JWKS is fetched again, and holds at most `verifiedLimit` tokens.
    private let verified = Mutex<[String: JSONValue]>([:])
    static let verifiedLimit = 4096
    /// The longest token read (a Clerk session token is about 1 KB).
    static let maxTokenBytes = 16_384
    /// How long a JWKS fetched from a URL is trusted before it is fetched again (by the first
    /// request after that; the requests meanwhile go on with the keys held). So a key the issuer
    /// takes out of its set (a leaked key, revoked) stops verifying within this time, even with
    /// no new `kid` to prompt a fetch. A fetch that fails keeps the keys held and is tried again
    /// a minute later.
    static let jwksMaxAgeMilliseconds: Int64 = 10 * 60_000

    /// Loads the keys (reading the JWKS file, or fetching its URL once). `now` gives
    /// milliseconds since 1970 (tests pass a fixed clock).
    public init(configuration: AuthConfiguration,
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                logger: Logger? = nil) async throws(ServerConfigurationError) {
        try configuration.checkAdminClaim()
        self.configuration = configuration
        self.now = now
        if let secret = configuration.hs256Secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            hmac = keys
        } else {
            hmac = nil
        }
        jwks = Mutex(nil)
        knownKids = Mutex([])
        self.logger = logger
        if let source = configuration.jwks {
            let (keys, kids, skipped) = try await Self.loadJWKS(source)
            if !skipped.isEmpty { logger?.warning("the JWKS has \(skipped.count) key(s) this server cannot use, left out: \(skipped.joined(separator: "; "))") }
            if source.hasPrefix("http://"), let host = URL(string: source)?.host, !["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) {
                logger?.warning("the JWKS URL is plain http to another host: anyone on the path can give this server keys; use https")
            }
            jwks.withLock { $0 = keys }
            knownKids.withLock { $0 = kids }
            let t = now()
            fetches.withLock { $0 = (t, t) }
        }
    }

    /// The caller a token proves, or why it does not.
    public func verify(_ token: String) async throws(AuthFailure) -> Principal {
        await refreshJWKSWhenStale()
        if let claims = verified.withLock({ $0[token] }) { return try check(claims) }
        guard token.utf8.count <= Self.maxTokenBytes else { throw .malformed("longer than \(Self.maxTokenBytes) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("not three dot-separated parts") }
        // One spelling per token (RFC 7515 § 2: base64url without padding, RFC 4648 § 3.5): a
        // `=` or unused low bits set in a part's last character made other strings of the same
        // token verify, each a new entry of the verified cache.
        guard parts.allSatisfy(Self.isCanonicalBase64URL) else { throw .malformed("a part is not canonical base64url (padding, or unused bits set)") }
        guard let headerData = Self.base64URL(parts[0]), let headerText = String(validating: headerData, as: UTF8.self),
              let header = try? JSONValue(parsing: headerText, exactNumbers: false),
              case .object = header else { throw .malformed("the header is not base64url JSON") }
        guard let payloadData = Self.base64URL(parts[1]), let payloadText = String(validating: payloadData, as: UTF8.self),
              let claims = try? JSONValue(parsing: payloadText, exactNumbers: false),
              case .object = claims else { throw .malformed("the payload is not base64url JSON") }
        guard let alg = header["alg"]?.stringValue, !alg.isEmpty, alg.lowercased() != "none" else {
            throw .algorithm("alg none (or no alg) is never accepted")
        }
        // RFC 7515 § 4.1.11: extensions listed in `crit` must be understood, or the token is
        // invalid. This server understands none (`b64: false`, RFC 7797, would change what the
        // signature covers), and an empty list is not allowed either.
        if header["crit"] != nil { throw .malformed("the header lists critical extensions (crit), which this server does not support") }
        let keys: JWTKeyCollection
        if alg == "HS256" {
            guard let hmac else { throw .algorithm("HS256 is not accepted here (this server verifies with its JWKS keys)") }
            keys = hmac
        } else if Self.jwksAlgorithms.contains(alg) {
            let kid = header["kid"]?.stringValue
            guard let k = try await jwksKeys(kid: kid) else {
                throw .algorithm("\(alg) is not accepted here (no JWKS is configured)")
            }
            // A `kid` the set does not hold (after the fetch it may have prompted) names no key:
            // JWTKit verified it with the set's first key instead.
            if let kid, !knownKids.withLock({ $0.contains(kid) }) { throw .unknownKey }
            keys = k
        } else {
            throw .algorithm("\(Self.shown(alg)) is not accepted")
        }
        do { _ = try await keys.verify(token, as: SignatureOnly.self) } catch { throw .signature }
        let principal = try check(claims)
        verified.withLock { v in
            if v.count >= Self.verifiedLimit { v.removeAll(keepingCapacity: true) }
            v[token] = claims
        }
        return principal
    }

    /// The JWKS keys, fetched again (at most once a minute) when a URL-sourced set lacks `kid`.
    private func jwksKeys(kid: String?) async throws(AuthFailure) -> JWTKeyCollection? {
        guard let source = configuration.jwks else { return nil }
        let known = kid.map { k in knownKids.withLock { $0.contains(k) } } ?? true
        if !known, claimFetch(stale: false) { await fetchJWKS(source) }
        return jwks.withLock { $0 }
    }

    /// Reads the JWKS (a URL or a file: a file was read only at start) again once it is
    /// `jwksMaxAgeMilliseconds` old, before the request that finds it so answers (at most 10 s:
    /// `loadJWKS`'s limit; the requests meanwhile go on with the keys held).
    private func refreshJWKSWhenStale() async {
        guard let source = configuration.jwks, claimFetch(stale: true) else { return }
        await fetchJWKS(source)
    }

    /// Whether a fetch is due — at most one try a minute, and with `stale` only once the keys
    /// held are `jwksMaxAgeMilliseconds` old; if so the caller takes it, and the requests
    /// meanwhile go on with the keys held.
    private func claimFetch(stale: Bool) -> Bool {
        let t = now()
        return fetches.withLock { f in
            guard t - f.tried >= 60_000, !stale || t - f.succeeded >= Self.jwksMaxAgeMilliseconds else { return false }
            f.tried = t
            return true
        }
    }

    /// Replaces the keys with the set at `source`; on failure keeps them (tried again at most
    /// once a minute).
    private func fetchJWKS(_ source: String) async {
        let loaded: (JWTKeyCollection, Set<String>, skipped: [String])
        do { loaded = try await Self.loadJWKS(source) } catch {
            logger?.warning("the JWKS could not be read again (\(error)); the keys held are kept, and it is tried again in a minute")
            return
        }
        let (keys, kids, skipped) = loaded
        if !skipped.isEmpty { logger?.warning("the JWKS read again has \(skipped.count) key(s) this server cannot use, left out: \(skipped.joined(separator: "; "))") }
        let t = now()
        fetches.withLock { $0.succeeded = t }
        jwks.withLock { $0 = keys }
        knownKids.withLock { $0 = kids }
        verified.withLock { $0.removeAll() }  // a key taken out of the set no longer verifies anything
    }

    /// Checks the claims of a token whose signature verified.
    func check(_ claims: JSONValue) throws(AuthFailure) -> Principal {
        let c = configuration
        let nowSeconds = Double(now()) / 1000
        guard let expValue = claims["exp"] else { throw .noExpiry }
        guard let exp = expValue.doubleValue else { throw .malformed("exp is not a number") }
        guard nowSeconds <= exp + Double(c.leewaySeconds) else { throw .expired }
        if let nbfValue = claims["nbf"] {
            guard let nbf = nbfValue.doubleValue else { throw .malformed("nbf is not a number") }
            guard nowSeconds + Double(c.leewaySeconds) >= nbf else { throw .notYetValid }
        }
        if let issuer = c.issuer, claims["iss"]?.stringValue != issuer { throw .issuer }
        if !c.audiences.isEmpty {
            let aud: [String] = switch claims["aud"] {
            case .string(let s)?: [s]
            case .array(let a)?: a.compactMap(\.stringValue)
            default: []
            }
            guard aud.contains(where: c.audiences.contains) else { throw .audience }
        }
        if !c.authorizedParties.isEmpty, let azp = claims["azp"], !azp.isNull {
            guard let party = azp.stringValue, c.authorizedParties.contains(party) else { throw .authorizedParty }
        }
        guard let sub = claims["sub"]?.stringValue, Self.isUsableSubject(sub) else { throw .subject }
        return Principal(subject: sub, isAdmin: Self.grantsAdmin(Self.claim(c.adminClaim, in: claims), value: c.adminValue))
    }

    /// Whether a `sub` can be an owner, which is a name in logs, pages and SQL that must not
    /// show as another: 1…200 bytes; no control characters (C0, DEL, C1), no line or paragraph
    /// separators, no bidirectional embeddings, overrides or isolates (U+202A…U+202E,
    /// U+2066…U+2069: "\u{202E}root admin" shows as another name, and reverses the text after
    /// it); no other invisible characters: format characters (category Cf: zero width spaces,
    /// marks, BOM: "bob\u{200B}" showed as bob, another owner), default-ignorable ones (the
    /// combining grapheme joiner, variation selectors, Hangul fillers) and the Braille blank; no
    /// white space at either end, and none but the plain space inside ("bob\u{00A0}" and
    /// "bob\u{3000}" showed as bob).
    static func isUsableSubject(_ sub: String) -> Bool {
        // Printable ASCII (what nearly every identity provider issues) has none of the above but
        // the space; looking up each scalar's Unicode properties was a microsecond of every request.
        if sub.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return !sub.isEmpty && sub.utf8.count <= 200 && sub.utf8.first != 0x20 && sub.utf8.last != 0x20
        }
        return isUsableSubjectByScalars(sub)
    }

    /// `isUsableSubject` for any text, by each scalar's Unicode properties.
    static func isUsableSubjectByScalars(_ sub: String) -> Bool {
        guard !sub.isEmpty, sub.utf8.count <= 200,
              let first = sub.unicodeScalars.first, let last = sub.unicodeScalars.last,
              !first.properties.isWhitespace, !last.properties.isWhitespace else { return false }
        return sub.unicodeScalars.allSatisfy { u in
            let v = u.value, p = u.properties
            return !(0...0x1f ~= v || 0x7f...0x9f ~= v || 0x2028...0x202e ~= v || 0x2066...0x2069 ~= v || v == 0x2800
                     || p.generalCategory == .format || p.isDefaultIgnorableCodePoint || (p.isWhitespace && v != 0x20))
        }
    }

    /// The claim named `name`: the top-level claim of that name when the token has one (a
    /// namespaced claim such as `https://example.com/roles` holds dots too), else, for a name
    /// with dots, the member it leads to through nested objects (`o.rol`: the claim `o`, its
    /// member `rol`, where Clerk's session tokens of version 2 put the organisation's role).
    /// A path with an empty step (`o..rol`, `o.`) or through a value that is not an object
    /// leads nowhere.
    static func claim(_ name: String, in claims: JSONValue) -> JSONValue? {
        if let top = claims[name] { return top }
        let steps = name.split(separator: ".", omittingEmptySubsequences: false)
        guard steps.count > 1, !steps.contains(where: \.isEmpty) else { return nil }
        var level = claims
        for step in steps {
            guard case .object(let members) = level, let next = members[String(step)] else { return nil }
            level = next
        }
        return level
    }

    /// Whether the admin claim's value marks an admin: a string that is `value`, or an array with
    /// a member that is (`roles: ["user", "admin"]`, as issuers write a list of roles). Compared
    /// byte for byte, as the subject is: `Admin` is not `admin`, nor is a canonically equivalent
    /// spelling (`;` written as U+037E), which Swift's `==` would take. Anything else is not: a
    /// string that only contains the value (`"admin,user"`), a number, a bool, null, an object,
    /// and an array's members that are not strings (`[["admin"]]`, `[{"admin": true}]`).
    static func grantsAdmin(_ claim: JSONValue?, value: String) -> Bool {
        func same(_ s: String) -> Bool { s.utf8.elementsEqual(value.utf8) }
        switch claim {
        case .string(let s)?: return same(s)
        case .array(let members)?: return members.contains { if case .string(let s) = $0 { same(s) } else { false } }
        default: return false
        }
    }

    /// An `alg` as said back in an error: at most 20 characters, printable ASCII (RFC 6750 § 3's
    /// `error_description`); a 12,000-character one was echoed whole.
    static func shown(_ alg: String) -> String {
        let printable = alg.unicodeScalars.prefix(20).map { (0x20...0x7e).contains($0.value) && $0 != "\"" && $0 != "\\" ? Character($0) : "?" }
        return String(printable) + (alg.unicodeScalars.count > 20 ? "…" : "")
    }

    /// Whether `part` is base64url as RFC 7515 writes it: no padding, and the last character
    /// carrying no bits past the data (so that it decodes from one spelling only).
    static func isCanonicalBase64URL(_ part: Substring) -> Bool {
        guard let data = base64URL(part) else { return false }
        var text = data.base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        text = String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
        return text == part
    }

    /// Decodes unpadded base64url.
    static func base64URL(_ s: Substring) -> Data? {
        var bytes = Array(s.utf8)
        for i in bytes.indices {
            switch bytes[i] {
            case UInt8(ascii: "-"): bytes[i] = UInt8(ascii: "+")
            case UInt8(ascii: "_"): bytes[i] = UInt8(ascii: "/")
            default: break
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(bytes))
    }
}
