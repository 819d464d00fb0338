/// A configuration `jobledger serve` refuses to start with. Names the variable, never its value.
public enum ServerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A variable is set to something unusable.
    case invalid(variable: String, reason: String)
    /// Neither `JOBLEDGER_AUTH_HS256_SECRET` nor `JOBLEDGER_AUTH_JWKS` is set, and
    /// `--insecure-no-auth` was not given.
    case noAuth
    /// Both `JOBLEDGER_AUTH_HS256_SECRET` and `JOBLEDGER_AUTH_JWKS` are set: `serve` takes one.
    case secretAndJWKS
    /// `--insecure-no-auth` with a host that is not loopback.
    case insecureNotLoopback(host: String)

    /// `VARIABLE: <why>`, or what to set or pass instead; never a variable's value.
    public var description: String {
        switch self {
        case .invalid(let v, let r): "\(v): \(r)"
        case .noAuth:
            "no authentication configured: set JOBLEDGER_AUTH_HS256_SECRET or JOBLEDGER_AUTH_JWKS (see Docs/Serve.md), "
                + "or pass --insecure-no-auth for a local try-out (loopback only)"
        case .secretAndJWKS:
            "JOBLEDGER_AUTH_HS256_SECRET and JOBLEDGER_AUTH_JWKS are both set; serve verifies tokens with one of them: "
                + "unset JOBLEDGER_AUTH_HS256_SECRET to take the issuer's keys (JWKS), or JOBLEDGER_AUTH_JWKS to take the secret's tokens "
                + "(a secret left beside the keys lets whoever holds it sign in as anyone, admins included; see Docs/Serve.md)"
        case .insecureNotLoopback(let h):
            "--insecure-no-auth binds to loopback only; --host \(h) is not a loopback address (use 127.0.0.1, ::1 or localhost)"
        }
    }
}
