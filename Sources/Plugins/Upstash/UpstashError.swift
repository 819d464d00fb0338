import Foundation
import JobLedger

/// Why a request to Upstash Redis did not give a result. Messages name the endpoint and say what
/// to do; they never carry the token.
public enum UpstashError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The token was refused (401 `WRONGPASS`). Retrying will not help.
    case unauthorized(String)
    /// Redis refused the command (`{"error": …}`: a syntax error, `WRONGTYPE`, `NOSCRIPT`, a
    /// quota). Retrying the same command will not help.
    case command(String)
    /// The service did not answer in time, answered 408/429/5xx, or the connection failed. Worth
    /// retrying later (not before `retryAfterMilliseconds`, when it said). `mayHaveApplied`: the
    /// request may have reached Redis, so a command that is not idempotent may have run.
    case unavailable(String, retryAfterMilliseconds: Int64? = nil, mayHaveApplied: Bool = true)
    /// The request was refused for a reason the configuration must fix (a redirect, a wrong
    /// path, an unexpected status).
    case rejected(String)

    /// The message, with `(retry after N ms)` when the service said when; a command error as
    /// `Upstash Redis refused the command: <Redis's words>`; never the token.
    public var description: String {
        switch self {
        case .command(let m): "Upstash Redis refused the command: \(m)"
        case .unauthorized(let m), .rejected(let m): m
        case .unavailable(let m, let after, _): after.map { "\(m) (retry after \($0) ms)" } ?? m
        }
    }

    /// The same failure as a projection sees it: `unavailable` stays worth retrying; the rest
    /// are rejections that go to the dead letters.
    public var sinkError: SinkError {
        switch self {
        case .unavailable(let m, let after, _): .unavailable(m, retryAfterMilliseconds: after)
        case .command: .rejected(description)
        case .unauthorized(let m), .rejected(let m): .rejected(m)
        }
    }

    /// True for `unavailable`.
    public var isTransient: Bool { if case .unavailable = self { return true }; return false }

    /// True for a command error whose text starts with `prefix` (`NOSCRIPT`, `BUSYGROUP`, …).
    public func isCommandError(_ prefix: String) -> Bool {
        if case .command(let m) = self { return m.hasPrefix(prefix) }
        return false
    }
}
