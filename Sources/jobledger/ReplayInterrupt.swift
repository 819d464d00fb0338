import Foundation
import JobLedgerProjections
import UnixSignals

/// SIGINT and SIGTERM during `replay --into PATH`: the process ends at once (exit 130) saying
/// so, after removing the scratch file it was making under its staging name: nothing is left at
/// PATH, and the same command runs again. (The default action ended it without a word, and the
/// half-written file at PATH, with its journal, made the next run refuse: "already exists".)
enum ReplayInterrupt {
    static func install(into path: String) async {
        let staging = ReplayScratch.stagingPath(for: path)
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
