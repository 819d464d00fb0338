import Crypto
import Foundation

/// A secret value (a broadcast key, a signing secret) that never shows itself: its
/// `description`, `debugDescription` and mirror all print `<redacted>`, so it cannot leak into a
/// log line, an error message or a `dump`. Read the value with `reveal()` where it is really used.
///
/// ```swift
/// let key: AnyCableSecret = "s3cret"
/// print(key)              // <redacted>
/// ```
public struct AnyCableSecret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, ExpressibleByStringLiteral
{
    private let value: String

    /// Holds `value`.
    public init(_ value: String) { self.value = value }
    /// Holds the literal (tests, examples; keep real secrets out of source code).
    public init(stringLiteral value: String) { self.value = value }

    /// The secret itself, for signing or for an `Authorization` header. Never log it.
    public func reveal() -> String { value }

    /// `<redacted>`.
    public var description: String { "<redacted>" }
    /// `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// A mirror with no children, so `dump` shows nothing of the value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The HMAC computations AnyCable uses, each exactly as the server does it.
public enum AnyCableHMAC {
    /// The phrase AnyCable signs with `ANYCABLE_SECRET` to get its broadcast key.
    public static let broadcastPhrase = "broadcast-cable"

    /// Lowercase hex HMAC-SHA256 of `message` under `key`: the server's `MessageVerifier.Sign`.
    public static func hexDigest(key: String, message: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8)))
        return hex(mac)
    }

    /// The broadcast key a server started with only `--secret <secret>` expects:
    /// `hex(HMAC-SHA256(key: secret, message: "broadcast-cable"))`.
    public static func broadcastKey(fromSecret secret: AnyCableSecret) -> AnyCableSecret {
        AnyCableSecret(hexDigest(key: secret.reveal(), message: broadcastPhrase))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares two strings in time that depends only on their lengths.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
