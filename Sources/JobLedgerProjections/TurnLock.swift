import Foundation
import Synchronization

/// An async mutual exclusion: waiters queue in order and never block a thread.
final class TurnLock: Sendable {
    private let state = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.held { s.held = true; return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    /// The process's lock for one projection of one log file (by its absolute path) under one
    /// owner name: runners that share an owner share its lease, so they take turns.
    static func shared(file: String, owner: String, projection: String) -> TurnLock {
        let key = [URL(fileURLWithPath: file).standardizedFileURL.path, owner, projection].joined(separator: "\u{0}")
        return registry.withLock { r in
            if let lock = r[key] { return lock }
            let lock = TurnLock()
            r[key] = lock
            return lock
        }
    }

    private static let registry = Mutex<[String: TurnLock]>([:])

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.held = false; return nil }
            return s.waiters.removeFirst()  // the turn passes straight to the next waiter
        }
        next?.resume()
    }
}
