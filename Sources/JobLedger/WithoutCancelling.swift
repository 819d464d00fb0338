import Synchronization

/// Runs `operation` in a task of its own that is never cancelled and waits for its result — or,
/// when the caller is cancelled first, stops waiting at once with `CancellationError` while
/// `operation` runs to its end unobserved.
///
/// The HTTP transports call FoundationNetworking's `URLSession.data(for:)` through it: on Linux,
/// cancelling a task suspended in that call can deadlock the process (the cancellation handler
/// cancels the `URLSessionTask` with a synchronous hop onto the session's queue, while that
/// queue's thread waits for the task's status lock to resume it — seen as a `demo` that never
/// ended). The request is bounded by its own timeout, so what is left running ends by itself.
package func withoutCancelling<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await waitWithoutCancelling(deadline: nil, operation)
}

/// `withoutCancelling` with a deadline of its own: when `operation` has not finished `within`
/// (counted from the call), stops waiting at once with `DeadlineExceeded`, while `operation` runs
/// to its end unobserved.
///
/// What `serve`'s JWKS fetch and a projection drain bound their waits with. (The cloud adapters'
/// transports keep their exact limits in `CappedFetch`, which also cancels the request then:
/// FoundationNetworking counts a request's `timeoutInterval` in whole seconds, rounded down,
/// 0.999 s becoming 0, so they give URLSession a ceiling of whole seconds at least as long.)
package func withoutCancelling<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await waitWithoutCancelling(deadline: limit, operation)
}

/// The limit of `withoutCancelling(within:_:)` passed before the operation ended.
package struct DeadlineExceeded: Error, Sendable, Hashable {
    /// The limit that passed.
    package let limit: Duration
}

/// The whole seconds, at least one, that cover `limit`: what to give FoundationNetworking's
/// `timeoutInterval` (which drops fractions of a second) so that it never ends a request first.
package func wholeSecondsCovering(_ limit: Duration) -> Double {
    let c = limit.components
    return Double(max(1, c.seconds + (c.attoseconds > 0 ? 1 : 0)))
}

private func waitWithoutCancelling<T: Sendable>(deadline: Duration?, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let handoff = Handoff<T>()
    Task {
        do { handoff.finish(.success(try await operation())) } catch { handoff.finish(.failure(error)) }
    }
    // The timer is cancelled as soon as the wait is over (cancelling a sleep is clean; it is
    // never URLSession's task that is cancelled).
    let timer = deadline.map { limit in
        Task {
            do { try await Task.sleep(for: limit) } catch { return }
            handoff.finish(.failure(DeadlineExceeded(limit: limit)))
        }
    }
    defer { timer?.cancel() }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { handoff.install($0) }
    } onCancel: {
        handoff.finish(.failure(CancellationError()))
    }
}

/// One result handed to one waiting continuation, whichever comes first; later results are
/// dropped.
private final class Handoff<T: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<T, any Error>)
        case done(Result<T, any Error>)
        case handedOver
    }

    private let state = Mutex<State>(.idle)

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { s in
            switch s {
            case .idle:
                s = .waiting(continuation)
                return nil
            case .done(let r):
                s = .handedOver
                return r
            case .waiting, .handedOver:
                preconditionFailure("a Handoff is waited on once")
            }
        }
        if let ready { continuation.resume(with: ready) }
    }

    func finish(_ result: Result<T, any Error>) {
        let waiting: CheckedContinuation<T, any Error>? = state.withLock { s in
            switch s {
            case .idle:
                s = .done(result)
                return nil
            case .waiting(let c):
                s = .handedOver
                return c
            case .done, .handedOver:
                return nil
            }
        }
        waiting?.resume(with: result)
    }
}
