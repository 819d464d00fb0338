import Foundation
import JobLedgerTestSupport
import Testing

/// A misspelt `JOBLEDGER_*` variable (`JOBLEDGER_RATE_LIMT`) was ignored without a word: `work`,
/// `serve`, `project` and `demo` now warn about each unknown one when they start, with the name
/// it is closest to. The names they know are listed once, in
/// `Sources/jobledger/KnownEnvironment.swift`; these tests keep that list whole.
@Suite struct KnownEnvironmentTests {
    static let listFile = repositoryRoot.appendingPathComponent("Sources/jobledger/KnownEnvironment.swift")

    /// The quoted `JOBLEDGER_*` names in `text` (a prefix such as `"JOBLEDGER_AUTH_"`, which
    /// ends in `_`, is no name).
    static func quotedNames(in text: String) -> Set<String> {
        Set(text.matches(of: #/"(JOBLEDGER_[A-Z0-9_]*[A-Z0-9])"/#).map { String($0.output.1) })
    }

    /// The names of one `static let NAME: [String] = [ … ]` list of KnownEnvironment.swift.
    static func list(_ name: String) throws -> Set<String> {
        let text = try String(contentsOf: listFile, encoding: .utf8)
        let start = try #require(text.range(of: "static let \(name): [String] = ["), "no list \(name) in \(listFile.path)")
        let end = try #require(text[start.upperBound...].range(of: "]"))
        return quotedNames(in: String(text[start.upperBound..<end.lowerBound]))
    }

    /// Every Swift file under `folder` of the repository, as text.
    static func swiftSources(under folder: String) throws -> [(path: String, text: String)] {
        let root = repositoryRoot.appendingPathComponent(folder)
        let walker = try #require(FileManager.default.enumerator(atPath: root.path))
        return try walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted().map { path in
            (folder + "/" + path, try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8))
        }
    }

    @Test func theListHoldsEveryNameTheSourcesRead() throws {
        let known = try Self.list("read")
        #expect(known.contains("JOBLEDGER_DB") && known.contains("JOBLEDGER_LOG_LEVEL"), "\(known.sorted())")
        var missing: [String] = []
        for file in try Self.swiftSources(under: "Sources") where !file.path.hasSuffix("/KnownEnvironment.swift") {
            for name in Self.quotedNames(in: file.text).subtracting(known).sorted() { missing.append("\(name) (\(file.path))") }
        }
        #expect(missing.isEmpty, "read in Sources/ but not listed in KnownEnvironment.read: \(missing)")
        // And nothing listed that nothing reads any more (it would never be warned about).
        let read = try Self.swiftSources(under: "Sources").filter { !$0.path.hasSuffix("/KnownEnvironment.swift") }
            .reduce(into: Set<String>()) { $0.formUnion(Self.quotedNames(in: $1.text)) }
        #expect(known.subtracting(read).isEmpty, "listed but read nowhere in Sources/: \(known.subtracting(read).sorted())")
    }

    @Test func theTestVariablesAreListedAsSuch() throws {
        let testsOnly = try Self.list("testsOnly")
        let known = try Self.list("read")
        var used: Set<String> = []
        for file in try Self.swiftSources(under: "Tests") { used.formUnion(Self.quotedNames(in: file.text)) }
        for script in ["Fixtures/setup-venv.sh", "Fixtures/serve-e2e/test_browser.py"] {
            let text = try String(contentsOf: repositoryRoot.appendingPathComponent(script), encoding: .utf8)
            used.formUnion(text.matches(of: #/JOBLEDGER_[A-Z0-9_]*[A-Z0-9]/#).map { String($0.output) })
        }
        // What the tests set that the binary does not read must be a test variable, or every
        // `work` the tests start would warn about it.
        let unlisted = used.subtracting(known).subtracting(testsOnly).filter { !Self.madeUpHere.contains($0) }
        #expect(unlisted.isEmpty, "used by the tests but in neither list: \(unlisted.sorted())")
        #expect(testsOnly.isDisjoint(with: known))
    }

    /// The misspellings these tests make up on purpose.
    static let madeUpHere: Set<String> = ["JOBLEDGER_RATE_LIMT", "JOBLEDGER_AUTH_HS256_SECRT", "JOBLEDGER_NOT_A_SETTING"]

    @Test func aMisspeltVariableIsWarnedAboutWithTheNameItIsCloseTo() async throws {
        let scratch = Scratch()
        try await logWithQueuedJob("p.sqlite", in: scratch)
        let r = try await jobledger(["project", "--once", "--db", "p.sqlite"], in: scratch,
                                    environment: ["JOBLEDGER_RATE_LIMT": "5/60s", "JOBLEDGER_AUTH_HS256_SECRT": "a-secret-that-must-not-be-shown-1234",
                                                  "JOBLEDGER_NOT_A_SETTING": "1"])
        #expect(r.status == 0, "\(r)")
        let warnings = r.stderrLines.filter { $0.hasPrefix("jobledger: warning: ignoring ") }
        #expect(warnings == [
            "jobledger: warning: ignoring JOBLEDGER_AUTH_HS256_SECRT: jobledger reads no such variable; did you mean JOBLEDGER_AUTH_HS256_SECRET?",
            "jobledger: warning: ignoring JOBLEDGER_NOT_A_SETTING: jobledger reads no such variable (.env.example lists those it reads)",
            "jobledger: warning: ignoring JOBLEDGER_RATE_LIMT: jobledger reads no such variable; did you mean JOBLEDGER_RATE_LIMIT?",
        ], "\(r)")
        #expect(!r.stderr.contains("a-secret-that-must-not-be-shown"), "a value was shown: \(r)")
        // `work` says it too, once.
        let work = try await jobledger(["work", "--until-idle", "--db", "p.sqlite", "--fail-rate", "0"], in: scratch,
                                       environment: ["JOBLEDGER_RATE_LIMT": "5/60s"])
        #expect(work.status == 0, "\(work)")
        #expect(work.stderrLines.filter { $0.contains("JOBLEDGER_RATE_LIMT") }.count == 1, "\(work)")
        // `serve` says it before it refuses to start without authentication: the misspelling is
        // why the secret "is not set".
        let serve = try await jobledger(["serve", "--db", "p.sqlite", "--port", "0"], in: scratch,
                                        environment: ["JOBLEDGER_AUTH_HS256_SECRT": "a-secret-that-must-not-be-shown-1234"])
        #expect(serve.status == 2, "\(serve)")
        #expect(serve.stderrLines.count == 2, "\(serve)")
        #expect(serve.stderrLines.first?.hasSuffix("did you mean JOBLEDGER_AUTH_HS256_SECRET?") == true, "\(serve)")
        #expect(serve.stderrLines.last?.contains("no authentication configured") == true, "\(serve)")
        #expect(!serve.stderr.contains("a-secret-that-must-not-be-shown"), "a value was shown: \(serve)")
    }

    @Test func everyKnownVariableSetEmptyDrawsNoWarning() async throws {
        let scratch = Scratch()
        try await logWithQueuedJob("p.sqlite", in: scratch)
        // Empty counts as unset for every variable, so the run is as without them.
        var environment: [String: String] = [:]
        for name in try Self.list("read").union(Self.list("testsOnly")) { environment[name] = "" }
        let r = try await jobledger(["project", "--once", "--db", "p.sqlite"], in: scratch, environment: environment)
        #expect(r.status == 0, "\(r)")
        #expect(!r.stderr.contains("warning"), "\(r)")
    }
}
