import Foundation
import JobLedgerSQLite
import UnixSignals

/// SIGINT and SIGTERM while a command writes a file that takes its name only once whole
/// (`replay --into PATH`; `export --output PATH` stops at its next line instead, see
/// `ReadInterrupt`): the process ends at once (exit 130) saying so, after removing what it was
/// writing under its staging name: nothing is left at PATH, and the same command runs again. (`replay --into` left a half-written file at PATH, with its
/// journal, which made the next run refuse: "already exists"; an export cut short on a line
/// boundary looked complete.)
enum StagedFileInterrupt {
    static func install(for path: String) async {
        let staging = StagedFile.stagingPath(for: path)
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        Task.detached {
            for await _ in signals {
                unlink(staging)
                unlink(staging + "-journal")
                // The file got its name just now (the last step): it is whole, and kept.
                let written = FileManager.default.fileExists(atPath: path)
                writeQuietly("jobledger: interrupted: " + (written ? "\(path) was written before the signal came\n"
                                                                   : "nothing was written to \(path); run the command again\n"))
                _exit(130)
            }
        }
    }
}
