/// Why a request's token was refused: each is a 401 whose `detail` says this, and none carries
/// the token or a key.
public enum AuthFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// No `Authorization: Bearer`, `__session` cookie or (on the stream) `access_token`.
    case missing
    /// Not three base64url parts with a JSON header and payload.
    case malformed(String)
    /// `alg: none`, an algorithm this server does not verify with, or one of the other family
    /// (an HS256 token when only JWKS keys are configured: algorithm confusion).
    case algorithm(String)
    /// The signature does not verify with the configured key.
    case signature
    /// The token's `kid` names no key of the JWKS (after the refetch it may have prompted):
    /// it is not tried with another key.
    case unknownKey
    /// `exp` is missing.
    case noExpiry
    /// `exp` has passed (beyond the leeway).
    case expired
    /// `nbf` is still ahead (beyond the leeway).
    case notYetValid
    /// `iss` is not the configured issuer.
    case issuer
    /// `aud` does not name a configured audience.
    case audience
    /// `azp` is not one of the configured authorized parties.
    case authorizedParty
    /// `sub` is missing, empty, too long, only white space, or holds control characters or line separators.
    case subject

    /// A short reason (`the token has expired`), sent as the 401's `detail`; never the token.
    public var description: String {
        switch self {
        case .missing: "no bearer token"
        case .malformed(let why): "malformed token: \(why)"
        case .algorithm(let why): "algorithm refused: \(why)"
        case .signature: "the signature does not verify"
        case .unknownKey: "no key of the JWKS has the token's kid"
        case .noExpiry: "the token has no exp claim"
        case .expired: "the token has expired"
        case .notYetValid: "the token is not valid yet (nbf)"
        case .issuer: "the token's issuer is not accepted"
        case .audience: "the token's audience is not accepted"
        case .authorizedParty: "the token's authorized party (azp) is not accepted"
        case .subject: "the token has no usable sub claim"
        }
    }
}
