import Foundation

/// `text` made safe to print to a terminal: control characters (an escape sequence that sets
/// the window title or colours, a carriage return that overwrites the line, a newline that
/// fakes a row, and U+2028/U+2029, which some viewers break lines at) and the bidirectional
/// overrides that reorder what is shown are written as escapes (`\n`, `\u{1B}`). What a
/// job's payload carries is anyone's text; `--json` output is JSON, escaped already.
func terminalSafe(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for u in text.unicodeScalars {
        guard needsEscape(u) else { out.unicodeScalars.append(u); continue }
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
        }
    }
    return out
}

private func needsEscape(_ u: Unicode.Scalar) -> Bool {
    u.properties.generalCategory == .control || (0x202A...0x202E).contains(u.value) || (0x2066...0x2069).contains(u.value)
        || u.value == 0x200E || u.value == 0x200F || u.value == 0x061C
        // The line and paragraph separators: not control characters, but some terminals and
        // viewers break the line there, which fakes a row as a newline would.
        || u.value == 0x2028 || u.value == 0x2029
}

/// `terminalSafe` line by line: the line breaks of a text made of several lines (the argument
/// parser's usage message) are kept; every other control character is escaped. For what the CLI
/// says on stderr, which quotes what it was given (a job id, a field name, an import line's
/// value): an escape sequence there set the terminal's title or cleared the screen of whoever
/// ran the command.
func terminalSafeLines(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { terminalSafe(String($0)) }.joined(separator: "\n")
}

