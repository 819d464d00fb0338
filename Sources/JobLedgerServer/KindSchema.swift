import JobLedger

/// What a kind's `input` must look like before a job of it is queued: required string fields
/// with length bounds. A kind with no schema takes any JSON object.
public struct KindSchema: Sendable, Hashable {
    /// A required string field.
    public struct StringField: Sendable, Hashable {
        /// The field's name in `input` (`prompt`).
        public var name: String
        /// The most Unicode code points it may have (as JSON Schema's `maxLength` counts); it
        /// must have at least one that is not white space (as ECMA-262's `\s` has it, the
        /// document's `pattern`).
        public var maxLength: Int
        /// A required string field `name` of 1…`maxLength` code points.
        public init(_ name: String, maxLength: Int) { self.name = name; self.maxLength = maxLength }
    }
    /// The required string fields.
    public var required: [StringField]

    /// A schema from its fields.
    public init(required: [StringField] = []) { self.required = required }

    /// The demo kind `design`: `{"prompt": "…"}` (1…1000 code points, not only white space).
    public static let design = KindSchema(required: [StringField("prompt", maxLength: 1000)])

    /// Checks `input`, naming the first field at fault (`input.prompt`).
    func validate(_ input: [String: JSONValue]) throws(Problem) {
        for f in required {
            guard let v = input[f.name] else { throw Problem.invalid("input.\(f.name)", "input.\(f.name) is required") }
            guard let s = v.stringValue else { throw Problem.invalid("input.\(f.name)", "input.\(f.name) must be a string, not \(v.typeName)") }
            // The OpenAPI document's words, as a client validating against it reads them:
            // `maxLength` counts code points (JSON Schema), not graphemes (an `é` written as `e`
            // and a combining accent is two), and `pattern: "\\S"` is an ECMA-262 regex. Cheap
            // checks first (a submit runs this on every request): a string of at most
            // `maxLength` UTF-8 bytes has at most that many code points.
            guard s.unicodeScalars.contains(where: { !Self.isECMAWhiteSpace($0) }),
                  s.utf8.count <= f.maxLength || s.unicodeScalars.count <= f.maxLength else {
                throw Problem.invalid("input.\(f.name)", "input.\(f.name) must be 1…\(f.maxLength) Unicode code points, not only white space")
            }
        }
    }

    /// What ECMA-262's `\s` matches: its WhiteSpace (tab, VT, FF, space, U+FEFF and the
    /// space separators, Zs) and LineTerminator (LF, CR, U+2028, U+2029). Not Unicode's
    /// White_Space property, which Swift's `isWhitespace` is: that has U+0085 and lacks U+FEFF.
    static func isECMAWhiteSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: true
        default: false
        }
    }
}
