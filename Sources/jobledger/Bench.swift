import ArgumentParser
import Foundation
import JobLedger
import JobLedgerSQLite

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure appends and replay against raw SQLite doing the same work (use a release build).")
    @Option(help: "Events per append benchmark.") var events: Int = 60_000
    @Flag(help: "Print JSON.") var json = false
    func run() async throws { print("bench: not yet") }
}
