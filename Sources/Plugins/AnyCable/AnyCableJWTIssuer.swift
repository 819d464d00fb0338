import Foundation
import JobLedger
import JWTKit

/// Issues the JWTs AnyCable's JWT identification accepts (`?jid=<token>` on the WebSocket URL),
/// so the server can identify a browser's connection without an RPC call.
///
/// Tokens are HS256, with claims `ext` (the identifiers as a JSON-encoded *string*), `exp`, and
/// `iat` unless turned off. JSON is written with sorted keys and unescaped `/`, so equal inputs
/// give byte-equal tokens.
///
/// ```swift
/// let config = try AnyCableConfiguration()
/// let issuer = try await AnyCableJWTIssuer(configuration: config)
/// let token = try await issuer.token(identifiers: ["user_id": 42])   // valid for an hour
/// // the browser connects to "\(config.publicURL!)?jid=\(token)"
/// ```
public struct AnyCableJWTIssuer: Sendable {
    /// The claims AnyCable reads.
    struct Claims: JWTPayload, Equatable {
        /// JSON text of the connection identifiers object, e.g. `{"user_id":42}`.
        var ext: String
        var exp: ExpirationClaim
        var iat: IssuedAtClaim?

        // Expiry is checked in `AnyCableJWTIssuer.verify` against an explicit clock.
        func verify(using algorithm: some JWTAlgorithm) async throws {}

        enum CodingKeys: String, CodingKey { case ext, exp, iat }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ext, forKey: .ext)
            try c.encode(exp, forKey: .exp)
            try c.encodeIfPresent(iat, forKey: .iat)
        }
    }

    /// Why a token could not be made or read. Never carries the secret or the token.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// jwt-kit could not sign (names the error's type only).
        case signing(String)
        /// The token is malformed, its signature does not verify, or its `ext` is not an object.
        case invalidToken(String)
        /// The token verified but its `exp` has passed.
        case expired

        /// `AnyCable JWT: …`, saying which of the three it is.
        public var description: String {
            switch self {
            case .signing(let m): "AnyCable JWT: could not sign: \(m)"
            case .invalidToken(let m): "AnyCable JWT: invalid token: \(m)"
            case .expired: "AnyCable JWT: the token has expired"
            }
        }
    }

    private let keys: JWTKeyCollection
    /// How long a token is valid (AnyCable's Ruby SDK defaults to an hour).
    public var ttl: Duration
    /// Whether tokens carry `iat` (the JS SDK sets it; AnyCable ignores it).
    public var includeIssuedAt: Bool

    /// An issuer with the server's JWT secret (`ANYCABLE_JWT_SECRET`, else `ANYCABLE_SECRET`).
    public init(secret: AnyCableSecret, ttl: Duration = .seconds(3600), includeIssuedAt: Bool = true) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .integerSecondsSince1970
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let keys = JWTKeyCollection(defaultJWTParser: DefaultJWTParser(jsonDecoder: decoder),
                                    defaultJWTSerializer: DefaultJWTSerializer(jsonEncoder: encoder))
        await keys.add(hmac: Self.hmacKey(secret), digestAlgorithm: .sha256,
                       parser: DefaultJWTParser(jsonDecoder: decoder), serializer: DefaultJWTSerializer(jsonEncoder: encoder))
        self.keys = keys
        self.ttl = ttl
        self.includeIssuedAt = includeIssuedAt
    }

    /// An issuer for `configuration`; fails when neither secret is set.
    public init(configuration: AnyCableConfiguration, ttl: Duration = .seconds(3600)) async throws(AnyCableConfigurationError) {
        guard let s = configuration.jwtSecret else {
            throw .missing(variable: "ANYCABLE_JWT_SECRET",
                           hint: "Set ANYCABLE_JWT_SECRET (or ANYCABLE_SECRET) to the AnyCable server's JWT secret to issue client tokens.")
        }
        await self.init(secret: s, ttl: ttl)
    }

    /// A token identifying a connection by `identifiers` (e.g. `["user_id": 42]`), valid for
    /// `ttl` from `now`.
    public func token(identifiers: [String: JSONValue], now: Date = Date()) async throws(Failure) -> String {
        let seconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        return try await token(identifiers: identifiers, expiresAt: now.addingTimeInterval(seconds),
                               issuedAt: includeIssuedAt ? now : nil)
    }

    /// A token with explicit times (whole seconds are used).
    public func token(identifiers: [String: JSONValue], expiresAt: Date, issuedAt: Date?) async throws(Failure) -> String {
        let claims = Claims(ext: JSONValue.object(identifiers).canonicalText,
                            exp: ExpirationClaim(value: Self.wholeSeconds(expiresAt)),
                            iat: issuedAt.map { IssuedAtClaim(value: Self.wholeSeconds($0)) })
        do {
            return try await keys.sign(claims)
        } catch {
            throw .signing(String(describing: type(of: error)))
        }
    }

    /// The identifiers in `token` when its signature verifies and it has not expired at `now`.
    public func verify(_ token: String, now: Date = Date()) async throws(Failure) -> [String: JSONValue] {
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw .invalidToken("signature or format does not verify")
        }
        guard claims.exp.value > now else { throw .expired }
        guard let value = try? JSONValue(parsing: claims.ext), case .object(let ids) = value else {
            throw .invalidToken("'ext' is not a JSON object text")
        }
        return ids
    }

    /// The secret as an HMAC key jwt-kit accepts. jwt-kit asserts (in debug builds, and plans
    /// a precondition) that an HS256 key has at least 32 bytes, but AnyCable accepts any secret
    /// and many deployments use shorter ones. HMAC (RFC 2104) pads every key shorter than the
    /// 64-byte block with zero bytes, so padding a short key with zeros to 32 bytes gives the
    /// same MAC: tokens are byte-identical to those signed with the secret as is (the known-answer
    /// tests sign with the 6-byte `s3cr3t` and compare with tokens made by Python's `hmac`).
    static func hmacKey(_ secret: AnyCableSecret) -> HMACKey {
        var bytes = Array(secret.reveal().utf8)
        if bytes.count < 32 { bytes += repeatElement(0, count: 32 - bytes.count) }
        return HMACKey(from: bytes)
    }

    static func wholeSeconds(_ d: Date) -> Date {
        Date(timeIntervalSince1970: d.timeIntervalSince1970.rounded(.down))
    }
}
