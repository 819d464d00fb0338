import ArgumentParser
import Foundation
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append the events of an NDJSON export, re-validating every transition; all or nothing.")

    @OptionGroup var log: LogOptions
    @OptionGroup var storage: StorageWaitOptions
    @Argument(help: "The NDJSON file, or - for standard input.") var file: String
    @Option(help: "Longest line accepted, in bytes (1…1073741824).") var maxLineBytes: Int = LineReader.defaultMaxLineBytes

    func validate() throws {
        // SQLite stores no text longer than 1 GB, so no longer line can hold an event.
        guard (1...(1 << 30)).contains(maxLineBytes) else {
            throw ValidationError("--max-line-bytes must be in 1…1073741824, got \(maxLineBytes)")
        }
    }

    func run() async throws {
        try await guarded {
            let handle: FileHandle
            if file == "-" {
                handle = .standardInput
            } else {
                // A folder opens for reading, but every read of it fails (EISDIR): said here, as
                // the bad input it is, not later as a storage error.
                var isFolder: ObjCBool = false
                if FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), isFolder.boolValue {
                    throw fail("cannot read \(file): it is a folder; give the NDJSON file (an export), or - for standard input", code: 2)
                }
                switch SystemReason.openForReading(file) {
                case .success(let fd): handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                case .failure(let reason): throw fail("cannot read \(file): \(reason.code == ENOENT ? "no such file" : reason.description)", code: 2)
                }
            }
            // An existing file that is not a log is refused before the input is read; a new log
            // is created only once the input has passed its checks.
            let bound = storage.bound(oneShot: true)
            let exists = FileManager.default.fileExists(atPath: log.path)
            // Into a new path, Ctrl-C (or SIGTERM) must not leave a new, empty log behind: it
            // was left so, without a word. An existing log rolls the transaction back; that too
            // is said.
            let interrupt = await ImportInterrupt.install(path: log.path, makesTheLog: !exists)
            let existing = exists ? try await waitingOutStorageFaults(bound) { try log.open(create: true, announce: false) } : nil
            // The whole input is read and checked with no lock held (a pipe is copied aside
            // meanwhile); only then does the import take the write lock.
            let checking = CommandProgress("checking \(file == "-" ? "the input" : file)", total: Self.regularFileSize(handle), unit: .bytes)
            let checked = try CheckedImport.check(handle: handle, maxLineBytes: maxLineBytes) { checking.update(Int($0)) }
            checking.finish()
            let report: ImportReport
            if existing != nil {
                do {
                    report = try await write(checked, into: existing, bound: bound, interrupt: interrupt)
                } catch where interrupt.isInterrupted {
                    throw fail("interrupted: nothing was imported into \(log.path) (its transaction was rolled back: the log is as it was)", code: 130)
                }
            } else {
                report = try await writeNew(checked, bound: bound, interrupt: interrupt)
            }
            print("imported \(plural(report.events, "event")) of \(plural(report.jobs, "job"))\(report.firstSeq.map { " as seq \($0)…\(report.head!.seq)" } ?? ""); head \(report.head?.description ?? "unchanged")")
            // A restore that checked nothing, or restored nothing, reads as one that did.
            if checked.events == 0 {
                printErr("jobledger: warning: \(file == "-" ? "the input" : file) holds no event (an export of a log holds one line per event)")
            } else if !checked.chained {
                printErr(Self.unchainedNote)
            }
        }
    }

    /// Said after an import of lines without the hash chain (written by hand or another
    /// program): nothing but the log's rules checked them.
    static let unchainedNote = "jobledger: note: the lines carry no hash chain (as an export's do): each event was checked against the log's rules only"

    /// The size of the file `handle` reads, or 0 when it is no regular file (a pipe).
    static func regularFileSize(_ handle: FileHandle) -> Int {
        var info = stat()
        guard fstat(handle.fileDescriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return 0 }
        return Int(info.st_size)
    }

    /// The second pass, into `existing`, else into a log at `path`. All or nothing: a try that
    /// a storage fault stops writes nothing, and is made again; an interrupt rolls it back.
    private func write(_ checked: CheckedImport, into existing: Ledger?, at path: String? = nil, bound: Duration?,
                       interrupt: ImportInterrupt?) async throws -> ImportReport {
        interrupt?.beginWriting()
        var target = existing
        if target == nil, let path {
            let configuration = try log.configuration()
            target = try await waitingOutStorageFaults(bound) { try Ledger.open(path: path, configuration: configuration, create: true) }
        }
        let ledger = target!
        let report = try await waitingOutStorageFaults(bound) {
            // `stop` is asked once for each line written (and once more before the commit): the
            // lines are counted by it.
            let progress = CommandProgress("importing", total: checked.lines)
            defer { progress.finish() }
            var asked = 0
            // The blob projection starts after the imported events: an export carries no asset
            // bytes, so their artefacts cannot be uploaded from here (see `importNDJSON`).
            return try ledger.importNDJSON(checked, startingAfter: [.blob]) {
                asked += 1
                if asked <= checked.lines { progress.update(asked) } else { progress.note("importing: committing \(checked.lines) lines …") }
                return interrupt?.isInterrupted ?? false
            }
        }
        interrupt?.finished()
        // A new log takes its name by a link to its file alone: the WAL folded in first.
        if path != nil { try ledger.foldWAL() }
        return report
    }

    /// An import into a path where no log exists: the log is made beside it under a staging
    /// name (`StagedFile`) and takes its name only once the import has committed and the log is
    /// closed (its WAL folded in). A refused, interrupted or killed import leaves nothing at the
    /// path: a `kill -9` left an empty log there, which `verify` passed (0 events), so a restore
    /// that checked "the file is there and verifies" took it.
    private func writeNew(_ checked: CheckedImport, bound: Duration?, interrupt: ImportInterrupt?) async throws -> ImportReport {
        let why = "import makes a new log only where none is"
        let path = Self.newLogPath(log.path)
        // Another process made the log while this import read and checked its input (a second
        // import, a `submit`): nothing of this one was imported, and an import into an existing
        // log is what running it again does. ("already exists; import makes a new log only where
        // none is" read as if such an import were not possible.)
        // (`fail` says its message as it is made: made only when thrown.)
        let madeMeanwhile = { fail("\(log.path) was made by another process while this import ran; nothing was imported: run the import again to add to that log", code: 5) }
        if FileManager.default.fileExists(atPath: path) { throw madeMeanwhile() }
        let staging = try StagedFile.begin(path, why: why)
        let remove = { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(staging + suffix) } }
        let report: ImportReport
        do {
            // The ledger is `write`'s alone: closed when it returns (the last connection folds
            // the WAL into the file and removes it).
            report = try await write(checked, into: nil, at: staging, bound: bound, interrupt: interrupt)
        } catch {
            remove()
            if interrupt?.isInterrupted == true {
                throw fail("interrupted: nothing was imported, and no log was created at \(log.path)", code: 130)
            }
            throw error
        }
        // The WAL was folded in and emptied (`foldWAL`); it is removed with the last connection.
        let wal = (try? FileManager.default.attributesOfItem(atPath: staging + "-wal")[.size] as? NSNumber)?.int64Value ?? 0
        guard wal == 0 else {
            remove()
            throw fail("storage error: the imported log \(staging) kept \(wal) bytes of WAL after it was closed; nothing was created at \(log.path); run the import again", code: 6)
        }
        do { try StagedFile.publish(staging, as: path, why: why) } catch {
            remove()
            if FileManager.default.fileExists(atPath: path) { throw madeMeanwhile() }
            throw error
        }
        unlink(staging + "-wal"); unlink(staging + "-shm")
        return report
    }

    /// Where a new log for `--db path` is made: the path itself, or, when it is a symlink to
    /// nothing (yet), the file the link names, as every other command would create it. The
    /// import linked its finished log over the symlink, which failed: "already exists".
    static func newLogPath(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { return current }
            let folder = (current as NSString).deletingLastPathComponent
            current = target.hasPrefix("/") || folder.isEmpty ? target : folder + "/" + target
        }
        return path  // a loop: left to the link to refuse
    }
}
