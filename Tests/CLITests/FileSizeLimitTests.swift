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

    /// On a full disk a closed log (no `-wal`) is still read whole by `export` and `jobs`, as by
    /// `verify`: they read with locks, for which SQLite must make a `-shm`, and failed (exit 6). Copying the
    /// log off a full disk is the way out, and EventLog.md says `export` works there. The limit
    /// (`ulimit -f 8`, 4–8 KB) is below the first 32 KiB of a `-shm` and above nothing the
    /// commands write (their output goes to a pipe, which the limit does not cover).
    @Test func aClosedLogIsExportedAndListedOnAFullDisk() async throws {
        let scratch = Scratch()
        for i in 0..<3 {
            let r = try await jobledger(["submit", "design", "--db", "d.sqlite", "--input", #"{"prompt":"p\#(i)"}"#], in: scratch)
            #expect(r.status == 0, "\(r)")
        }
        #expect(!scratch.exists("d.sqlite-wal") && !scratch.exists("d.sqlite-shm"))
        let export = try await jobledgerInShell("export --db d.sqlite", setup: "ulimit -f 8; ", in: scratch)
        #expect(export.status == 0, "\(export)")
        #expect(export.stdout.split(separator: "\n").count == 3, "\(export)")
        let jobs = try await jobledgerInShell("jobs --db d.sqlite", setup: "ulimit -f 8; ", in: scratch)
        #expect(jobs.status == 0 && jobs.stdout.contains("queued"), "\(jobs)")
        // What the failed try with locks made cannot be removed on a full disk (that takes a
        // connection with its own -shm): an empty -wal and a -shm short of SQLite's first
        // region, which no writer ever used and every command reads past.
        let wal = try? FileManager.default.attributesOfItem(atPath: scratch.path("d.sqlite-wal"))[.size] as? Int
        let shm = try? FileManager.default.attributesOfItem(atPath: scratch.path("d.sqlite-shm"))[.size] as? Int
        #expect((wal ?? 0) == 0 && (shm ?? 0) < 32_768, "\(String(describing: wal)) \(String(describing: shm))")
        let verify = try await jobledger(["verify", "--db", "d.sqlite"], in: scratch)
        #expect(verify.status == 0, "\(verify)")
    }
}
