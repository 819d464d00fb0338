import Foundation
import Testing
@testable import JobLedgerAnyCable

@Suite("AnyCable configuration")
struct ConfigurationTests {
    @Test func explicitKeyWinsOverSecret() throws {
        let c = try AnyCableConfiguration(environment: [
            "ANYCABLE_BROADCAST_URL": "http://localhost:8080/_broadcast",
            "ANYCABLE_BROADCAST_KEY": "the-key", "ANYCABLE_SECRET": "qwerty",
        ])
        #expect(c.broadcastKey?.reveal() == "the-key")
        #expect(c.keySource == .broadcastKey)
        #expect(c.broadcastURL?.absoluteString == "http://localhost:8080/_broadcast")
    }

    /// A key with a line break (pasted with its newline) left the `Authorization` header off
    /// and every broadcast refused; a URL with no path was answered 404 and every broadcast
    /// dead-lettered. Both are refused at start, naming the variable and not its value.
    @Test func aKeyWithALineBreakAndAURLWithoutAPathAreRefused() throws {
        for key in ["the\r\nkey", "the-\nkey", "k\u{7F}"] {  // (a newline at the end is trimmed, as every value is)
            let e = #expect(throws: AnyCableConfigurationError.self) {
                _ = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "http://localhost:8080/_broadcast", "ANYCABLE_BROADCAST_KEY": key])
            }
            #expect("\(String(describing: e))".contains("ANYCABLE_BROADCAST_KEY") && !"\(String(describing: e))".contains("key\u{7F}") && !"\(String(describing: e))".contains("the-\nkey"))
        }
        for url in ["http://localhost:8080", "https://cable.example.com"] {
            let e = #expect(throws: AnyCableConfigurationError.self) {
                _ = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": url, "ANYCABLE_BROADCAST_KEY": "k"])
            }
            #expect("\(String(describing: e))".contains("/_broadcast by default"), "\(String(describing: e))")
        }
        // A root path is a path: a server with --http_broadcast_path=/, or a proxy at its root.
        #expect(throws: Never.self) {
            _ = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "https://broadcast.example.com/", "ANYCABLE_BROADCAST_KEY": "k"])
        }
    }

    @Test func keyDerivedFromSecret() throws {
        let c = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "https://cable.example.com/_broadcast",
                                                        "ANYCABLE_SECRET": "qwerty"])
        #expect(c.broadcastKey?.reveal() == "42923a28b760e667fc92f7c6123bb07a282822b329dd2ef48e7aee7830d98485")
        #expect(c.keySource == .derivedFromSecret)
        // Streams and JWT secrets fall back to the secret itself, with no derivation.
        #expect(c.streamsSecret?.reveal() == "qwerty")
        #expect(c.jwtSecret?.reveal() == "qwerty")
    }

    @Test func dedicatedSecretsAndDefaults() throws {
        let c = try AnyCableConfiguration(environment: [
            "ANYCABLE_SECRET": "base", "ANYCABLE_STREAMS_SECRET": "streams", "ANYCABLE_JWT_SECRET": "jwt",
            "NEXT_PUBLIC_ANYCABLE_URL": "wss://cable.example.com/cable",
        ])
        #expect(c.streamsSecret?.reveal() == "streams")
        #expect(c.jwtSecret?.reveal() == "jwt")
        #expect(c.publicURL == "wss://cable.example.com/cable")
        #expect(c.broadcastURL == nil)
        #expect(c.batchSize == 100)
        #expect(c.linger == .milliseconds(5))
        #expect(c.requestTimeout == .seconds(10))
    }

    @Test func tuningVariables() throws {
        let c = try AnyCableConfiguration(environment: [
            "JOBLEDGER_ANYCABLE_BATCH_SIZE": "7", "JOBLEDGER_ANYCABLE_LINGER_MS": "0", "JOBLEDGER_ANYCABLE_TIMEOUT_MS": "2500",
        ])
        #expect(c.batchSize == 7)
        #expect(c.linger == .zero)
        #expect(c.requestTimeout == .milliseconds(2500))
        #expect(throws: AnyCableConfigurationError.self) {
            _ = try AnyCableConfiguration(environment: ["JOBLEDGER_ANYCABLE_BATCH_SIZE": "0"])
        }
    }

    @Test func noneDisablesAuthentication() throws {
        let c = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "http://localhost:8090/_broadcast",
                                                        "ANYCABLE_BROADCAST_KEY": "none", "ANYCABLE_SECRET": "s"])
        #expect(c.broadcastKey == nil)
        #expect(c.keySource == .disabled)
        _ = try AnyCableBroadcaster(configuration: c)
    }

    @Test func missingURLIsATypedError() throws {
        let c = try AnyCableConfiguration(environment: ["ANYCABLE_SECRET": "qwerty"])
        #expect(throws: AnyCableConfigurationError.self) { _ = try AnyCableBroadcaster(configuration: c) }
        do {
            _ = try AnyCableBroadcaster(configuration: c)
        } catch {
            guard case .missing(let variable, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(variable == "ANYCABLE_BROADCAST_URL")
            #expect(!error.description.contains("qwerty"))
        }
    }

    @Test func missingKeyIsATypedError() throws {
        let c = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": "http://localhost:8080/_broadcast"])
        do {
            _ = try AnyCableBroadcaster(configuration: c)
            Issue.record("expected an error")
        } catch {
            guard case .missing(let variable, let hint) = error else { Issue.record("wrong error \(error)"); return }
            #expect(variable == "ANYCABLE_BROADCAST_KEY")
            #expect(hint.contains("ANYCABLE_SECRET"))
        }
        #expect(throws: AnyCableConfigurationError.self) { _ = try AnyCableStreamSigner(configuration: c) }
    }

    @Test func invalidURLErrorDoesNotEchoTheValue() {
        let secretish = "ftp://user:hunter2@host/x"
        do {
            _ = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": secretish])
            Issue.record("expected an error")
        } catch {
            guard case .invalid(let variable, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(variable == "ANYCABLE_BROADCAST_URL")
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func descriptionsRedactEverySecret() throws {
        let secrets = ["key-AAAA", "secret-BBBB", "streams-CCCC", "jwt-DDDD"]
        let c = try AnyCableConfiguration(environment: [
            "ANYCABLE_BROADCAST_URL": "http://u:pass-EEEE@localhost:8080/_broadcast?token=q-FFFF",
            "ANYCABLE_BROADCAST_KEY": secrets[0], "ANYCABLE_SECRET": secrets[1],
            "ANYCABLE_STREAMS_SECRET": secrets[2], "ANYCABLE_JWT_SECRET": secrets[3],
        ])
        var dumped = ""
        dump(c, to: &dumped)
        let derived = AnyCableHMAC.broadcastKey(fromSecret: AnyCableSecret(secrets[1])).reveal()
        for text in [c.description, c.debugDescription, "\(c)", String(reflecting: c), dumped] {
            for s in secrets + ["pass-EEEE", "q-FFFF", derived] {
                #expect(!text.contains(s), "\(s) leaked")
            }
        }
        #expect(c.description.contains("http://<redacted>@localhost:8080/_broadcast?token=<redacted>"))
        #expect(c.description.contains("<redacted>"))
    }

    /// A space or a line break inside the broadcast URL was percent-encoded by Foundation and
    /// taken: broadcasts went to another path and were dead-lettered, where a bad value is
    /// refused at start.
    @Test(arguments: ["http://127.0.0.1:9/_broadcast x", "http://127.0.0.1:9/_broadcast\r\nX: y"])
    func aURLWithWhiteSpaceInsideIsRefused(_ url: String) {
        do {
            _ = try AnyCableConfiguration(environment: ["ANYCABLE_BROADCAST_URL": url])
            Issue.record("accepted")
        } catch {
            guard case .invalid(let variable, let reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(variable == "ANYCABLE_BROADCAST_URL" && reason.contains("white space"))
        }
    }
}
