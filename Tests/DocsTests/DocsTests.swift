import Foundation
import Testing

// The docs are tests (issue 18): every ```console block of README.md and of the pages under Docs/
// is run as written, and its output and exit code compared with what the page shows. See
// Docs/README.md for the syntax (wildcards, `# exit N`, skip markers).

/// README.md and every Markdown page under Docs/, as paths from the package root.
let documentedPages: [String] = {
    var pages = ["README.md"]
    let docs = packageRoot.appendingPathComponent("Docs")
    if let walker = FileManager.default.enumerator(atPath: docs.path) {
        for case let path as String in walker where path.hasSuffix(".md") { pages.append("Docs/" + path) }
    }
    return pages.sorted()
}()

@Suite("The docs, run as written", .serialized)
struct DocsTests {
    @Test("every console block of the page prints what the page shows", arguments: documentedPages)
    func page(_ path: String) async throws {
        let markdown = try String(contentsOf: packageRoot.appendingPathComponent(path), encoding: .utf8)
        let page = DocPage(markdown: markdown)
        for problem in page.problems { Issue.record("\(path) \(problem)") }
        let binary = try #require(jobledgerBinary, "the jobledger executable was not found; run `swift build` first, or set JOBLEDGER_BIN")

        let before = Set(try FileManager.default.contentsOfDirectory(atPath: packageRoot.path))
        let session = try DocSession(binary: binary)
        for mismatch in try await session.run(page.blocks) { Issue.record("\(path) \(mismatch)") }
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: packageRoot.path))
        let left = after.subtracting(before).filter { !$0.hasPrefix(".") }
        #expect(left.isEmpty, "\(path) left \(left.sorted()) in the repository root; a page makes its files in a folder it makes (`cd \"$(mktemp -d)\"`)")

        let run = page.blocks.filter { $0.skipReason == nil }
        let skipped = page.blocks.filter { $0.skipReason != nil }
        var report = "docs: \(path): \(run.count) blocks checked (\(run.reduce(0) { $0 + $1.steps.count }) commands), \(skipped.count) skipped"
        for block in skipped { report += "\n  skipped line \(block.line): \(block.skipReason ?? "")" }
        print(report)
    }
}

/// The docs test must fail when a page is wrong: a test that passes with a broken page is worth nothing.
@Suite("The docs test itself")
struct DocsTestSelfTests {
    let page = DocPage(markdown: """
        Some prose.

        ```console
        $ cd "$(mktemp -d)" && echo job-42 > id
        $ JOB=$(cat id)
        $ echo "job $JOB is done"
        job job-… is done
        $ printf 'a\\nb\\nc\\n'
        a
        …
        $ echo refused >&2; exit 3
        refused
        # exit 3
        $ echo "the last command exited $?"
        the last command exited 3
        $ ls
        id
        ```

        <!-- doctest: skip: runs until it is stopped -->
        ```console
        $ yes
        y
        ```

        ```sh
        $ echo not marked console
        ```
        """)

    @Test func parsesCommandsOutputExitCodesAndSkips() throws {
        #expect(page.blocks.count == 2)
        let steps = page.blocks[0].steps
        #expect(steps.map(\.command).first == #"cd "$(mktemp -d)" && echo job-42 > id"#)
        #expect(steps[2].expected == ["job job-… is done"])
        #expect(steps[4].exitCode == 3 && steps[4].expected == ["refused"])
        #expect(steps[6].exitCode == 0 && steps[6].line == 16)
        #expect(page.blocks[1].skipReason == "runs until it is stopped")
        #expect(page.problems.count == 1 && page.problems[0].contains("line 27"), "\(page.problems)")
    }

    @Test func aPageThatIsRightPasses() async throws {
        let session = try DocSession(binary: try #require(jobledgerBinary))
        let mismatches = try await session.run(page.blocks)
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test func aChangedOutputFails() async throws {
        let broken = DocPage(markdown: """
            ```console
            $ cd "$(mktemp -d)"
            $ echo "job 42 is done"
            job 42 is finished
            $ printf 'a\\nb\\n'
            a
            ```
            """)
        let mismatches = try await DocSession(binary: try #require(jobledgerBinary)).run(broken.blocks)
        #expect(mismatches.map(\.step.line) == [3, 5], "\(mismatches)")
    }

    @Test func aChangedExitCodeFails() async throws {
        let broken = DocPage(markdown: """
            ```console
            $ cd "$(mktemp -d)"
            $ false
            $ true
            # exit 2
            $ echo $?
            0
            ```
            """)
        let mismatches = try await DocSession(binary: try #require(jobledgerBinary)).run(broken.blocks)
        #expect(mismatches.map(\.exitCode) == [1, 0], "\(mismatches)")
    }

    @Test(.timeLimit(.minutes(1))) func aCommandLeftInTheBackgroundDoesNotHoldTheRun() async throws {
        let page = DocPage(markdown: """
            ```console
            $ cd "$(mktemp -d)"
            $ sleep 600 &
            $ echo next
            next
            ```
            """)
        let mismatches = try await DocSession(binary: try #require(jobledgerBinary)).run(page.blocks)
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    @Test func aCommandGetsNoDescriptorOfTheTestProcess() async throws {
        // bash's own: 0, 1, 2 and 255 (the script it reads). Listed by a simple command, not a
        // pipeline: while a pipeline's first command runs, bash may still hold the pipe it is
        // making for the next one (an fd 4 seen in loaded runs).
        let command = "f=$(mktemp); ls /proc/$$/fd > \"$f\"; sort -n \"$f\" | tr '\\n' ' '; rm -f \"$f\""
        let (output, _, code) = try await DocSession(binary: try #require(jobledgerBinary)).run(command)
        #expect(code == 0 && output.first == "0 1 2 255 ", "\(output)")
    }

    @Test func nothingRunsInTheRepositoryRoot() async throws {
        let careless = DocPage(markdown: """
            ```console
            $ touch left-behind.txt
            ```
            """)
        let mismatches = try await DocSession(binary: try #require(jobledgerBinary)).run(careless.blocks)
        #expect(mismatches.count == 1 && mismatches.first?.exitCode == -1, "\(mismatches)")
        #expect(!FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("left-behind.txt").path))
    }

    @Test func theBuiltJobledgerIsTheOneOnPath() async throws {
        let (output, _, code) = try await DocSession(binary: try #require(jobledgerBinary)).run("command -v jobledger")
        #expect(code == 0 && output.first == jobledgerBinary?.path, "\(output)")
    }

    @Test func aQuoteLeftOpenContinuesTheCommand() {
        #expect(DocPage.quoteLeftOpen(#"sqlite3 x.sqlite ""#))
        #expect(!DocPage.quoteLeftOpen(#"echo "it's" 'a \"b' # it's"#))
        #expect(!DocPage.quoteLeftOpen(#"echo ${#x} a\'b"#))
        let page = DocPage(markdown: "```console\n$ sqlite3 x.sqlite \"\nSELECT 1;\"\n1\n```\n")
        #expect(page.blocks.first?.steps.first?.command == "sqlite3 x.sqlite \"\nSELECT 1;\"")
        #expect(page.blocks.first?.steps.first?.expected == ["1"])
    }

    @Test func wildcards() {
        #expect(DocOutput.line("head 4:9c1f00ab", matches: "head 4:…"))
        #expect(DocOutput.line("job 01ab: refused", matches: "job …: refused"))
        #expect(!DocOutput.line("job 01ab: accepted", matches: "job …: refused"))
        #expect(DocOutput.line("aXbYc", matches: "a…b…c"))
        #expect(!DocOutput.line("ab", matches: "ab…b"))
        #expect(DocOutput.matches(expected: ["a", "…"], actual: ["a"]))
        #expect(DocOutput.matches(expected: ["a", "  …", "d"], actual: ["a", "  b", "  c", "d"]))
        // stdout and stderr in the order a terminal shows them, whatever order a file got them in.
        #expect(DocOutput.matches(expected: ["id", "appended", "more"], stdout: ["id", "more"], stderr: ["appended"]))
        #expect(!DocOutput.matches(expected: ["more", "id", "appended"], stdout: ["id", "more"], stderr: ["appended"]))
        #expect(DocOutput.matches(expected: ["a", "…", "d"], actual: ["a", "b", "c", "d", ""]))
        #expect(!DocOutput.matches(expected: ["a", "…", "d"], actual: ["a", "b", "c"]))
        #expect(!DocOutput.matches(expected: [], actual: ["unexpected"]))
    }
}
