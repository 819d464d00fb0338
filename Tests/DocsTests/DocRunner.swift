import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Runs a page's console blocks as an operator would type them: in order, each `$ ` command in
// bash, from the repository root, with the built `jobledger` first on PATH. Shell variables and
// the working directory carry over from one command to the next (a page's `cd "$(mktemp -d)"`
// holds for the rest of the page), and TMPDIR is the test's own scratch folder, so whatever a
// page makes with `mktemp` is removed with it.

/// The package root: Tests/DocsTests/DocRunner.swift → three levels up.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The built `jobledger`: `$JOBLEDGER_BIN`, else beside the running test bundle (or one of its
/// parents), else `.build/debug/jobledger` (as in Tests/CLITests/Support.swift).
let jobledgerBinary: URL? = {
    let fm = FileManager.default
    func executable(_ url: URL) -> URL? {
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              fm.isExecutableFile(atPath: url.path) else { return nil }
        return url
    }
    if let override = ProcessInfo.processInfo.environment["JOBLEDGER_BIN"], !override.isEmpty {
        return URL(fileURLWithPath: override)
    }
    var starts: [URL] = []
    if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        starts.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
    }
    if let first = CommandLine.arguments.first {
        starts.append(URL(fileURLWithPath: first).resolvingSymlinksInPath().deletingLastPathComponent())
    }
    for start in starts {
        var dir = start
        for _ in 0..<4 {
            if let found = executable(dir.appendingPathComponent("jobledger")) { return found }
            dir = dir.deletingLastPathComponent()
        }
    }
    return executable(packageRoot.appendingPathComponent(".build/debug/jobledger"))
}()

/// One step whose output or exit code is not what the page shows.
struct DocMismatch: Sendable, CustomStringConvertible {
    let step: DocStep
    let stdout: [String]
    let stderr: [String]
    let exitCode: Int32

    var description: String {
        var text = "\(step)\n"
        if exitCode != step.exitCode { text += "exit code: the page shows \(step.exitCode), the command exited \(exitCode)\n" }
        text += "the page shows:\n" + step.expected.map { "  | \($0)" }.joined(separator: "\n")
        text += "\nthe command printed on stdout:\n" + stdout.map { "  | \($0)" }.joined(separator: "\n")
        if !stderr.isEmpty { text += "\nand on stderr:\n" + stderr.map { "  | \($0)" }.joined(separator: "\n") }
        return text
    }
}

/// A shell session for one page.
final class DocSession {
    let scratch: URL
    private let state: URL
    private let binDir: URL
    /// How long one command may run before it is killed (a guard against a hang, not a timing).
    let commandDeadline: Int
    /// The exit status of the last command run, `$?` for the next one.
    private var lastStatus: Int32 = 0
    private var steps = 0

    init(binary: URL, commandDeadline: Int = 300) throws {
        let fm = FileManager.default
        scratch = fm.temporaryDirectory.appendingPathComponent("jobledger-docs-\(UUID().uuidString)")
        state = scratch.appendingPathComponent(".session")
        try fm.createDirectory(at: state, withIntermediateDirectories: true)
        binDir = binary.deletingLastPathComponent()
        self.commandDeadline = commandDeadline
        try Data().write(to: state.appendingPathComponent("env"))
        try Data(packageRoot.path.utf8).write(to: state.appendingPathComponent("cwd"))
    }

    /// The process groups of the commands run (coreutils `timeout` leads one per command): what a
    /// page started in the background (`&`) and did not stop is killed when the session ends.
    private var groups: [Int32] = []

    deinit {
        for group in groups { kill(-group, SIGKILL) }
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Where the next command runs.
    var currentDirectory: String {
        (try? String(contentsOf: state.appendingPathComponent("cwd"), encoding: .utf8))?
            .trimmingCharacters(in: .newlines) ?? packageRoot.path
    }

    /// Runs every step of the blocks in order; returns the steps that did not match.
    func run(_ blocks: [DocBlock]) async throws -> [DocMismatch] {
        var mismatches: [DocMismatch] = []
        for block in blocks where block.skipReason == nil {
            for step in block.steps {
                // A page makes its files in a folder it makes: in the repository root, only the
                // command that leaves it runs (the files of a page that forgets are never made there).
                if URL(fileURLWithPath: currentDirectory).standardizedFileURL == packageRoot.standardizedFileURL,
                   !step.command.contains("cd ") {
                    mismatches.append(DocMismatch(step: step, stdout: [], stderr: ["(not run: it would run in the repository root; first `cd \"$(mktemp -d)\"`)"], exitCode: -1))
                    continue
                }
                let (out, err, code) = try await run(step.command)
                if code != step.exitCode || !DocOutput.matches(expected: step.expected, stdout: out, stderr: err) {
                    mismatches.append(DocMismatch(step: step, stdout: DocOutput.trim(out), stderr: DocOutput.trim(err), exitCode: code))
                }
            }
        }
        return mismatches
    }

    /// One command in bash: restores the variables and directory the previous one left, runs the
    /// command with stdout and stderr into two files, saves them again, and exits with the
    /// command's status. Returns the lines of stdout and of stderr, and the status.
    func run(_ command: String) async throws -> ([String], [String], Int32) {
        let env = state.appendingPathComponent("env").path, cwd = state.appendingPathComponent("cwd").path
        // `( exit N )` just before the command: `$?` is the previous command's status, as in one shell.
        let script = """
            set -a
            . '\(env)'
            cd "$(cat '\(cwd)')" || exit 97
            ( exit \(lastStatus) )
            \(command)
            __doctest_status=$?
            set +a
            export -p | grep -v -E '^declare -x (__doctest_status|OLDPWD|PWD|SHLVL|_)=' > '\(env)'
            pwd > '\(cwd)'
            exit $__doctest_status
            """
        let scriptURL = state.appendingPathComponent("step.sh")
        try Data(script.utf8).write(to: scriptURL)
        // Fresh files per command: a process a page left in the background may still write to the last ones.
        steps += 1
        let outURL = state.appendingPathComponent("stdout-\(steps)"), errURL = state.appendingPathComponent("stderr-\(steps)")

        // coreutils `timeout` signals the whole process group, children the command left behind too.
        let timeout = "/usr/bin/timeout"
        let (executable, arguments) = FileManager.default.isExecutableFile(atPath: timeout)
            ? (timeout, ["-k", "10", String(commandDeadline), "/bin/bash", scriptURL.path])
            : ("/bin/bash", [scriptURL.path])
        let inherited = ProcessInfo.processInfo.environment
        let environment = [
            "PATH": binDir.path + ":" + (inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"),
            "HOME": inherited["HOME"] ?? scratch.path,
            "TMPDIR": scratch.path,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "dumb",
        ]
        // On a thread of its own: a blocking wait on one of the few threads that run the tests'
        // tasks would slow every other test of the run (and fail the ones that time something).
        let (outPath, errPath) = (outURL.path, errURL.path)
        let (pid, status) = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try spawnAndWait(executable, arguments, environment: environment, stdout: outPath, stderr: errPath) })
            }
        }
        if executable == timeout { groups.append(pid) }
        lastStatus = status
        func lines(_ url: URL) throws -> [String] {
            String(decoding: try Data(contentsOf: url), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        var errors = try lines(errURL)
        if status == 124 { errors.append("(killed after \(commandDeadline) s: a command that runs forever must be marked skipped)") }
        return (try lines(outURL), errors, status)
    }
}

/// Runs `executable` with stdin from /dev/null and stdout and stderr into two files, and waits
/// for it alone: `posix_spawn` and `waitpid`, not `Process`, whose wait on Linux can last until
/// every process that inherited its descriptors has exited (a stand-in a page starts in the
/// background, `&`, and stops later; what a page leaves running is killed with its process group
/// when the session ends). Only stdin, stdout and stderr are open in the command. Returns its pid
/// and exit status (128 + N for signal N).
func spawnAndWait(_ executable: String, _ arguments: [String], environment: [String: String],
                  stdout: String, stderr: String) throws -> (pid_t, Int32) {
    #if os(Linux)
    var actions = posix_spawn_file_actions_t()
    #else
    var actions: posix_spawn_file_actions_t?
    #endif
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    // No other descriptor of the test process reaches the command: a process a page leaves in the
    // background would otherwise hold, say, the pipe by which another test's `Process` learns that
    // its child exited, and that test's wait would last as long as the page's stand-in.
    // All of them from 3 up, closed in the child (glibc ≥ 2.34, found at run time: Swift's Glibc
    // module does not export it): a list taken beforehand missed a descriptor another test opened
    // between the listing and the spawn. Without it, the list (glibc ignores a close of a
    // descriptor closed meanwhile).
    var closedFrom3 = false
    #if os(Linux)
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
        closedFrom3 = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3) == 0
    }
    #endif
    if !closedFrom3, let open = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
        for case let fd? in open.map({ Int32($0) }) where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
    func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
    let argv = cStrings([executable] + arguments)
    let envp = cStrings(environment.map { "\($0.key)=\($0.value)" })
    defer { for p in argv + envp { free(p) } }
    // As from a shell: SIGPIPE and the other signals at their defaults (the test process ignores
    // SIGPIPE, and an ignored signal stays ignored across exec), none blocked.
    #if os(Linux)
    var attributes = posix_spawnattr_t()
    #else
    var attributes: posix_spawnattr_t?
    #endif
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t(), none = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard spawned == 0 else {
        throw NSError(domain: NSPOSIXErrorDomain, code: Int(spawned), userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable)"])
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let signal = status & 0x7f
    return (pid, signal == 0 ? (status >> 8) & 0xff : 128 + signal)
}
