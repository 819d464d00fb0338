import Foundation
import Testing
@testable import JobLedgerProjections

/// A projection owner on this host counts as gone once its process has ended, also while it
/// waits to be reaped (a zombie: it still answers `kill(pid, 0)`). Linux only: the zombie is
/// found in `/proc`, which macOS does not have (there a zombie still counts as alive until reaped).
#if os(Linux)
@Suite("Dead owners")
struct DeadOwnerTests {
    @Test("a killed process not yet reaped is a dead owner; a running one is not")
    func aZombieIsDead() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("60"), nil]
        defer { for a in argv { free(a) } }
        #expect(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0)
        let owner = "\(ProjectionRunner.localPlace):\(pid)"
        #expect(!ProjectionRunner.isDeadLocalProcess(owner), "a running process")
        #expect(kill(pid, SIGKILL) == 0)
        // Not reaped: wait (without reaping, WNOWAIT) until it has ended, then ask.
        var info = siginfo_t()
        #expect(waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0)
        #expect(kill(pid, 0) == 0, "a zombie still answers kill(0)")
        #expect(ProjectionRunner.isDeadLocalProcess(owner), "a zombie")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(ProjectionRunner.isDeadLocalProcess(owner), "reaped: gone")
    }
}
#endif
