import Foundation
import Synchronization
import Testing

/// Everything a child writes on a pipe, kept whole (`waitForLine` drops what it reads past the
/// line it looks for), read on a thread of its own until the pipe closes.
final class OutputCollector: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    private let closed = Flag()
    /// Values replaced by `<redacted>` wherever the output is shown in an issue.
    private let redacting: [String]

    init(_ handle: FileHandle, redacting: [String] = []) {
        self.redacting = redacting
        let fd = handle.fileDescriptor
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes.withLock { $0 += chunk[0..<n] }
            }
            closed.set()
        }
    }

    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    /// `text` with the values to redact replaced, to be shown.
    var shown: String { redacting.reduce(text) { $0.replacingOccurrences(of: $1, with: "<redacted>") } }

    /// Waits (polling, bounded by `childDeadline`) until a line holds every one of `parts`;
    /// returns it, or nil (recording an issue) when the output ends or the deadline passes first.
    func line(with parts: [String], sourceLocation: SourceLocation = #_sourceLocation) async -> String? {
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while ContinuousClock.now < end {
            let done = closed.isSet
            if let line = text.split(separator: "\n").first(where: { l in parts.allSatisfy { l.contains($0) } }) { return String(line) }
            if done { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no line with \(parts) in: \(shown)", sourceLocation: sourceLocation)
        return nil
    }

    /// Waits until the pipe has closed (the child and every holder of its write end are gone).
    func waitForEnd() async {
        let end = ContinuousClock.now.advanced(by: childDeadline)
        while !closed.isSet && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(10)) }
    }
}
