import Foundation
import Testing

/// The commands that write a log for a while (demo, work, project) close it before they exit:
/// the last connection checkpoints the -wal into the file and removes it, so that the file
/// alone (a `cp` of it) is the whole log.
@Suite(.timeLimit(.minutes(3)))
struct ExitLeavesNoWALTests {
    let scratch = Scratch()

    func companions(_ path: String) -> [String] {
        ["-wal", "-shm"].filter { FileManager.default.fileExists(atPath: path + $0) }
    }

    @Test func demoLeavesTheWholeLogInItsFile() async throws {
        // It left every event in the -wal in some runs before (3 in 16 of the release build, 8
        // demos at a time on 2 cores): several at once, twice over.
        for round in 0..<2 {
            let runs = (0..<6).map { "demo-\(round)-\($0)" }
            let results = try await withThrowingTaskGroup(of: (String, CLIResult).self) { group in
                for name in runs {
                    group.addTask { (name, try await jobledger(["demo", "--db", scratch.path(name + ".sqlite"), "--jobs", "2"], in: scratch)) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for name in runs {
                let path = scratch.path(name + ".sqlite")
                #expect(results[name]?.status == 0, "\(String(describing: results[name]))")
                #expect(companions(path).isEmpty, "\(name): \(companions(path)) left beside the log")
                let copy = scratch.path(name + "-copy.sqlite")
                try FileManager.default.copyItem(atPath: path, toPath: copy)
                let jobs = try await jobledger(["jobs", "--db", copy], in: scratch)
                #expect(jobs.status == 0 && jobs.stdout.split(separator: "\n").count == 3, "\(name): \(jobs)")
            }
        }
    }

    @Test func workAndProjectLeaveTheWholeLogInItsFile() async throws {
        let path = scratch.path("log.sqlite")
        for _ in 0..<2 { #expect(try await jobledger(["submit", "design", "--db", path], in: scratch).status == 0) }
        let work = try await jobledger(["work", "--until-idle", "--db", path, "--no-effects"], in: scratch)
        #expect(work.status == 0, "\(work)")
        #expect(companions(path).isEmpty, "\(companions(path)) left after work")
        let project = try await jobledger(["project", "--once", "--db", path], in: scratch)
        #expect(project.status == 0, "\(project)")
        #expect(companions(path).isEmpty, "\(companions(path)) left after project")
    }
}
