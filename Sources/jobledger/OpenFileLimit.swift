import ArgumentParser
import JobLedgerServer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open descriptors. Shells commonly start programs with a soft limit of
/// 1024 (256 on macOS) under a far higher hard limit, which would leave a server unable to
/// accept near a thousand streams for no reason; as Go's runtime does, every command raises the
/// soft limit to the hard one before it runs (`JobLedgerCLI.main`).
///
/// A limit too low to run at all is refused then, with one line and exit 2: with too few
/// descriptors libdispatch traps (SIGILL in its worker-pool monitor, which cannot open /proc),
/// and so does NIO when it cannot make an event loop's eventfd, so such a run would only crash
/// part way. The floors come from counting /proc/PID/fd (Linux, 2 cores): `jobs`, `verify`,
/// `export`, `submit` and `import` ran at 14 and crashed at 10…12; `work --until-idle` peaked
/// at 25 descriptors with 4 workers and 23 with 64 (they do not grow with --workers: the log's
/// connections are pooled); an idle `serve --workers 2` holds 27, under load 30, of which all
/// but the connections are its own (`ConnectionCap.reserve`).
enum OpenFileLimit {
    /// Below this many, `serve`'s startup line says what it means for connections.
    static let low: UInt64 = 4096
    /// The most it asks for: a hard limit that is unlimited, or larger, is met at this.
    static let most: UInt64 = 1 << 20
    /// macOS refuses a soft limit over kern.maxfilesperproc; OPEN_MAX is what it always allows.
    static let darwinFallback: UInt64 = 10_240
    /// Any command: twice what the short commands were seen to need.
    static let anyCommand: UInt64 = 32
    /// A command that runs the engine or the projections (`work`, `demo`, `project`, `bench`):
    /// its measured peak of 25, with room for adapters' connections and blob files.
    static let engine: UInt64 = 64
    /// The fewest connections `serve` must be able to hold, past its reserve, to start.
    static let serveConnections: UInt64 = 16

    /// The fewest descriptors the command named `name` needs, and what to call it in the refusal.
    static func floor(forCommandNamed name: String) -> (needed: UInt64, what: String) {
        switch name {
        case Serve._commandName:
            return (UInt64(ConnectionCap.reserve()) + serveConnections, "`serve` (\(ConnectionCap.reserve()) for the log, threads and files, and \(serveConnections) connections)")
        case Work._commandName, Demo._commandName, Project._commandName, Bench._commandName: return (engine, "`\(name)`")
        default: return (anyCommand, "`\(name)`")
        }
    }

    /// Raises the soft limit, then refuses a limit under the floor of the command `arguments`
    /// name (their first word, when it is one of `jobledger`'s commands): the one line to say
    /// (exit 2), or nil when it may run (also when the limit cannot be read). Decided from the
    /// words, before they are parsed: checked after parsing (which runs on Swift's concurrency
    /// pool), `import` at 6 descriptors crashed in libdispatch (SIGILL) before the refusal was
    /// printed, in 1 of 3 cases of a full test run. Help (`--help`, `-h`, `help work`)
    /// prints text and opens nothing: never refused.
    static func refusal(arguments: [String]) -> String? {
        guard !arguments.contains(where: { $0 == "--help" || $0 == "-h" }), arguments.first != "help" else { return nil }
        let commands = Set(JobLedgerCLI.configuration.subcommands.map { $0._commandName })
        let name = arguments.first.flatMap { commands.contains($0) ? $0 : nil } ?? JobLedgerCLI._commandName
        guard let limit = raise() else { return nil }
        let (needed, what) = floor(forCommandNamed: name)
        guard limit < needed else { return nil }
        return "the open-file limit is \(limit), too low for \(what), which needs at least \(needed) "
            + "descriptors; raise it (ulimit -n \(needed), or more) and run again"
    }

    /// Raises the soft limit towards the hard limit (at most `most`). Returns the limit in force
    /// afterwards, or nil when it cannot be read.
    @discardableResult
    static func raise() -> UInt64? {
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return nil }
        // RLIM_INFINITY is the largest value on Linux and on macOS alike: `most` covers it.
        let wanted = min(UInt64(limits.rlim_max), most)
        for target in [wanted, min(wanted, darwinFallback)] where UInt64(limits.rlim_cur) < target {
            var raised = limits
            raised.rlim_cur = rlim_t(target)
            if setrlimit(resource, &raised) == 0 { limits = raised; break }
        }
        return UInt64(limits.rlim_cur)
    }
}
