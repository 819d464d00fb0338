/// Equality as the log sees it: strings and object keys are equal when their Unicode scalars
/// are, as their canonical text (and so their digests) would be. Swift's own `String ==`
/// holds canonically equivalent text equal (`"\u{E9}"` and `"e\u{301}"`, é written two ways),
/// which made a retried submit with the other spelling of its input look like the same request
/// (an idempotency key then returned the first job and dropped the second input).
extension JSONValue {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { $0 == $1 }
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            // A key of `y` found by `x`'s key may be its canonically equivalent twin: the keys
            // themselves are compared too.
            return x.allSatisfy { key, value in
                guard let i = y.index(forKey: key) else { return false }
                let (other, otherValue) = y[i]
                return other.utf8.elementsEqual(key.utf8) && value == otherValue
            }
        case (.null, _), (.bool, _), (.int, _), (.double, _), (.string, _), (.array, _), (.object, _): return false
        }
    }
}
