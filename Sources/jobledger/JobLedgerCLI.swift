import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

@main
struct JobLedgerCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobledger",
        abstract: "An event-sourced job log: append, inspect, verify, export and replay job lifecycles.",
        discussion: """
            Exit codes: 0 ok · 1 verification failed (verify; replay --check, diff and projections --check finding something) · 2 bad input (JSON, payload, id, import line, an argument that is not UTF-8; serve: a port already in use; an open-file limit too low to run, or no file descriptors left) · \
            3 refused by the lifecycle (illegal transition, unknown job, version conflict, an idempotency key reused for another request) · \
            4 not a JobLedger log (or newer schema, or missing) · 5 locked by another writer · \
            6 storage error (a full disk, an I/O error or a read-only or vanished log that outlasted --storage-wait; output that could not be written) · \
            7 the run finished but effects are still owed (broadcasts or uploads pending or dead: finish with `jobledger project --once`; \
            also blobs prune --apply refused while the blob projection has not taken in the jobs' artefacts) · \
            130 interrupted (demo or work --until-idle stopped by SIGINT/SIGTERM with jobs left; a second signal during a graceful shutdown; \
            export or replay --effects stopped by a signal, their output ending on a whole line) · 64 usage.
            """,
        subcommands: [Demo.self, Work.self, Submit.self, Cancel.self, Retry.self, Append.self, Jobs.self, History.self,
                      Verify.self, DigestCommand.self, Export.self, Import.self, Project.self, Projections.self, Tail.self, Blobs.self,
                      Replay.self, StateAsOf.self, Diff.self, Bench.self, IntakeCommand.self, Serve.self])

    /// Parses `--priority -5` as `--priority=-5`: the argument parser takes a word starting with
    /// `-` for an option, so a negative number after a long option read as a missing value.
    /// SIGPIPE is ignored: output to a reader that has gone (`| head`) is dropped (EPIPE), and the
    /// command goes on to its normal end instead of dying mid-run with jobs left `running`.
    /// A command that ends normally exits 6 when what it printed could not be written (see
    /// `exitIfStandardOutputFailed`); one that fails with its own exit code (`verify`'s 1,
    /// `diff`'s 1) keeps it, and says on stderr that what it printed is incomplete.
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        // Bytes that are not UTF-8 would reach the commands repaired (U+FFFD) and be stored so.
        if let bad = RawArguments.firstInvalid() {
            writeQuietly("jobledger: \(bad.message)\n")
            Foundation.exit(2)
        }
        if let unknown = unknownHelpTopic(Array(CommandLine.arguments.dropFirst())) {
            writeQuietly("jobledger: \(unknown)\n")
            Foundation.exit(64)
        }
        // Raised for every command; one it is too low for is refused before it is even parsed,
        // instead of crashing part way when libdispatch or NIO finds no descriptor left.
        if let refusal = OpenFileLimit.refusal(arguments: Array(CommandLine.arguments.dropFirst())) {
            writeQuietly("jobledger: \(refusal)\n")
            Foundation.exit(2)
        }
        // Before any logger is made: every logger of the process is made by the handler it sets.
        do { try LogFormat.fromEnvironment().bootstrap() } catch {
            writeQuietly("jobledger: \(error)\n")
            Foundation.exit(64)
        }
        do {
            var command = try await asyncParseAsRoot(negativeNumbersJoined(Array(CommandLine.arguments.dropFirst())))
            LogLevel.set(LogLevel.of(command))
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode where code != .success {
            // The report (verify's FAILED line, diff's differences) went to stdout: lost there,
            // it must not vanish without a word, as `verify > report.txt` on a full disk did.
            sayIfStandardOutputFailed()
            exit(withError: code)
        } catch {
            // The parser's message quotes what it was given (`invalid job id '…'`): written with
            // its control characters escaped, as every other message on stderr is.
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            let message = fullMessage(for: error)
            if !message.isEmpty { writeQuietly(terminalSafeLines(message) + "\n") }
            Foundation.exit(code.rawValue)
        }
        exitIfStandardOutputFailed()
    }

    /// `jobledger help NAME…` naming no subcommand: a usage error. (The parser's own `help`
    /// printed the root help and exited 0 for `help nope`, as if it were a topic.)
    static func unknownHelpTopic(_ args: [String]) -> String? {
        guard args.first == "help" else { return nil }
        var commands = configuration.subcommands
        var path = "jobledger"
        for name in args.dropFirst() where !name.hasPrefix("-") {
            guard let command = commands.first(where: { $0._commandName == name || $0.configuration.aliases.contains(name) }) else {
                return "unknown subcommand '\(name)' of \(path) (`\(path) --help` lists them)"
            }
            path += " " + name
            commands = command.configuration.subcommands
        }
        return nil
    }

    /// `args` with every `--option NUMBER` whose number is negative written `--option=NUMBER`.
    /// No option of this CLI is spelled like a number, so nothing else changes.
    static func negativeNumbersJoined(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--"), !a.contains("="), a != "--", i + 1 < args.count, isNegativeNumber(args[i + 1]) {
                out.append(a + "=" + args[i + 1])
                i += 2
                continue
            }
            if a == "--" { out += args[i...]; break }
            out.append(a)
            i += 1
        }
        return out
    }

    static func isNegativeNumber(_ s: String) -> Bool {
        guard s.count > 1, s.first == "-" else { return false }
        return Double(s.dropFirst()) != nil && s.dropFirst().first?.isNumber == true
    }
}

/// Options every command takes to find and open the log.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "The log file (default: $JOBLEDGER_DB when set and not empty, else ./jobledger.sqlite).")
    var db: String?

    @Option(name: .long, help: "Seconds to wait for another writer's lock before giving up, \(OptionRanges.busyTimeout.bounds).")
    var busyTimeout: Double = 5

    @Option(name: .long, help: "Largest event payload accepted, in bytes, \(OptionRanges.maxPayloadBytes.bounds).")
    var maxPayloadBytes: Int = 64 * 1024

    @Option(name: .long, help: "How commits reach the disk: normal (WAL, synchronous=NORMAL) or full (synchronous=FULL).")
    var durability: LedgerConfiguration.Durability = .normal

    var path: String {
        db ?? ProcessInfo.processInfo.environment["JOBLEDGER_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "jobledger.sqlite"
    }

    func validate() throws {
        try Self.checkPath(db, option: "--db")
        if db == nil, let fromEnvironment = ProcessInfo.processInfo.environment["JOBLEDGER_DB"], !fromEnvironment.isEmpty {
            // Read repaired (each byte that is not UTF-8 became U+FFFD), two different paths
            // named one log; `--db` refuses such bytes (`RawArguments`).
            if let bad = RawArguments.invalidEnvironmentValue("JOBLEDGER_DB") { throw ValidationError(bad) }
            try Self.checkPath(fromEnvironment, option: "JOBLEDGER_DB")
        }
        try OptionRanges.busyTimeout.check(busyTimeout)
        try OptionRanges.maxPayloadBytes.check(maxPayloadBytes)
        _ = try maxPageCountFromEnvironment()
        _ = try LogLevel.fromEnvironment()
    }

    func configuration() throws -> LedgerConfiguration {
        try validate()  // checked again: the conversions below are safe only within the ranges
        var c = LedgerConfiguration()
        c.durability = durability
        c.busyTimeout = .milliseconds(Int64((busyTimeout * 1000).rounded()))
        c.maxPayloadBytes = maxPayloadBytes
        c.maxPageCount = try maxPageCountFromEnvironment()
        return c
    }

    /// Opens the log to write to it; with `create`, a log that does not exist yet is made, and
    /// a line on stderr says so, with its full path: a mistyped `--db` shows at once, instead
    /// of jobs going quietly into a new file that nothing else reads.
    /// (`import`, whose own report says what it wrote, passes `announce: false`.)
    func open(create: Bool, announce: Bool = true) throws -> Ledger {
        let existed = FileManager.default.fileExists(atPath: path)
        let isNew = create && announce && !Self.holdsData(path)
        let ledger: Ledger
        do {
            ledger = try Ledger.open(path: path, configuration: configuration(), create: create)
        } catch let e as LedgerError where create && !existed && e.storageFault != nil {
            // A log this call began to make and could not finish (a full disk) is not left
            // behind, empty or half made, beside a message that says nothing was written.
            Self.removeUnfinished(path)
            throw e
        }
        if isNew {
            let full = URL(fileURLWithPath: path).standardizedFileURL.path
            writeQuietly("jobledger: created a new log at \(full)\n")
        }
        if let from = ledger.migratedFrom {
            // An upgrade in place changes what can read the file: said, for whoever audits it.
            let full = URL(fileURLWithPath: path).standardizedFileURL.path
            writeQuietly("jobledger: migrated \(full) from schema v\(from) to v\(ledger.schemaVersion) (upgraded in place: "
                         + "a jobledger built before schema v\(ledger.schemaVersion) refuses it from now on)\n")
        }
        return ledger
    }

    /// Refuses (exit 64) a log path that cannot name a log file: an empty one, which SQLite
    /// takes for a temporary database (writers failed with a storage error about WAL mode), and
    /// one that ends in `/`, which writers created as a file that readers then could not open.
    static func checkPath(_ path: String?, option: String) throws {
        guard let path else { return }
        try checkNotBlank(path, option: option, what: "the log file's path, such as jobledger.sqlite")
        if path.hasSuffix("/") {
            throw ValidationError("\(option) must name the log file, not a folder (it ends in '/'): give the log file's path, such as \(path)jobledger.sqlite")
        }
        // `-` is standard input or output elsewhere (`import -`); as a log it made a file named `-`.
        if path == "-" {
            throw ValidationError("\(option) - would be a log file named '-' (a log cannot be read from standard input): give the log file's path, or ./- for a file of that name")
        }
    }

    /// Refuses a path that is empty or only white space (`--blobs ""` published into the working
    /// folder; `JOBLEDGER_DB=" "` made a log named ` `), saying what to give instead.
    static func checkNotBlank(_ path: String, option: String, what: String) throws {
        if path.isEmpty {
            throw ValidationError("\(option) must not be empty: give \(what)")
        }
        if path.allSatisfy(\.isWhitespace) {
            throw ValidationError("\(option) is only white space: give \(what)")
        }
    }

    /// Removes a log file this process began to create, and SQLite's files beside it.
    static func removeUnfinished(_ path: String) {
        for p in [path, path + "-wal", path + "-shm", path + "-journal"] { try? FileManager.default.removeItem(atPath: p) }
    }

    /// Removes the log at `path` and SQLite's files beside it unless it holds events: what an
    /// import into a new path that failed or was interrupted had made.
    static func removeIfEmpty(_ path: String) {
        func isEmpty() -> Bool {
            do { return try Ledger.openReadOnly(path: path).head() == nil } catch {
                if case .notALedger = error { return true }  // a 0-byte file, or no log yet
                return !FileManager.default.fileExists(atPath: path)  // only a -journal left
            }
        }
        if isEmpty() { removeUnfinished(path) }
    }

    /// Whether a file exists at `path` and is not empty (an empty file is made into a log).
    private static func holdsData(_ path: String) -> Bool {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else { return false }
        return size.int64Value > 0
    }

    /// Opens an existing log only to read it (`Ledger.openReadOnly`): nothing is written to the
    /// file or beside it, an older schema is read as it is. What the inspection commands use.
    func openReadOnly() throws -> Ledger {
        return try Ledger.openReadOnly(path: path, configuration: configuration())
    }

    /// `openReadOnly` with locks also when no `-wal` lies beside the log (unless its folder is
    /// read-only): for a command whose output cannot be taken back once a read fails (an
    /// export to stdout), a writer that starts meanwhile must not make the read fail.
    ///
    /// On a full disk a closed log (no `-wal`) cannot be read with locks: SQLite must make the
    /// `-shm` it reads through. It is read without them then, as `verify` reads it (no writer
    /// can change it while the disk is full, and one that did would still be noticed): `export`
    /// and `jobs` failed there, and an export is the way to copy a log off a full disk. What the
    /// failed try made (an empty `-wal`, a `-shm` short of SQLite's first region) stays, as no
    /// connection can be opened to remove it; every command reads past such files.
    func openReadOnlyWithLocks() throws -> Ledger {
        let ledger: Ledger
        do {
            ledger = try Ledger.openReadOnly(path: path, configuration: configuration(), withLocks: true)
        } catch let e as LedgerError where e.storageFault?.kind == .full {
            return try openReadOnly()  // (the failed open removed what it made)
        }
        do {
            _ = try ledger.head()
        } catch where error.storageFault?.kind == .full {
            try? ledger.close()
            return try openReadOnly()
        }
        return ledger
    }

    /// Runs `read` on the log opened read-only (`first`, when the command opened it already;
    /// `path`, for a command that reads another log than `--db`'s, as `diff` does).
    /// When a writer started on the log and wrote its file while it was read without locks
    /// (`LedgerError.writtenWhileReadWithoutLocks`), the log is opened again with locks (see
    /// `openReadOnlyWithLocks`) and `read` runs again, at most twice more: with writers coming
    /// and going, a read without locks would fail again and again. `read` must print nothing
    /// before it returns, so that a failed try leaves no output behind.
    func retryingRead<T>(path: String? = nil, first: Ledger? = nil, _ read: (Ledger) throws -> T) throws -> T {
        let path = path ?? self.path
        var tries = 0
        var ledger = try first ?? Ledger.openReadOnly(path: path, configuration: configuration())
        while true {
            do {
                return try read(ledger)
            } catch LedgerError.writtenWhileReadWithoutLocks where tries < Self.readRetries {
                tries += 1
                ledger = try Ledger.openReadOnly(path: path, configuration: configuration(), withLocks: true)
            }
        }
    }

    /// How many times `retryingRead` reads again.
    static let readRetries = 2

}

/// Prints one clear line on stderr and exits with the code for that kind of failure.
func fail(_ message: String, code: Int32) -> ExitCode {
    writeQuietly("jobledger: \(terminalSafe(message))\n")
    return ExitCode(code)
}

func exitCode(for error: LedgerError) -> Int32 {
    switch error {
    case .projectionFailed: 1
    case .invalidPayload, .invalidJobID, .payloadTooLarge, .importFailed: 2
    case .rejected, .concurrencyConflict, .unknownAsset: 3
    case .noSuchLog, .notALedger, .newerSchema: 4
    case .busy, .projectionTakenOver: 5
    // A dropped projection table is a file changed behind the log's back, as a damaged one is.
    case .storage, .storageFault, .readOnly, .missingProjectionTable, .writtenWhileReadWithoutLocks, .closed: 6
    // The options that make the configuration are checked before the log is opened (a usage
    // error, 64); should one slip through, it is still the caller's to fix.
    case .invalidConfiguration: 64
    }
}

/// Runs a command body, turning a `LedgerError` into its message (with the command line's
/// hints, `commandLineMessage`) and exit code.
func guarded<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as LedgerError {
        throw fail(commandLineMessage(e), code: exitCode(for: e))
    }
}

func printErr(_ s: String) { writeQuietly(terminalSafeLines(s) + "\n") }
