import Foundation

// The console transcripts of a Markdown page, and how an actual output is compared with the one
// a page shows. The syntax is described in Docs/README.md ("How the docs are tested").

/// One `$ command` of a transcript, with the output and exit code the page shows for it.
struct DocStep: Sendable, CustomStringConvertible {
    /// 1-based line of the `$ ` line in the page.
    let line: Int
    /// The shell text: the `$ ` line, with its `\` and `> ` continuation lines.
    let command: String
    /// The lines shown under the command (without the `# exit N` line).
    let expected: [String]
    /// `# exit N` as the last line shown, else 0.
    let exitCode: Int32

    var description: String { "line \(line): $ \(command)" }
}

/// A ```console block: run, or skipped with the reason given in the marker above it.
struct DocBlock: Sendable {
    let line: Int
    let steps: [DocStep]
    let skipReason: String?
}

/// What a page holds: its console blocks, and the mistakes in how they are written (a transcript
/// in a block that is not marked `console`, a skip marker with no reason, output before any
/// command) — each one fails the docs test, so no example escapes it by accident.
struct DocPage: Sendable {
    let blocks: [DocBlock]
    let problems: [String]

    static let skipMarker = "<!-- doctest: skip"

    init(markdown: String) {
        var blocks: [DocBlock] = [], problems: [String] = []
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            let trimmed = lines[i].drop(while: { $0 == " " })
            guard trimmed.hasPrefix("```") else { i += 1; continue }
            let indent = lines[i].count - trimmed.count
            let info = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces)
            let start = i
            var body: [String] = []
            i += 1
            while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces) != "```" {
                body.append(String(lines[i].dropFirst(min(indent, lines[i].prefix(while: { $0 == " " }).count))))
                i += 1
            }
            i += 1
            // The closest non-blank line above the fence may be the skip marker.
            var above = start - 1
            while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).isEmpty { above -= 1 }
            let marker = above >= 0 ? lines[above].trimmingCharacters(in: .whitespaces) : ""
            if info != "console" {
                if let t = body.firstIndex(where: { $0.hasPrefix("$ ") }) {
                    problems.append("line \(start + 2 + t): a `$ ` transcript in a block marked \(info.isEmpty ? "with no language" : "`\(info)`"); mark it ```console (run, or skipped with a reason)")
                }
                continue
            }
            var skip: String?
            if marker.hasPrefix(Self.skipMarker) {
                let reason = marker.dropFirst(Self.skipMarker.count).drop(while: { $0 == ":" || $0 == " " || $0 == "—" })
                    .replacingOccurrences(of: "-->", with: "").trimmingCharacters(in: .whitespaces)
                if reason.isEmpty { problems.append("line \(above + 1): a skip marker must give its reason") }
                skip = reason
            }
            let (steps, bad) = Self.steps(body, firstLine: start + 2)
            problems += bad
            blocks.append(DocBlock(line: start + 1, steps: steps, skipReason: skip))
        }
        self.blocks = blocks
        self.problems = problems
    }

    /// Whether a shell would still be inside a '…' or "…" string at the end of `text`.
    static func quoteLeftOpen(_ text: String) -> Bool {
        var quote: Character?
        var escaped = false, comment = false
        var previous: Character = "\n"
        for c in text {
            defer { previous = c }
            if comment { comment = c != "\n"; continue }
            if escaped { escaped = false; continue }
            if c == "\\", quote != "'" { escaped = true; continue }
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "#", previous == " " || previous == "\n" || previous == "\t" {
                comment = true   // the rest of the line is a comment
            }
        }
        return quote != nil
    }

    private static func steps(_ body: [String], firstLine: Int) -> ([DocStep], [String]) {
        var steps: [DocStep] = [], problems: [String] = []
        var j = 0
        func line(_ k: Int) -> String { body[k].replacing(/\s+$/, with: "") }
        while j < body.count {
            guard body[j].hasPrefix("$ ") else {
                if !line(j).isEmpty { problems.append("line \(firstLine + j): output before any `$ ` command") }
                j += 1
                continue
            }
            let at = j
            var command = String(body[j].dropFirst(2))
            j += 1
            // As in a shell: `\` at the end of a line, or a quote left open, goes on to the next
            // line; so do `> ` lines (a here-document's, as a shell prompts for them).
            while j < body.count, command.hasSuffix("\\") || Self.quoteLeftOpen(command) || body[j].hasPrefix("> ") || body[j] == ">" {
                command += "\n" + (body[j].hasPrefix(">") ? String(body[j].dropFirst(2)) : body[j])
                j += 1
            }
            var output: [String] = []
            while j < body.count, !body[j].hasPrefix("$ ") {
                output.append(line(j))
                j += 1
            }
            while output.last?.isEmpty == true { output.removeLast() }
            var exitCode: Int32 = 0
            if let last = output.last, let m = last.wholeMatch(of: /# exit (\d+)/), let code = Int32(m.1) {
                exitCode = code
                output.removeLast()
            }
            steps.append(DocStep(line: firstLine + at, command: command, expected: output, exitCode: exitCode))
        }
        return (steps, problems)
    }
}

/// Matches what a command printed against the lines a page shows. The page shows stdout and
/// stderr together, in the order a terminal showed them; the test reads them apart (in a file or a
/// pipe, stdout is buffered and stderr is not, so their order there means nothing), and the page
/// matches when its lines are an interleaving of the two that keeps each one's order.
/// `…` in a line stands for any text within that line (zero or more characters); a line that is
/// only `…` (indented or not) stands for any number of lines (zero or more) of either. Trailing spaces and trailing
/// blank lines are ignored.
enum DocOutput {
    static let wildcard = "…"

    static func matches(expected: [String], actual: [String]) -> Bool {
        matches(expected: expected, stdout: actual, stderr: [])
    }

    static func matches(expected: [String], stdout: [String], stderr: [String]) -> Bool {
        let expected = trim(expected), out = trim(stdout), err = trim(stderr)
        var memo: [Int: Bool] = [:]
        func go(_ e: Int, _ o: Int, _ r: Int) -> Bool {
            let key = (e * (out.count + 1) + o) * (err.count + 1) + r
            if let known = memo[key] { return known }
            let result: Bool
            if e == expected.count {
                result = o == out.count && r == err.count
            } else if expected[e].trimmingCharacters(in: .whitespaces) == wildcard {
                result = go(e + 1, o, r) || (o < out.count && go(e, o + 1, r)) || (r < err.count && go(e, o, r + 1))
            } else {
                result = (o < out.count && line(out[o], matches: expected[e]) && go(e + 1, o + 1, r))
                    || (r < err.count && line(err[r], matches: expected[e]) && go(e + 1, o, r + 1))
            }
            memo[key] = result
            return result
        }
        return go(0, 0, 0)
    }

    /// One line against a pattern whose `…` match any run of characters.
    static func line(_ text: String, matches pattern: String) -> Bool {
        let parts = pattern.components(separatedBy: wildcard)
        guard parts.count > 1 else { return text == pattern }
        guard text.hasPrefix(parts[0]), text.dropFirst(parts[0].count).hasSuffix(parts[parts.count - 1]) else { return false }
        var rest = Substring(text.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let r = rest.range(of: middle) else { return false }
            rest = rest[r.upperBound...]
        }
        // The prefix and suffix may not overlap: the text must be long enough for both.
        return text.count >= parts[0].count + parts[parts.count - 1].count
    }

    static func trim(_ lines: [String]) -> [String] {
        var out = lines.map { $0.replacing(/\s+$/, with: "") }
        while out.last?.isEmpty == true { out.removeLast() }
        return out
    }
}
