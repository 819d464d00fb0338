import ArgumentParser
import Foundation
import JobLedger
import JobLedgerUpstash

struct IntakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake", abstract: "The Upstash stream intake: the consumer group's lag, pending entries and dead letters.",
        subcommands: [IntakeStatus.self], defaultSubcommand: IntakeStatus.self)
}

struct IntakeStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the group's standing on the stream (configured from the UPSTASH_* variables).")

    @Option(help: "The stream (default: $JOBLEDGER_UPSTASH_STREAM, else design:jobs).") var stream: String?
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        if let stream { try checkStream(stream) }
        _ = try LogLevel.fromEnvironment()
    }

    func run() async throws {
        var projections = try ProjectionOptions.parse([])
        projections.stream = stream
        let c = try projections.upstashConfiguration()
        let intake = UpstashStreamIntake(redis: projections.upstashClient(c), options: .init(stream: c.stream, group: c.group, consumer: c.consumer))
        let s: UpstashStreamIntake.Status
        do { s = try await intake.status() } catch let e as UpstashError {
            switch e {
            case .unauthorized, .rejected: throw fail("\(e)", code: 2)
            case .command, .unavailable: throw fail("\(e)", code: 6)
            }
        }
        if json {
            print(JSONValue.object([
                "stream": .string(s.stream), "group": .string(s.group), "group_exists": .bool(s.groupExists), "length": .int(s.length),
                "lag": s.lag.map(JSONValue.int) ?? .null, "pending": .int(s.pending), "consumers": .int(s.consumers),
                "last_delivered_id": s.lastDeliveredID.map(JSONValue.string) ?? .null,
                "dead_letters": .int(s.deadLetters), "dead_letter_stream": .string(s.deadLetterStream),
            ]).canonicalText)
            return
        }
        printTable(header: ["STREAM", "GROUP", "LENGTH", "LAG", "PENDING", "CONSUMERS", "LAST DELIVERED", "DEAD LETTERS"], rows: [[
            s.stream, s.groupExists ? s.group : "\(s.group) (not created yet)", "\(s.length)", s.lag.map(String.init) ?? "?", "\(s.pending)",
            "\(s.consumers)", s.lastDeliveredID ?? "-", "\(s.deadLetters) in \(s.deadLetterStream)",
        ]])
    }
}
