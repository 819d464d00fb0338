import Foundation
import Synchronization
import UnixSignals

/// SIGINT, SIGTERM and SIGHUP while a command streams what it reads (`export`, to stdout or
/// `--output`, `replay --effects`, `replay --projection`). The signal is noted; the command stops before
/// its next line, writes the whole lines it holds, releases the log (a locked read removes the
/// `-wal` and `-shm` it made beside the file) and ends with exit 130, saying how far it got.
/// Their default action ended the process in the middle of a write: an export cut mid-line
/// (which `import` then refused whole, where EventLog.md promised a smaller, valid log), and the
/// locked read's `-wal` and `-shm` left beside the evidence. A second signal ends it at once.
final class ReadInterrupt: Sendable {
    /// Thrown from a line's callback once a signal came.
    struct Stopped: Error {
        let signal: String
    }

    private let received = Mutex<String?>(nil)

    private init() {}

    /// Traps the signals from now on. A second signal runs `cleanup`, says what `atOnce` says
    /// then, and ends the process.
    static func install(atOnce: @escaping @Sendable () -> String = { "stopped at once; the output may end mid-line" },
                        cleanup: @escaping @Sendable () -> Void = {}) async -> ReadInterrupt {
        let interrupt = ReadInterrupt()
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup)
        Task.detached {
            for await signal in signals {
                // The first signal is noted; a second finds one noted already.
                let isFirst = interrupt.received.withLock { noted in
                    guard noted == nil else { return false }
                    noted = "\(signal)"
                    return true
                }
                if isFirst { continue }
                cleanup()
                writeQuietly("jobledger: interrupted again (\(signal)): \(atOnce())\n")
                _exit(130)
            }
        }
        return interrupt
    }

    /// The signal that came, if one did.
    var signal: String? { received.withLock { $0 } }

    /// Throws `Stopped` once a signal came.
    func check() throws {
        if let signal { throw Stopped(signal: signal) }
    }
}
