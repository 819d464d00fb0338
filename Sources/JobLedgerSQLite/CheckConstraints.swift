import GRDB

/// The CHECK constraints of the log's tables, asked of their rows. SQLite's `quick_check` and
/// `integrity_check` check them only on a connection that may write: a read-only one (what
/// `verify` opens, and every reader) does not even parse them, so a row made to break one
/// behind the log's back, or damaged where the file was cut off, passed `verify`.
enum CheckConstraints {
    /// One finding per constraint that some rows break: `CHECK constraint failed in jobs: 1 row
    /// breaks (state = 'queued' OR …)`, at most `limit` of them.
    static func findings(_ db: Database, limit: Int) throws -> [String] {
        var found: [String] = []
        let tables = try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name")
        for table in tables {
            let name: String = table[0], sql: String = table[1]
            let checks = expressions(in: sql)
            guard !checks.isEmpty else { continue }
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            /// Rows breaking `expressions` (each on lines of its own: one may end in a `--`
            /// comment); nil when SQLite cannot evaluate them here.
            func broken(_ expressions: [String]) -> Int? {
                let any = expressions.map { "NOT (\n\($0)\n)" }.joined(separator: " OR ")
                return try? Int.fetchOne(db, sql: "SELECT count(*) FROM \(quoted) WHERE \(any)")
            }
            // One pass over the table for all its constraints; the one or ones broken named
            // after. A constraint SQLite cannot evaluate in a query (an app's function, a
            // double-quoted string in an app's table) is left to SQLite's own checks.
            if let n = broken(checks), n == 0 { continue }
            for check in checks {
                guard let n = broken([check]), n > 0 else { continue }
                let flat = check.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
                let shown = flat.count > 80 ? String(flat.prefix(80)) + "…" : flat
                found.append("CHECK constraint failed in \(name): \(n) row\(n == 1 ? "" : "s") break\(n == 1 ? "s" : "") (\(shown))")
                if found.count >= limit { return found }
            }
        }
        return found
    }

    /// The expressions of the `CHECK (…)` clauses in a `CREATE TABLE` statement, column and
    /// table constraints alike, in order. Quoted strings and names and comments (`--`, `/* */`)
    /// are skipped whole, so a parenthesis or the word CHECK inside one is not read as SQL.
    static func expressions(in sql: String) -> [String] {
        let b = Array(sql.utf8)
        var found: [String] = []
        var i = 0
        /// Moves past the quoted text or comment starting at `i`; false when none starts there.
        func skipQuotedOrComment() -> Bool {
            let c = b[i], next = i + 1 < b.count ? b[i + 1] : 0
            if c == UInt8(ascii: "-"), next == UInt8(ascii: "-") {
                while i < b.count, b[i] != 0x0A { i += 1 }
                return true
            }
            if c == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                i += 2
                while i < b.count, !(b[i] == UInt8(ascii: "*") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i = min(i + 2, b.count)
                return true
            }
            guard c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "`") || c == UInt8(ascii: "[") else { return false }
            let close = c == UInt8(ascii: "[") ? UInt8(ascii: "]") : c
            i += 1
            while i < b.count {
                if b[i] == close {
                    // A doubled closing quote is one character of the text.
                    if close != UInt8(ascii: "]"), i + 1 < b.count, b[i + 1] == close { i += 2; continue }
                    i += 1
                    return true
                }
                i += 1
            }
            return true
        }
        func isNamePart(_ c: UInt8) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c >= 0x80
        }
        let keyword = Array("check".utf8)
        while i < b.count {
            if skipQuotedOrComment() { continue }
            let isKeyword = i + keyword.count <= b.count && (i == 0 || !isNamePart(b[i - 1]))
                && zip(b[i..<(i + keyword.count)], keyword).allSatisfy { $0 | 0x20 == $1 }
                && (i + keyword.count == b.count || !isNamePart(b[i + keyword.count]))
            guard isKeyword else { i += 1; continue }
            i += keyword.count
            // White space and comments may stand between CHECK and its parenthesis.
            while i < b.count {
                if b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1; continue }
                if (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "/")) && skipQuotedOrComment() { continue }
                break
            }
            guard i < b.count, b[i] == UInt8(ascii: "(") else { continue }
            let start = i + 1
            var depth = 0
            scan: while i < b.count {
                if skipQuotedOrComment() { continue }
                switch b[i] {
                case UInt8(ascii: "("): depth += 1
                case UInt8(ascii: ")"):
                    depth -= 1
                    if depth == 0 {
                        found.append(String(decoding: b[start..<i], as: UTF8.self))
                        i += 1
                        break scan
                    }
                default: break
                }
                i += 1
            }
        }
        return found
    }
}
