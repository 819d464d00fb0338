/// The name a projection is registered, checkpointed, leased and shown under (`jobs`,
/// `broadcast`, an app's own `webhook` …). Validated once, when it is made: 1…64 characters
/// from `a-z 0-9 _ -`, starting with a letter, so it is safe in a table row, a metric label
/// and a command line.
///
/// ```swift
/// let webhook = ProjectionName("webhook")                    // in code
/// let named = try ProjectionName(validating: argument)       // from outside, with a readable error
/// ```
///
/// The built-in names `.jobs`, `.blob` and `.broadcast` are declared in JobLedgerProjections.
public struct ProjectionName: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The name as text.
    public let rawValue: String

    /// A name from text (a command-line argument, a stored row); nil when it breaks the rules.
    public init?(rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// A name from text, with an error that says what is wrong.
    public init(validating text: String) throws(InvalidProjectionName) {
        guard Self.isValid(text) else { throw InvalidProjectionName(text: text) }
        rawValue = text
    }

    /// A name written in code, e.g. `ProjectionName("webhook")`; an invalid literal is a
    /// programming error and stops the program.
    public init(_ literal: StaticString) {
        let text = literal.description
        precondition(Self.isValid(text), InvalidProjectionName(text: text).description)
        rawValue = text
    }

    /// The name as text.
    public var description: String { rawValue }
    /// Alphabetical order of the names.
    public static func < (a: ProjectionName, b: ProjectionName) -> Bool { a.rawValue < b.rawValue }

    static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) else { return false }
        return bytes.allSatisfy { b in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
                || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
        }
    }
}

/// A projection name that breaks the rules.
public struct InvalidProjectionName: Error, Hashable, CustomStringConvertible {
    /// The text that was refused.
    public let text: String
    /// What is wrong and what a name may be made of.
    public var description: String {
        "invalid projection name '\(text.prefix(70))': use 1…64 characters from a-z 0-9 _ -, starting with a letter"
    }
}
