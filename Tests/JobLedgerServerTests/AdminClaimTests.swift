import Foundation
@testable import JobLedgerServer
import Testing

/// Which tokens are admins. The admin claim is a string equal to the configured value, or an
/// array with that string among its members (`roles: ["user", "admin"]`, as issuers write a list
/// of roles), compared byte for byte; nothing else is. An admin value that is empty (or only
/// white space) is refused when the verifier is made: a token whose claim were `""` would be an
/// admin. Tokens signed with the harness's secret, with the claims as JSON.
@Suite struct AdminClaimTests {
    static let exp = TokenVerifierHeaderTests.now / 1000 + 60

    /// Whether a token with `claim: <json>` is an admin under `configuration`.
    static func isAdmin(_ json: String, claim: String = "role", _ configuration: AuthConfiguration = AuthConfiguration(hs256Secret: ServerHarness.secret)) async throws -> Bool {
        let verifier = try await TokenVerifier(configuration: configuration, now: { TokenVerifierHeaderTests.now })
        let token = TokenVerifierHeaderTests.token(header: #"{"alg":"HS256","typ":"JWT"}"#,
                                                   claims: #"{"sub":"user_alice","exp":\#(exp),"\#(claim)":\#(json)}"#)
        return try await verifier.verify(token).isAdmin
    }

    @Test(arguments: [
        #""admin""#,
        #"["admin"]"#,
        #"["user","admin"]"#,
        #"["admin","admin"]"#,
        #"[1,null,{"a":1},"admin"]"#,
    ])
    func theValueOrAnArrayHoldingItIsAnAdmin(json: String) async throws {
        #expect(try await Self.isAdmin(json), "\(json)")
    }

    @Test(arguments: [
        #""Admin""#, #""ADMIN""#, #"" admin""#, #""admin ""#, #""admin,user""#, #""admin user""#, #""""#,
        #"["Admin"]"#, #"[["admin"]]"#, #"[{"admin":true}]"#, #"[{"role":"admin"}]"#, #"[]"#, #"[""]"#,
        #"{"admin":true}"#, #"{"role":"admin"}"#, "true", "1", "null",
    ])
    func nothingElseIs(json: String) async throws {
        #expect(try await !Self.isAdmin(json), "\(json)")
    }

    /// Swift's `==` takes canonically equivalent strings as equal: `;` and U+037E GREEK QUESTION
    /// MARK (whose decomposition is `;`) were the same admin value.
    @Test func theValueIsComparedByteForByte() async throws {
        let c = AuthConfiguration(hs256Secret: ServerHarness.secret, adminValue: "ops;admin")
        #expect(try await Self.isAdmin(#""ops;admin""#, c))
        #expect(try await !Self.isAdmin(#""ops\u037eadmin""#, c))
        #expect(try await !Self.isAdmin(#"["ops\u037eadmin"]"#, c))
    }

    /// Clerk's organisation role (session token version 1: `org_role`, a string).
    @Test func anotherClaimAndValueAsClerkOrganisationsUseThem() async throws {
        let c = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: "org_role", adminValue: "org:admin")
        #expect(try await Self.isAdmin(#""org:admin""#, claim: "org_role", c))
        #expect(try await !Self.isAdmin(#""org:member""#, claim: "org_role", c))
        #expect(try await !Self.isAdmin(#""org:admin""#, claim: "role", c))
        let roles = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: "roles")
        #expect(try await Self.isAdmin(#"["editor","admin"]"#, claim: "roles", roles))
    }

    /// Clerk's session tokens of version 2 put the organisation's role inside the `o` object
    /// (`"o": {"id": …, "rol": "admin"}`): a claim name with dots is a path through nested
    /// objects, unless the token has a top-level claim of that very name (a namespaced claim such
    /// as `https://example.com/roles` holds dots too, and is read as it is).
    @Test func aDottedClaimNameReachesIntoNestedObjectsAsClerksOrganisationRole() async throws {
        let c = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: "o.rol")
        #expect(try await Self.isAdmin(#"{"id":"org_1","rol":"admin","slg":"acme"}"#, claim: "o", c))
        #expect(try await !Self.isAdmin(#"{"id":"org_1","rol":"member"}"#, claim: "o", c))
        #expect(try await Self.isAdmin(#"{"rol":["member","admin"]}"#, claim: "o", c))
        for nowhere in [#""admin""#, #"["admin"]"#, #"{"rol":{"admin":true}}"#, #"{"o":{"rol":"admin"}}"#, #"{}"#, "null"] {
            #expect(try await !Self.isAdmin(nowhere, claim: "o", c), "\(nowhere)")
        }
        #expect(try await !Self.isAdmin(#"{"rol":"admin"}"#, claim: "org", c))
        let deeper = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: "app.access.role")
        #expect(try await Self.isAdmin(#"{"access":{"role":"admin"}}"#, claim: "app", deeper))
        #expect(try await !Self.isAdmin(#"{"access":"admin"}"#, claim: "app", deeper))
        // A top-level claim whose name holds dots is read as it is.
        let namespaced = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: "https://example.com/roles")
        #expect(try await Self.isAdmin(#"["admin"]"#, claim: "https://example.com/roles", namespaced))
        #expect(try await Self.isAdmin(#""admin""#, claim: "o.rol", c))
        // An empty step leads nowhere.
        for broken in ["o..rol", "o.", ".rol"] {
            let b = AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: broken)
            #expect(try await !Self.isAdmin(#"{"rol":"admin","":{"rol":"admin"}}"#, claim: "o", b), "\(broken)")
        }
    }

    /// An empty value made a token whose claim is `""` (or `[""]`) an admin; one of white space
    /// only is as unlikely to be meant. Refused when the verifier is made, naming the variable.
    @Test(arguments: ["", " ", "\n", "\t "])
    func anEmptyAdminValueOrClaimIsRefused(blank: String) async throws {
        for (c, variable) in [(AuthConfiguration(hs256Secret: ServerHarness.secret, adminValue: blank), "JOBLEDGER_AUTH_ADMIN_VALUE"),
                              (AuthConfiguration(hs256Secret: ServerHarness.secret, adminClaim: blank), "JOBLEDGER_AUTH_ADMIN_CLAIM")] {
            do {
                _ = try await TokenVerifier(configuration: c)
                Issue.record("\(blank.debugDescription): the verifier was made")
            } catch {
                guard case .invalid(let v, _) = error else { Issue.record("\(error)"); continue }
                #expect(v == variable, "\(error)")
                #expect(!error.description.contains(ServerHarness.secret))
            }
        }
    }

    /// From the environment an empty variable is unset (every variable reads so): the default
    /// `admin`, never an empty value. One that is set but only white space (spaces, a tab, a
    /// line break) is refused, naming the variable: trimmed to nothing, "  " was the default.
    @Test func anEmptyVariableIsTheDefault() async throws {
        let c = try #require(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": ServerHarness.secret,
                                                                 "JOBLEDGER_AUTH_ADMIN_CLAIM": "", "JOBLEDGER_AUTH_ADMIN_VALUE": ""]))
        #expect(c.adminClaim == "role" && c.adminValue == "admin")
        #expect(try await !Self.isAdmin(#""""#, c))
        #expect(try await !Self.isAdmin(#"[""]"#, c))
        for variable in ["JOBLEDGER_AUTH_ADMIN_CLAIM", "JOBLEDGER_AUTH_ADMIN_VALUE"] {
            for blank in ["  ", "\t", " \t ", "\n"] {
                let error = #expect(throws: ServerConfigurationError.self) {
                    try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": ServerHarness.secret, variable: blank])
                }
                let text = error.map { "\($0)" } ?? ""
                #expect(text.contains(variable) && text.contains("white space"), "\(variable)=\(blank.debugDescription): \(text)")
            }
        }
        // Padding round a value is still trimmed.
        let padded = try #require(try AuthConfiguration(environment: ["JOBLEDGER_AUTH_HS256_SECRET": ServerHarness.secret,
                                                                      "JOBLEDGER_AUTH_ADMIN_VALUE": " admin\t"]))
        #expect(padded.adminValue == "admin")
    }
}
