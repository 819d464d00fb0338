import Foundation

/// How `jobledger serve` authenticates callers, read from the environment:
///
/// | variable | meaning |
/// | --- | --- |
/// | `JOBLEDGER_AUTH_HS256_SECRET` | an HS256 secret (local try-outs, a backend that mints its own tokens) |
/// | `JOBLEDGER_AUTH_JWKS` | a JWKS file path or `https://` URL (RS256 / ES256 keys, as Clerk publishes them) |
/// | `JOBLEDGER_AUTH_ISSUER` | when set, the required `iss` |
/// | `JOBLEDGER_AUTH_AUDIENCE` | when set, a required `aud` (comma-separated: any of them) |
/// | `JOBLEDGER_AUTH_AUTHORIZED_PARTIES` | when set, an `azp` present must be one of these origins (comma-separated) |
/// | `JOBLEDGER_AUTH_ADMIN_CLAIM` | the claim that marks an admin, `role` by default; a name with dots that is not a top-level claim of the token is a path through nested objects (`o.rol`, Clerk's organisation role in session tokens of version 2) |
/// | `JOBLEDGER_AUTH_ADMIN_VALUE` | its value for an admin, `admin` by default: the claim is that string, or an array with that string among its members (`["user", "admin"]`), compared byte for byte; nothing else is (a number, an object, a nested array, `"admin,user"`) |
/// | `JOBLEDGER_AUTH_LEEWAY_SECONDS` | clock skew allowed on `exp` and `nbf`, 5 by default (0…300) |
///
/// One of the secret and the JWKS, not both: with both set `init(environment:)` refuses
/// (`ServerConfigurationError.secretAndJWKS`), since a secret left over from a try-out beside an
/// issuer's keys would let whoever holds it mint any caller, admins included. A program that
/// embeds the server may still pass both to `init(hs256Secret:jwks:…)`: each algorithm family is
/// then verified with its own keys, under the same issuer, audience and admin rules.
///
/// Values are never printed: errors name the variable only. An empty value counts as unset, as
/// for every variable (`JOBLEDGER_AUTH_ADMIN_VALUE=` is the default `admin`); an admin claim or
/// value that is only white space is refused (`checkAdminClaim()`): a token whose claim were
/// empty (a template's missing field) would be an admin.
public struct AuthConfiguration: Sendable, Equatable {
    /// The HS256 secret, when configured.
    public var hs256Secret: String?
    /// The JWKS location (file path or URL), when configured.
    public var jwks: String?
    /// The required issuer.
    public var issuer: String?
    /// The accepted audiences (any one must be in `aud`); empty: `aud` is not checked.
    public var audiences: [String]
    /// The accepted `azp` origins; empty: `azp` is not checked.
    public var authorizedParties: [String]
    /// The name of the claim that marks an admin: a top-level claim, or a dotted path into
    /// nested objects (`o.rol`) when the token has no top-level claim of that name.
    public var adminClaim: String
    /// The admin claim's value for an admin: the claim is this string, or an array holding it.
    public var adminValue: String
    /// The allowed clock skew, in seconds.
    public var leewaySeconds: Int64

    /// A configuration from its parts (tests; `init(environment:)` reads the variables).
    public init(hs256Secret: String? = nil, jwks: String? = nil, issuer: String? = nil, audiences: [String] = [],
                authorizedParties: [String] = [], adminClaim: String = "role", adminValue: String = "admin", leewaySeconds: Int64 = 5) {
        self.hs256Secret = hs256Secret; self.jwks = jwks; self.issuer = issuer; self.audiences = audiences
        self.authorizedParties = authorizedParties; self.adminClaim = adminClaim; self.adminValue = adminValue
        self.leewaySeconds = leewaySeconds
    }

    /// Reads the variables; nil when neither a secret nor a JWKS is set (the caller decides
    /// whether that is allowed: `--insecure-no-auth`).
    /// Each value is read without the white space and line breaks at its ends: a secret or URL
    /// put in the environment from a file (a Kubernetes secret, an `.env` line) often ends with
    /// a newline, which was kept and made every token's signature fail (401s) for no visible reason.
    public init?(environment: [String: String]) throws(ServerConfigurationError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else { return nil }
            return v
        }
        func list(_ name: String) -> [String] {
            (value(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        }
        // An admin claim or value that is set but only white space is kept as it is, so that
        // `checkAdminClaim()` refuses it: trimmed to nothing, it read as unset, the default
        // `admin`, and a template's blank went unnoticed.
        func adminSetting(_ name: String, default fallback: String) -> String {
            guard let raw = environment[name], !raw.isEmpty else { return fallback }
            let v = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            return v.isEmpty ? raw : v
        }
        let secret = value("JOBLEDGER_AUTH_HS256_SECRET"), jwks = value("JOBLEDGER_AUTH_JWKS")
        guard secret != nil || jwks != nil else { return nil }
        // Both were taken, silently: two roots of trust, one of them perhaps forgotten.
        guard secret == nil || jwks == nil else { throw .secretAndJWKS }
        if let secret, secret.utf8.count < 32 {
            throw .invalid(variable: "JOBLEDGER_AUTH_HS256_SECRET", reason: "must be at least 32 bytes")
        }
        var leeway: Int64 = 5
        if let l = value("JOBLEDGER_AUTH_LEEWAY_SECONDS") {
            guard let n = Int64(l), (0...300).contains(n) else {
                throw .invalid(variable: "JOBLEDGER_AUTH_LEEWAY_SECONDS", reason: "must be a whole number of seconds, 0…300")
            }
            leeway = n
        }
        self.init(hs256Secret: secret, jwks: jwks, issuer: value("JOBLEDGER_AUTH_ISSUER"), audiences: list("JOBLEDGER_AUTH_AUDIENCE"),
                  authorizedParties: list("JOBLEDGER_AUTH_AUTHORIZED_PARTIES"),
                  adminClaim: adminSetting("JOBLEDGER_AUTH_ADMIN_CLAIM", default: "role"),
                  adminValue: adminSetting("JOBLEDGER_AUTH_ADMIN_VALUE", default: "admin"),
                  leewaySeconds: leeway)
        try checkAdminClaim()
    }

    /// Refuses an admin claim name or value that is empty or only white space (from the
    /// environment an empty variable is unset, the default; one of spaces, tabs or line breaks
    /// is refused; a program may pass anything): with an empty value, a token whose claim is
    /// `""`, as a session-token template renders a missing field, would be an admin. Run by
    /// `init(environment:)` and `TokenVerifier.init`.
    public func checkAdminClaim() throws(ServerConfigurationError) {
        if adminClaim.allSatisfy(\.isWhitespace) {
            throw .invalid(variable: "JOBLEDGER_AUTH_ADMIN_CLAIM", reason: "must name a claim (it is empty or only white space)")
        }
        if adminValue.allSatisfy(\.isWhitespace) {
            throw .invalid(variable: "JOBLEDGER_AUTH_ADMIN_VALUE",
                           reason: "must not be empty or only white space: a token whose admin claim were empty would be an admin")
        }
    }
}
