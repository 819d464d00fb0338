/// Values as the log gives them back. An event's payload is stored as canonical JSON text, in
/// which a whole `double` (below 10¹⁵ in magnitude, `-0.0` included) is written as an integer
/// and read back as `.int`, and a `null` field reads as absent. An append keeps its payload in
/// this form from the start, so that what the writer folds, returns and hands on to the live
/// projections equals what a read of the same event decodes.
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
        case .queued(let q): return .queued(q.asStored)
        case .completed(let c): return .completed(c.asStored)
        case .started, .progress, .lowres, .failed, .canceled: return self
        }
    }
}

extension EventPayload.Queued {
    /// As decoded from the log: the input `asStored`, and a `null` input as `{}` (a field that
    /// is `null` reads as absent, and an absent input as an empty object).
    public var asStored: Self {
        var q = self
        q.input = input == .null ? .object([:]) : input.asStored
        return q
    }
}

extension EventPayload.Completed {
    /// As decoded from the log: the output `asStored`, and a `null` output as none.
    public var asStored: Self {
        guard let output else { return self }
        var c = self
        c.output = output == .null ? nil : output.asStored
        return c
    }
}
