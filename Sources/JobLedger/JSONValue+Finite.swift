/// Numbers JSON cannot carry: NaN and ±infinity have no JSON text, so a payload holding one
/// would be stored as something else (`null`). Only a value built in Swift can hold one
/// (`.double(.nan)`); parsing refuses them.
extension JSONValue {
    /// The first number that is NaN or ±infinity, in canonical key order, with its path below
    /// `root` (`input.sizes[1]`); nil when every number is finite.
    ///
    /// ```swift
    /// let input: JSONValue = ["sizes": [64, .double(.nan)]]
    /// input.firstNonFiniteNumber(under: "input")   // ("input.sizes[1]", nan)
    /// ```
    func firstNonFiniteNumber(under root: String) -> (path: String, value: Double)? {
        switch self {
        case .double(let d):
            return d.isFinite ? nil : (root, d)
        case .null, .bool, .int, .string:
            return nil
        case .array(let a):
            for (i, v) in a.enumerated() { if let found = v.firstNonFiniteNumber(under: "\(root)[\(i)]") { return found } }
            return nil
        case .object(let o):
            for key in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                if let found = o[key]!.firstNonFiniteNumber(under: "\(root).\(key)") { return found }
            }
            return nil
        }
    }
}
