import ArgumentParser
import Foundation
import Logging
import Synchronization

/// How much this process logs through swift-log (the engine's, the projections', the server's
/// and the adapters' lines on stderr): `--log-level` on `work`, `serve`, `project` and `demo`,
/// else `JOBLEDGER_LOG_LEVEL`, else `warning`. Set once in `JobLedgerCLI.main`, after the
/// arguments have been parsed and checked, and read by every logger the commands make
/// (`cliLogger(_:)`), so one setting reaches them all.
enum LogLevel {
    /// The variable that sets it for every command.
    static let variable = "JOBLEDGER_LOG_LEVEL"
    /// What a command logs when nothing says otherwise: warnings and errors only, so that stdout
    /// and stderr carry the command's own output.
    static let standard: Logger.Level = .warning
    /// The names accepted, from the most to the least verbose.
    static let accepted: [String] = LogLevelName.allCases.map(\.rawValue)

    private static let configured = Mutex<Logger.Level>(standard)

    /// The level every logger of this process is made with.
    static var current: Logger.Level { configured.withLock { $0 } }

    /// Sets `current` (once the command line has been checked).
    static func set(_ level: Logger.Level) { configured.withLock { $0 = level } }

    /// The level `JOBLEDGER_LOG_LEVEL` sets; nil when it is unset or empty (as every variable,
    /// an empty one counts as unset). Its value must be exactly one of `accepted`, as for every
    /// fixed vocabulary of this CLI (`INFO` is refused as `--durability NORMAL` is).
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Logger.Level? {
        guard let text = environment[variable], !text.isEmpty else { return nil }
        guard let name = LogLevelName(rawValue: text) else {
            throw ValidationError("\(variable) must be one of \(accepted.joined(separator: ", ")) (got '\(OptionTime.shown(text))')")
        }
        return name.level
    }

    /// The level `command` runs at: its `--log-level` if it takes one (`TakesLogLevel`), else
    /// the variable, else `standard`. Both were checked by the command's validation (exit 64);
    /// a command that does not check the variable (bench, whose measurements log at levels of
    /// their own) keeps `standard` should it be invalid.
    static func of(_ command: any ParsableCommand) -> Logger.Level {
        (try? resolve(option: (command as? any TakesLogLevel)?.logging.logLevel)) ?? standard
    }

    /// The level for a command given `option` (its `--log-level`, if it has one): the option,
    /// else the variable, else `standard`.
    static func resolve(option: LogLevelName?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Logger.Level {
        if let option { return option.level }
        return try fromEnvironment(environment) ?? standard
    }
}

/// A logger labelled `label` at the level this process logs at (`LogLevel.current`).
func cliLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = LogLevel.current
    return logger
}

/// The names of swift-log's levels, from the most to the least verbose: the vocabulary of
/// `--log-level` and `JOBLEDGER_LOG_LEVEL`.
enum LogLevelName: String, CaseIterable, Sendable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

/// `--log-level` of the commands that run for a while (`work`, `serve`, `project`, `demo`).
struct LogLevelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "How much to log on stderr, from the most to the least (default: $JOBLEDGER_LOG_LEVEL when set and not empty, else warning).",
        valueName: "level"))
    var logLevel: LogLevelName?

    /// The variable is checked even when the option is given: a bad value is a mistake to fix
    /// wherever it would be read.
    func validate() throws { _ = try LogLevel.fromEnvironment() }
}

/// A command that takes `--log-level` (see `LogLevelOptions`).
protocol TakesLogLevel {
    var logging: LogLevelOptions { get }
}
