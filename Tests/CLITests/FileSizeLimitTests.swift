import Foundation
import JobLedgerTestSupport
import Testing

/// A process whose file-size limit (`ulimit -f`, RLIMIT_FSIZE) the log reaches gets EFBIG, which
/// SQLite reports as a disk I/O error: it was said as an `io` fault with "check the disk and the
/// file system (kernel log, dmesg)", on a disk with gigabytes free. It is a size cap reached:
/// `full`, naming the file at the limit and the limit, and what to raise.
@Suite struct FileSizeLimitTests {
    @Test func aLogAtTheFileSizeLimitIsFullAndSaysWhichLimit() async throws {
        let scratch = Scratch()
        let r = try await jobledgerInShell("demo --jobs 30 --db d.sqlite --storage-wait 0.5", setup: "ulimit -f 512; ", in: scratch)
        #expect(r.status == 6, "\(r)")
        #expect(r.stderr.contains("the log d.sqlite is full (SQLite: disk I/O error; d.sqlite"), "\(r)")
        // dash counts 512-byte blocks, bash 1024-byte ones.
        #expect(["256 KB", "512 KB"].contains { r.stderr.contains("at the process's file-size limit (ulimit -f) of \($0)") }, "\(r)")
        #expect(r.stderr.contains("To fix: raise the process's file-size limit (ulimit -f unlimited)"), "\(r)")
        #expect(!r.stderr.contains("dmesg"), "\(r)")
        // Nothing the run recorded is lost: the log verifies.
        #expect(try await jobledger(["verify", "--db", "d.sqlite"], in: scratch).status == 0)
    }

    /// `export --output` that cannot finish its file said Foundation's error as it prints itself
    /// (`Error Domain=NSCocoaErrorDomain Code=… UserInfo={…}`); now the system's reason.
    @Test func anExportThatCannotBeWrittenSaysWhyInPlainWords() async throws {
        let scratch = Scratch()
        let demo = try await jobledger(["demo", "--jobs", "80", "--db", "d.sqlite", "--no-effects"], in: scratch)
        #expect(demo.status == 0, "\(demo)")
        let r = try await jobledgerInShell("export --db d.sqlite --output e.ndjson", setup: "ulimit -f 128; ", in: scratch)
        #expect(r.status == 6 && r.stderr.contains("cannot write e.ndjson: File too large"), "\(r)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain") && !r.stderr.contains("UserInfo"), "\(r)")
        #expect(!scratch.exists("e.ndjson"), "nothing was left there")
    }
}
