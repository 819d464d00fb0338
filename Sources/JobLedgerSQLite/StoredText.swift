import Foundation
import GRDB

/// Text columns whose stored bytes are not the text read. SQLite hands a TEXT column's bytes as
/// they are; GRDB makes a `String` of them, which repairs invalid UTF-8 with U+FFFD and stops at
/// a NUL. A payload whose U+FFFD was swapped for an invalid byte behind the log's back, or that
/// had a NUL and more appended, read as the original text, so its digest and hash checked out
/// and `verify` passed a file whose bytes differ from what was recorded.
enum StoredText {
    /// Why a row is not an event: a column's bytes are not the text read.
    struct NotUTF8: Error, CustomStringConvertible {
        let column: String
        var description: String { "its \(column) is not valid UTF-8 text, or holds a NUL (bytes no append writes)" }
    }

    /// The first of `columns` (index, name, the text read) whose stored bytes are not the text
    /// read: another length (a NUL stopped the read, or a repair changed it), or, for text
    /// holding U+FFFD (a repair always puts one in), other bytes.
    static func columnNotUTF8(_ row: Row, _ columns: [(index: Int, name: String, text: String?)]) -> String? {
        for c in columns {
            guard let text = c.text else { continue }
            let same = (try? row.withUnsafeData(atIndex: c.index) { data -> Bool in
                guard let data else { return true }
                guard data.count == text.utf8.count else { return false }
                return !containsReplacement(text) || data.elementsEqual(text.utf8)
            }) ?? true
            if !same { return c.name }
        }
        return nil
    }

    /// Whether `text` holds U+FFFD (EF BF BD in UTF-8).
    static func containsReplacement(_ text: String) -> Bool {
        // Read in place (a native string's bytes are contiguous): every payload of a verify
        // and an export passes here.
        if let found = text.utf8.withContiguousStorageIfAvailable({ bytes in
            var i = 0
            while i + 2 < bytes.count {
                if bytes[i] == 0xEF, bytes[i + 1] == 0xBF, bytes[i + 2] == 0xBD { return true }
                i += 1
            }
            return false
        }) { return found }
        var utf8 = text.utf8[...]
        while let i = utf8.firstIndex(of: 0xEF) {
            let rest = utf8[utf8.index(after: i)...]
            if rest.starts(with: [0xBF, 0xBD]) { return true }
            utf8 = rest
        }
        return false
    }
}
