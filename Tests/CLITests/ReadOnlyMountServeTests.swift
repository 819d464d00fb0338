import Foundation
import JobLedgerTestSupport
import Testing

/// A log whose `-wal` and `-shm` were left (by a killed process) on what is now a read-only
/// mount: SQLite opens it read-only, without an error, and `serve` said it was serving, paused
/// for good (every submit 503, `/readyz` 503), against Serve.md. A write probe at start now
/// finds it, before the server listens, and stops it at once (exit 6): a read-only log is not a
/// fault that passes by waiting (a full disk is, and is waited out for `--storage-wait`). Needs a read-only bind mount (root, and a
/// container that allows mounting): where that cannot be made, the test does not run.
@Suite struct ReadOnlyMountServeTests {
    static func sh(_ script: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try startChild(p) } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Whether a read-only bind mount can be made here.
    static let canMountReadOnly: Bool = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jobledger-mount-\(UUID().uuidString)").path
        defer { _ = sh("umount '\(dir)/ro' 2>/dev/null; rm -rf '\(dir)'") }
        return sh("mkdir -p '\(dir)/src' '\(dir)/ro' && mount --bind '\(dir)/src' '\(dir)/ro' && mount -o remount,bind,ro '\(dir)/ro'") == 0
    }()

    @Test(.enabled(if: canMountReadOnly, "a read-only bind mount cannot be made here (needs root and mount rights)"))
    func aLogLeftReadOnlyWithItsWALStopsServeBeforeItListens() async throws {
        let scratch = Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path("ro"), withIntermediateDirectories: true)
        #expect(try await jobledger(["submit", "design", "--db", "src/s.sqlite"], in: scratch).status == 0)
        // What a killed writer leaves: the -wal and -shm beside the log (python's sqlite3 exits
        // without closing its connection).
        #expect(Self.sh("cd '\(scratch.path("src"))' && python3 -c \"import sqlite3, os; c = sqlite3.connect('s.sqlite'); "
                        + "c.execute('CREATE TABLE IF NOT EXISTS left_open(a)'); c.commit(); os._exit(0)\"") == 0)
        #expect(FileManager.default.fileExists(atPath: scratch.path("src/s.sqlite-wal")))
        #expect(Self.sh("mount --bind '\(scratch.path("src"))' '\(scratch.path("ro"))' && mount -o remount,bind,ro '\(scratch.path("ro"))'") == 0)
        defer { _ = Self.sh("umount '\(scratch.path("ro"))'") }
        let r = try await jobledger(["serve", "--db", "ro/s.sqlite", "--insecure-no-auth", "--port", "0", "--storage-wait", "0.5"], in: scratch)
        #expect(r.status == 6, "\(r)")
        #expect(!r.stderr.contains("serving http"), "\(r)")
        #expect(r.stderr.contains("the log ro/s.sqlite is read-only"), "\(r)")
        #expect(r.stderr.contains("make the file, its -wal and -shm and their folder writable again"), "\(r)")
    }

    /// A log on a read-only file system, with or without a `-wal` left beside it, stops `serve`
    /// at once with exit 6, whatever `--storage-wait` says: Serve.md said it waited
    /// `--storage-wait` first, while the log it cannot open for writing stopped it at once; the
    /// one left read-only with its `-wal` waited. Both now stop at once, as the docs say.
    @Test(.enabled(if: canMountReadOnly, "a read-only bind mount cannot be made here (needs root and mount rights)"),
          arguments: [false, true])
    func aReadOnlyLogStopsServeAtOnce(leftWAL: Bool) async throws {
        let scratch = Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path("ro"), withIntermediateDirectories: true)
        #expect(try await jobledger(["submit", "design", "--db", "src/s.sqlite"], in: scratch).status == 0)
        if leftWAL {
            #expect(Self.sh("cd '\(scratch.path("src"))' && python3 -c \"import sqlite3, os; c = sqlite3.connect('s.sqlite'); "
                            + "c.execute('CREATE TABLE IF NOT EXISTS left_open(a)'); c.commit(); os._exit(0)\"") == 0)
        }
        #expect(Self.sh("mount --bind '\(scratch.path("src"))' '\(scratch.path("ro"))' && mount -o remount,bind,ro '\(scratch.path("ro"))'") == 0)
        defer { _ = Self.sh("umount '\(scratch.path("ro"))'") }
        let clock = ContinuousClock(), start = clock.now
        let r = try await jobledger(["serve", "--db", "ro/s.sqlite", "--insecure-no-auth", "--port", "0", "--storage-wait", "60"], in: scratch,
                                    deadline: .seconds(90))
        #expect(r.status == 6, "\(r)")
        #expect(clock.now - start < .seconds(30), "waited for --storage-wait: \(r)")
        #expect(!r.stderr.contains("serving http") && !r.stderr.contains("retrying for up to"), "\(r)")
        #expect(r.stderr.contains(leftWAL ? "the log ro/s.sqlite is read-only" : "cannot open ro/s.sqlite: it is on a read-only file system"), "\(r)")
        #expect(!r.stderr.contains("no permission"), "a read-only mount is no matter of permission: \(r)")
    }
}
