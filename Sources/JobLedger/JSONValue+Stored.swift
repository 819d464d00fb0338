/// Values as the log gives them back. An event's payload is stored as canonical JSON text, in
/// which a whole `double` (below 10¹⁵ in magnitude, `-0.0` included) is written as an integer
/// and read back as `.int`. Whatever hands on a payload it did not read from the log (the
/// writer telling a runner what it committed) hands on this form, so that it equals what a
/// read of the same event would decode.
extension JSONValue {
    /// This value as it would be decoded from its canonical text.
    public var asStored: JSONValue {
        guard changesWhenStored else { return self }
        switch self {
        case .double(let d) where !d.isFinite: return .null
        case .double(let d): return .int(Int64(d))
        case .array(let a): return .array(a.map(\.asStored))
        case .object(let o): return .object(o.mapValues(\.asStored))
        case .null, .bool, .int, .string: return self
        }
    }

    /// Whether `asStored` differs from this value: it holds a whole or non-finite `double`.
    private var changesWhenStored: Bool {
        switch self {
        case .double(let d): !d.isFinite || (d.rounded() == d && abs(d) < 1e15)
        case .array(let a): a.contains { $0.changesWhenStored }
        case .object(let o): o.values.contains { $0.changesWhenStored }
        case .null, .bool, .int, .string: false
        }
    }
}

extension EventPayload {
    /// This payload as it would be decoded from the log (its JSON values `asStored`).
    public var asStored: EventPayload {
        switch self {
        case .queued(var q):
            q.input = q.input.asStored
            return .queued(q)
        case .completed(var c):
            guard let output = c.output else { return self }
            c.output = output.asStored
            return .completed(c)
        case .started, .progress, .lowres, .failed, .canceled:
            return self
        }
    }
}

extension JobState {
    /// This state with its input and output `asStored`: as folded from the events read back.
    public var asStored: JobState {
        var s = self
        s.input = input.asStored
        s.output = output?.asStored
        return s
    }
}
