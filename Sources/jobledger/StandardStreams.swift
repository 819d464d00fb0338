import Foundation

/// Writes `text` to stderr (or another descriptor, such as `STDOUT_FILENO`) with `write(2)`, all
/// of it, and drops what the descriptor refuses: a pipe whose reader has gone (`| head`), a full
/// disk, a closed descriptor. A diagnostic that cannot be shown must not stop the process:
/// `FileHandle.write` traps on such an error (SIGILL), which killed `serve` as it said
/// "stopped". With SIGPIPE ignored (`JobLedgerCLI.main`) a closed pipe is an EPIPE here, and
/// `print` to it fails as quietly.
func writeQuietly(_ text: String, to descriptor: Int32 = STDERR_FILENO) {
    _ = writeAll(text, to: descriptor, waitingWhenFull: false)
}

/// Writes `text` to standard output (or `descriptor`), all of it: the command's data (`export`,
/// `replay`), which must not be cut short quietly. Returns normally when written; `.readerGone`
/// when the reader has gone (`| head`: the command may stop, with exit 0, as with SIGPIPE); any
/// other error (a full disk, an I/O error) is `.failed`, which the command reports and exits on.
enum OutputWrite: Equatable {
    case written, readerGone
    case failed(Int32)
}

func writeOutput(_ text: String, to descriptor: Int32 = STDOUT_FILENO) -> OutputWrite {
    writeAll(text, to: descriptor, waitingWhenFull: true)
}

/// The one write loop of both: all of `text` with `write(2)`, again after EINTR; on a
/// non-blocking descriptor that is full, it waits for room when `waitingWhenFull` (data), else
/// gives up (a diagnostic is not worth blocking for).
private func writeAll(_ text: String, to descriptor: Int32, waitingWhenFull: Bool) -> OutputWrite {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written > 0 {
            bytes = bytes.dropFirst(written)
        } else if written < 0 && errno == EINTR {
            continue
        } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waitingWhenFull {
            var p = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, 1000)  // a non-blocking stdout that is full: wait until it drains
        } else if written < 0 && errno == EPIPE {
            return .readerGone
        } else {
            return .failed(written < 0 ? errno : EIO)
        }
    }
    return .written
}

/// Whether standard output's reader has gone, after `print` (which, with SIGPIPE ignored, fails
/// quietly): a command that follows the log (`tail`) stops then, as it did when SIGPIPE ended it.
func standardOutputIsGone() -> Bool {
    fflush(nil)
    // A pipe whose read end is closed polls as an error (POLLERR); a file or a terminal does not.
    var p = pollfd(fd: STDOUT_FILENO, events: Int16(POLLOUT), revents: 0)
    return poll(&p, 1, 0) > 0 && (p.revents & Int16(POLLERR)) != 0
}


/// Exits 6 when standard output could not be written: commands print their results with
/// `print`, and stdio only remembers that a write failed (its error flag; the bytes are gone).
/// Without this check `digest >> heads.txt` on a full disk left an empty file and exited 0, and
/// `submit > ids.txt` queued a job whose id was lost. A reader that has gone (`| head`) is a
/// normal end, as it was when SIGPIPE ended the command.
func exitIfStandardOutputFailed() {
    guard let reason = standardOutputFailure() else { return }
    writeQuietly("jobledger: could not write the output (\(reason)): what was printed is incomplete, though the command itself ran to its end\n")
    exit(6)
}

/// For a command that fails with its own exit code (which stands): says on stderr when what
/// it printed could not be written, so that an empty report file is never the only trace.
func sayIfStandardOutputFailed() {
    guard let reason = standardOutputFailure() else { return }
    writeQuietly("jobledger: could not write the output (\(reason)): what was printed is incomplete\n")
}

/// Why standard output could not be written (flushing what stdio holds first), or nil when it
/// was, or when its reader has gone (`| head`, a normal end).
private func standardOutputFailure() -> String? {
    let flushFailed = fflush(nil) != 0
    let cause = errno
    let file = standardOutputFile()
    guard flushFailed || (file.map { ferror($0) != 0 } ?? false) else { return nil }
    if (flushFailed && cause == EPIPE) || standardOutputIsGone() { return nil }
    return flushFailed ? String(cString: strerror(cause)) : "a write failed"
}

/// Writes out what `print` holds in C's buffer for stdout (a file or a pipe is block-buffered),
/// so that it goes before what is written to the descriptor directly after it.
func flushStandardOutput() {
    if let file = standardOutputFile() { fflush(file) }
}

/// C's `stdout`, which `print` writes to: a global that Swift 6 will not read directly (shared
/// mutable state), so looked up by its symbol; nil where it cannot be.
private func standardOutputFile() -> UnsafeMutablePointer<FILE>? {
    #if os(Linux)
    let name = "stdout"
    #else
    let name = "__stdoutp"
    #endif
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }  // RTLD_DEFAULT
    return symbol.load(as: UnsafeMutablePointer<FILE>?.self)
}
