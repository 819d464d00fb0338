import Foundation
import JobLedger
import JobLedgerTestSupport
import Testing

/// Log lines were swift-log's text only: a log collector had to parse `time level label: k=v
/// [module] message` back apart. `JOBLEDGER_LOG_FORMAT=json` writes one JSON object per line.
@Suite struct LogFormatCLITests {
    @Test func jsonLinesCarryTheLevelLabelMessageAndMetadataOfEachLogLine() async throws {
        let scratch = Scratch()
        let job = try await logWithQueuedJob("j.sqlite", in: scratch)
        let r = try await jobledger(["work", "--until-idle", "--fail-rate", "0", "--workers", "1", "--db", "j.sqlite"], in: scratch,
                                    environment: ["JOBLEDGER_LOG_FORMAT": "json", "JOBLEDGER_LOG_LEVEL": "debug"])
        #expect(r.status == 0, "\(r)")
        // Every log line is a JSON object; the command's own lines (`jobledger: …`, work's
        // indented lines per event) are not logs, and no line is left in the text form.
        let logs = r.stderrLines.filter { $0.hasPrefix("{") }
        #expect(!logs.isEmpty, "\(r)")
        #expect(!r.stderrLines.contains { $0.contains(" debug jobledger.") || $0.contains(" info jobledger.") }, "\(r)")
        var objects: [[String: JSONValue]] = []
        for line in logs {
            guard case .object(let o)? = try? JSONValue(parsing: line) else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            #expect(Set(o.keys).isSuperset(of: ["time", "level", "label", "message", "source"]), "\(line)")
            objects.append(o)
        }
        let completed = objects.filter { $0["label"]?.stringValue == "jobledger.engine" && $0["message"]?.stringValue == "completed" }
        #expect(completed.count == 1, "\(r)")
        #expect(completed.first?["level"]?.stringValue == "info")
        #expect(completed.first?["metadata"]?["job"]?.stringValue == job)
        #expect(completed.first?["metadata"]?["attempt"]?.stringValue == "1")
        let claimed = objects.filter { $0["message"]?.stringValue == "claimed" }
        #expect(claimed.first?["level"]?.stringValue == "debug", "the level set by JOBLEDGER_LOG_LEVEL still applies: \(r)")
        #expect(claimed.allSatisfy { Timestamp(iso8601: $0["time"]?.stringValue ?? "") != nil }, "\(r)")
    }

    @Test func aFormatItDoesNotKnowIsAUsageErrorBeforeAnythingRuns() async throws {
        let scratch = Scratch()
        let job = try await logWithQueuedJob("f.sqlite", in: scratch)
        for value in ["JSON", "logfmt"] {
            let r = try await jobledger(["work", "--until-idle", "--db", "f.sqlite"], in: scratch, environment: ["JOBLEDGER_LOG_FORMAT": value])
            #expect(r.status == 64, "\(r)")
            #expect(r.stderr.contains("JOBLEDGER_LOG_FORMAT must be one of text, json (got '\(value)')"), "\(r)")
        }
        let state = try await jobledger(["state", job, "--db", "f.sqlite", "--json"], in: scratch)
        #expect(state.stdout.contains(#""state":"queued""#), "\(state)")
        // Empty counts as unset, as for every variable.
        let plain = try await jobledger(["jobs", "--db", "f.sqlite"], in: scratch, environment: ["JOBLEDGER_LOG_FORMAT": ""])
        #expect(plain.status == 0, "\(plain)")
    }
}
