import Foundation
import Testing

/// A log whose stored events break their job's lifecycle (an event deleted behind the
/// triggers) cannot be folded by the commands that show or change a job. They still stop (exit
/// 6, as for a damaged file), but say that the log was changed and what to run, instead of
/// "storage error: job …: cannot apply 'progress' to a queued job", which reads like a refusal
/// of something the operator asked for.
@Suite struct BrokenLifecycleCLITests {
    @Test(arguments: [["history"], ["state"], ["cancel"], ["jobs"], ["replay"]])
    func aLogWithADeletedEventSaysItWasChangedAndWhatToRun(_ command: [String]) async throws {
        let scratch = Scratch()
        let job = try await logWithCompletedJob("log.sqlite", in: scratch)
        // seq 2 is the job's `started`: its `progress` (seq 3) now follows `queued`.
        try rawSQL(scratch.path("log.sqlite"), "DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2")
        let verify = try await jobledger(["verify", "--db", "log.sqlite"], in: scratch)
        #expect(verify.status == 1 && verify.stdout.contains("FAILED at seq 2"), "\(verify)")

        let args = ["history", "state", "cancel"].contains(command[0]) ? command + [job] : command
        let r = try await jobledger(args + ["--db", "log.sqlite"], in: scratch)
        expectRefusal(r, exit: 6, mentions: [
            "log.sqlite holds events that break their job's lifecycle",
            "cannot apply 'progress' to a queued job",
            "the log was changed after they were recorded",
            "(jobledger verify, jobledger import)",
        ])
    }
}
