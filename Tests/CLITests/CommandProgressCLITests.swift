import Foundation
import JobLedgerTestSupport
import JobLedger
import JobLedgerSQLite
import Testing

/// Long commands say their progress on stderr: on a terminal one line rewritten in place (`\r`,
/// erase the line), throttled to about ten a second, erased at the end; elsewhere nothing per
/// item. stdout is the same byte for byte either way. (`verify`, `import`, `export`, `projections
/// rebuild` said nothing on a terminal, and `replay` only every 65,536 events.) The terminal is
/// chosen by `JOBLEDGER_PROGRESS=terminal` here, as a user may force it.
@Suite struct CommandProgressCLITests {
    static let events = 20_000
    static let erase = "\r\u{1B}[2K"

    /// A log of `events` queued jobs, one event each.
    func log(_ scratch: Scratch, _ name: String) async throws -> String {
        let db = scratch.path(name)
        let ledger = try Ledger.open(path: db)
        let all = (0..<Self.events).map { i in NewEvent(job: JobID.generate(), payload: .queued(.init(kind: "design", input: ["n": .int(Int64(i))]))) }
        for chunk in stride(from: 0, to: all.count, by: 5_000) { _ = try await ledger.append(Array(all[chunk..<min(chunk + 5_000, all.count)])) }
        return db
    }

    /// The lines drawn on the terminal: what follows each erase, up to a line feed.
    static func drawn(_ stderr: String) -> [String] {
        stderr.components(separatedBy: erase).dropFirst().map { $0.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "" }.filter { !$0.isEmpty }
    }

    /// Runs `args` twice, on a terminal (forced) and not, and checks what each said: `label`'s
    /// line on the terminal, throttled and erased, nothing drawn elsewhere, the same stdout.
    /// `fresh` gives each run its own arguments (a command that writes needs its own log).
    func check(_ label: String, total: String?, in scratch: Scratch, _ args: (String) async throws -> [String]) async throws {
        let clock = ContinuousClock()
        let began = clock.now
        let onTerminal = try await jobledger(try await args("t"), in: scratch, environment: ["JOBLEDGER_PROGRESS": "terminal"])
        let elapsed = began.duration(to: clock.now)
        let plain = try await jobledger(try await args("p"), in: scratch)
        #expect(onTerminal.status == plain.status, "\(onTerminal)\n\(plain)")
        #expect(onTerminal.stdout == plain.stdout, "stdout is the same on a terminal and off it: \(onTerminal)\n\(plain)")
        #expect(!plain.stderr.contains("\r") && !plain.stderr.contains("\u{1B}"), "nothing drawn off a terminal: \(plain)")
        let lines = Self.drawn(onTerminal.stderr)
        let ours = lines.filter { $0.hasPrefix(label) && $0.contains(" [") }
        #expect(!ours.isEmpty, "a '\(label)' line on the terminal: \(onTerminal)")
        if let total { #expect(ours.allSatisfy { $0.hasSuffix("/\(total) events") || $0.hasSuffix("/\(total) MB") }, "done/total: \(ours)") }
        // Never a line per item: about ten a second at most (and one at the start of each step).
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(Double(lines.count) <= seconds * 10 + 8, "\(lines.count) lines drawn in \(seconds) s")
        // Erased: the last thing on the line is not a bar (the command's own lines follow on a clean line).
        let segments = onTerminal.stderr.components(separatedBy: Self.erase)
        #expect(segments.count > 1 && !(segments.last ?? "").hasPrefix(label + " ["), "the last line drawn is erased: \(onTerminal.stderr.debugDescription)")
    }

    @Test func readingCommandsShowTheirProgressOnATerminal() async throws {
        let scratch = Scratch()
        let db = try await log(scratch, "p.sqlite")
        let total = "\(Self.events)"
        try await check("verifying", total: total, in: scratch) { _ in ["verify", "--db", db] }
        try await check("exporting", total: total, in: scratch) { _ in ["export", "--db", db] }
        try await check("exporting", total: total, in: scratch) { run in ["export", "--db", db, "--output", scratch.path("out-\(run).ndjson")] }
        try await check("replaying", total: total, in: scratch) { _ in ["replay", "--json", "--db", db] }
        try await check("replaying", total: total, in: scratch) { _ in ["diff", db, "\(db)@100", "--json"] }
    }

    @Test func writingCommandsShowTheirProgressOnATerminal() async throws {
        let scratch = Scratch()
        let db = try await log(scratch, "w.sqlite")
        let export = try await jobledger(["export", "--db", db, "--output", scratch.path("all.ndjson")], in: scratch)
        #expect(export.status == 0, "\(export)")
        let total = "\(Self.events)"
        try await check("importing", total: total, in: scratch) { run in ["import", "--db", scratch.path("imported-\(run).sqlite"), scratch.path("all.ndjson")] }
        try await check("checking", total: nil, in: scratch) { run in ["import", "--db", scratch.path("checked-\(run).sqlite"), scratch.path("all.ndjson")] }
        // A path in the line is shown, not obeyed: an escape sequence in a file's name reaches no terminal.
        let odd = scratch.path("odd\u{1B}[31mname.ndjson")
        try FileManager.default.copyItem(atPath: scratch.path("all.ndjson"), toPath: odd)
        let shown = try await jobledger(["import", "--db", scratch.path("odd.sqlite"), odd], in: scratch, environment: ["JOBLEDGER_PROGRESS": "terminal"])
        #expect(shown.status == 0 && shown.stderr.contains("checking ") && !shown.stderr.contains("\u{1B}[31m"), "\(shown.stderr.debugDescription)")
        // Each run on its own copy of the log (both rebuild it).
        for run in ["t", "p"] { try FileManager.default.copyItem(atPath: db, toPath: scratch.path("r-\(run).sqlite")) }
        try await check("checking the log", total: total, in: scratch) { run in ["projections", "rebuild", "--db", scratch.path("r-\(run).sqlite")] }
    }
}
