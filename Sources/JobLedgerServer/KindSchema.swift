import JobLedger

/// What a kind's `input` must look like before a job of it is queued: required string fields
/// with length bounds. A kind with no schema takes any JSON object.
public struct KindSchema: Sendable, Hashable {
    /// A required string field.
    public struct StringField: Sendable, Hashable {
        /// The field's name in `input` (`prompt`).
        public var name: String
        /// The most characters it may have; it must have at least one that is not whitespace.
        public var maxLength: Int
        /// A required string field `name` of 1…`maxLength` characters.
        public init(_ name: String, maxLength: Int) { self.name = name; self.maxLength = maxLength }
    }
    /// The required string fields.
    public var required: [StringField]

    /// A schema from its fields.
    public init(required: [StringField] = []) { self.required = required }

    /// The demo kind `design`: `{"prompt": "…"}` (1…1000 characters).
    public static let design = KindSchema(required: [StringField("prompt", maxLength: 1000)])

    /// Checks `input`, naming the first field at fault (`input.prompt`).
    func validate(_ input: [String: JSONValue]) throws(Problem) {
        for f in required {
            guard let v = input[f.name] else { throw Problem.invalid("input.\(f.name)", "input.\(f.name) is required") }
            guard let s = v.stringValue else { throw Problem.invalid("input.\(f.name)", "input.\(f.name) must be a string, not \(v.typeName)") }
            // Cheap checks first (a submit runs this on every request): a string of at most
            // `maxLength` UTF-8 bytes has at most that many characters.
            guard s.unicodeScalars.contains(where: { !$0.properties.isWhitespace }), s.utf8.count <= f.maxLength || s.count <= f.maxLength else {
                throw Problem.invalid("input.\(f.name)", "input.\(f.name) must be 1…\(f.maxLength) characters")
            }
        }
    }
}
