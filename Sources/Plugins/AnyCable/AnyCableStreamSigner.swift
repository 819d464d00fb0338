import Foundation
import JobLedger

/// Signs stream names for AnyCable's `$pubsub` channel, so a browser can subscribe to exactly
/// its own job's stream (`cable.streamFromSigned(signed)`) without a backend round trip.
///
/// The format is Rails' MessageVerifier as the AnyCable server checks it:
/// `base64(JSON(stream)) + "--" + hex(HMAC-SHA256(key: streamsSecret, message: base64 text))`,
/// with standard (not URL-safe) padded base64 and JSON like JavaScript's `JSON.stringify`.
///
/// ```swift
/// let signer = try AnyCableStreamSigner(configuration: try AnyCableConfiguration())
/// let signed = signer.signedStream(for: job)   // hand it to the browser with the job id
/// ```
public struct AnyCableStreamSigner: Sendable {
    private let secret: AnyCableSecret
    /// How job ids become stream names (by default `job:<id>`).
    public var naming: StreamNaming

    /// A signer with the server's streams secret (`ANYCABLE_STREAMS_SECRET`, else `ANYCABLE_SECRET`).
    public init(secret: AnyCableSecret, naming: StreamNaming = StreamNaming()) {
        self.secret = secret
        self.naming = naming
    }

    /// A signer for `configuration`; fails when neither secret is set.
    public init(configuration: AnyCableConfiguration, naming: StreamNaming = StreamNaming()) throws(AnyCableConfigurationError) {
        guard let s = configuration.streamsSecret else {
            throw .missing(variable: "ANYCABLE_STREAMS_SECRET",
                           hint: "Set ANYCABLE_STREAMS_SECRET (or ANYCABLE_SECRET) to the AnyCable server's streams secret to sign stream names.")
        }
        self.init(secret: s, naming: naming)
    }

    /// The signed name of `stream`.
    public func sign(stream: String) -> String {
        let encoded = Data(JSONValue.string(stream).canonicalText.utf8).base64EncodedString()
        return encoded + "--" + AnyCableHMAC.hexDigest(key: secret.reveal(), message: encoded)
    }

    /// The signed name of `job`'s stream: what the job-creation API hands the browser.
    public func signedStream(for job: JobID) -> String { sign(stream: naming.stream(for: job)) }

    /// The stream name inside `signed`, or nil when the signature does not verify (checked the
    /// way the server checks it).
    public func verify(_ signed: String) -> String? {
        let parts = signed.components(separatedBy: "--")
        guard parts.count == 2,
              AnyCableHMAC.constantTimeEquals(parts[1], AnyCableHMAC.hexDigest(key: secret.reveal(), message: parts[0])),
              let json = Data(base64Encoded: parts[0]).map({ String(decoding: $0, as: UTF8.self) }),
              let value = try? JSONValue(parsing: json)
        else { return nil }
        return value.stringValue
    }
}
