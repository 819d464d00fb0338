import Foundation

/// Writes `text` to stderr (or another descriptor, such as `STDOUT_FILENO`) with `write(2)`, all
/// of it, and drops what the descriptor refuses: a pipe whose reader has gone (`| head`), a full
/// disk, a closed descriptor. A diagnostic that cannot be shown must not stop the process:
/// `FileHandle.write` traps on such an error (SIGILL), which killed `serve` as it said
/// "stopped". With SIGPIPE ignored (`JobLedgerCLI.main`) a closed pipe is an EPIPE here, and
/// `print` to it fails as quietly.
func writeQuietly(_ text: String, to descriptor: Int32 = STDERR_FILENO) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written > 0 {
            bytes = bytes.dropFirst(written)
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return
        }
    }
}
