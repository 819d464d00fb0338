import Foundation

/// The command line as the process received it, byte for byte. `CommandLine.arguments` repairs
/// bytes that are not UTF-8 (each becomes U+FFFD), so a payload, a job kind or an input typed in
/// Latin-1 was stored as other text than was given, with exit 0. An import refuses such bytes
/// ("bytes are never replaced"); so does the command line, before anything is parsed or opened.
enum RawArguments {
    /// The first argument (after the program's name) that is not valid UTF-8: its position
    /// (1-based, as a shell counts `$1`, `$2`…), the option it follows when it follows one, and
    /// the offset and value of its first bad byte.
    struct Invalid: Equatable {
        var position: Int
        var after: String?
        var offset: Int
        var byte: UInt8

        /// `argument 7 (the value of --payload) is not valid UTF-8: byte 0xE9 at offset 29 …`
        var message: String {
            let which = after.map { " (the value of \($0))" } ?? ""
            return "argument \(position)\(which) is not valid UTF-8: byte 0x\(String(byte, radix: 16, uppercase: true)) at byte offset \(offset); "
                + "nothing was read or written (bytes are never replaced: give the text as UTF-8)"
        }
    }

    /// The first argument of this process that is not valid UTF-8, if any.
    static func firstInvalid() -> Invalid? {
        var arguments: [[UInt8]] = []
        for i in 0..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { break }
            arguments.append(bytes(p))
        }
        return firstInvalid(in: arguments)
    }

    /// Why the environment variable `name` cannot be read as given, when its bytes are not
    /// UTF-8 (the environment as Foundation reads it has them repaired); nil when they are, or
    /// when it is not set.
    static func invalidEnvironmentValue(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let value = bytes(p)
        guard let offset = firstInvalidOffset(value) else { return nil }
        return "\(name) is not valid UTF-8: byte 0x\(String(value[offset], radix: 16, uppercase: true)) at byte offset \(offset); "
            + "nothing was read or written (bytes are never replaced: give the path as UTF-8)"
    }

    /// A C string's bytes as given, before any decoding repairs them.
    private static func bytes(_ p: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }

    /// The first of `arguments` (the program's name first, not checked) that is not valid UTF-8.
    static func firstInvalid(in arguments: [[UInt8]]) -> Invalid? {
        for (i, bytes) in arguments.enumerated().dropFirst() {
            guard let offset = firstInvalidOffset(bytes) else { continue }
            let previous = i > 1 ? String(decoding: arguments[i - 1], as: UTF8.self) : ""
            // (The arguments before this one are valid: the first bad one is returned.)
            let after = previous.hasPrefix("-") && !previous.contains("=") ? previous : nil
            return Invalid(position: i, after: after, offset: offset, byte: bytes[offset])
        }
        return nil
    }

    /// The offset of the first byte that does not begin a well-formed UTF-8 sequence (RFC 3629: no
    /// overlong forms, no surrogates, nothing above U+10FFFF, as the standard library's parser
    /// has it); nil when all do.
    static func firstInvalidOffset(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let scalar): offset += scalar.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }
}
