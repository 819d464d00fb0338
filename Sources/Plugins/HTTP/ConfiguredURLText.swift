/// Whether a configured URL's text holds white space or a control character inside it (the
/// ends are trimmed when the variable is read). Foundation percent-encodes such a character and
/// takes the URL, so requests went to another path (404, dead-lettered) instead of a refusal at
/// start; the AnyCable and Vercel Blob adapters refuse it, naming the variable.
package func holdsWhiteSpaceOrControl(_ text: String) -> Bool {
    text.unicodeScalars.contains { $0.properties.isWhitespace || $0.properties.generalCategory == .control }
}
