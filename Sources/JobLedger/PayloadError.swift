/// A payload that does not fit its event type: a missing or mistyped field, an unknown field,
/// a value out of range. Says which field and what is expected.
public struct PayloadError: Error, Equatable, CustomStringConvertible {
    /// The event type whose payload was wrong; nil when the type itself is unknown.
    public let type: EventType?
    /// Which field, and what was expected.
    public let reason: String
    /// A refusal of a payload of `type`, saying why.
    public init(type: EventType?, reason: String) { self.type = type; self.reason = reason }
    /// `invalid <type> payload: <reason>`.
    public var description: String {
        if let type { return "invalid \(type) payload: \(reason)" }
        return reason
    }
}
