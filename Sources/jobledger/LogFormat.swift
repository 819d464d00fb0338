import Foundation
import JobLedger
import Logging

/// How log lines are written on stderr: `JOBLEDGER_LOG_FORMAT`, `text` (swift-log's own line:
/// time, level, label, metadata, module, message; the default) or `json` (one JSON object per
/// line, for a log collector: `time`, `level`, `label`, `message`, `source` and `metadata`).
/// Chosen once in `JobLedgerCLI.main`, before any logger is made.
enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    /// The variable that sets it.
    static let variable = "JOBLEDGER_LOG_FORMAT"

    /// The format `JOBLEDGER_LOG_FORMAT` asks for (`text` when unset or empty); a value that is
    /// not one of the names exactly is refused, naming them.
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(LogFormatRefusal) -> LogFormat {
        guard let value = environment[variable], !value.isEmpty else { return .text }
        guard let format = LogFormat(rawValue: value) else { throw LogFormatRefusal(value: value) }
        return format
    }

    /// Makes every logger of this process write in this format (swift-log's bootstrap, which a
    /// process may run once).
    func bootstrap() {
        switch self {
        case .text: break  // swift-log's default handler
        case .json: LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
        }
    }
}

/// `JOBLEDGER_LOG_FORMAT` set to a name it does not have.
struct LogFormatRefusal: Error, CustomStringConvertible {
    let value: String
    var description: String {
        "\(LogFormat.variable) must be one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(OptionTime.shown(value))')"
    }
}

/// A swift-log handler writing one JSON object per line on stderr:
/// `{"label":…,"level":…,"message":…,"metadata":{…},"source":…,"time":"2026-12-06T22:40:01.123Z"}`
/// (keys sorted; metadata values as JSON strings, arrays and objects). A line is one `write`,
/// so lines of concurrent tasks never interleave.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        writeQuietly(Self.line(label: label, level: event.level, message: "\(event.message)", source: event.source,
                               metadata: merged(event.metadata), at: Date()))
    }

    /// The handler's metadata, the provider's and the call's, later ones winning.
    private func merged(_ call: Logger.Metadata?) -> Logger.Metadata {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let call { all.merge(call) { _, new in new } }
        return all
    }

    /// One log line, newline included.
    static func line(label: String, level: Logger.Level, message: String, source: String, metadata: Logger.Metadata, at date: Date) -> String {
        var o: [String: JSONValue] = [
            "time": .string(Timestamp(milliseconds: Int64((date.timeIntervalSince1970 * 1000).rounded(.down))).description),
            "level": .string(level.rawValue), "label": .string(label), "message": .string(message), "source": .string(source),
        ]
        if !metadata.isEmpty { o["metadata"] = .object(metadata.mapValues(json)) }
        return JSONValue.object(o).canonicalText + "\n"
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(d.mapValues(json))
        }
    }
}
