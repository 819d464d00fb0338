import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// A fetch still unfinished at its `within` limit: its task is cancelled.
package struct FetchTimedOut: Error, Sendable {}

/// An answer whose body passed `CappedFetch.limit`: not read further.
package struct ResponseTooLarge: Error, Sendable, CustomStringConvertible {
    /// The most a body may hold, in bytes.
    package let limit: Int
    package var description: String { "the answer's body is larger than \(limit / (1 << 20)) MiB" }
}

/// The session delegate of the cloud adapters' URLSession transports (AnyCable, Upstash, Vercel
/// Blob): fetches with a data task and keeps at most `limit` bytes of an answer's body, and never
/// follows a redirect.
///
/// `URLSession.data(for:)` kept every byte a server sent: an endpoint that streamed gigabytes (a
/// wrong URL, a hostile or broken server) took the process's memory to 4–6 GB. Here a body past
/// the limit (declared in `Content-Length`, or counted as it arrives) ends the fetch with
/// `ResponseTooLarge`, and its task is cancelled from a queue of its own (cancelling it from a
/// Swift task's cancellation handler could deadlock FoundationNetworking, see
/// `withoutCancelling`).
///
/// A redirect is answered "do not follow": the 3xx itself is the response. URLSession would
/// otherwise repeat the request, its credentials included, to wherever `Location` points.
/// (FoundationNetworking buffers a 3xx's body itself, before it asks, so the cap does not hold
/// there; the fetch's time limit, `within`, still ends it.)
package final class CappedFetch: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: the only state is behind the mutex.
    private struct Pending {
        let continuation: CheckedContinuation<(Data, URLResponse), any Error>
        var response: URLResponse?
        var body = Data()
    }
    private let pending = Mutex<[Int: Pending]>([:])
    /// The most bytes of a body kept.
    package let limit: Int

    /// 16 MiB by default: far above an answer of AnyCable or Vercel Blob (a page of a blob
    /// listing is under a megabyte), far below what would hurt. A transport whose answers can be
    /// larger by right (Upstash: a batch of stream entries, base64) gives its own.
    package init(limit: Int = 16 << 20) { self.limit = limit }

    /// Sends `request` on `session` (whose delegate must be this one) and returns the whole body
    /// and the response; throws `ResponseTooLarge`, `FetchTimedOut` when `within` passes first
    /// (its task is cancelled then: a server that trickles bytes never trips URLSession's
    /// timeout without progress, and a task left running held a connection of the session's
    /// few for as long as the server went on), or what URLSession says.
    package func fetch(_ request: URLRequest, in session: URLSession, within limit: Duration? = nil) async throws -> (Data, URLResponse) {
        try await withCheckedThrowingContinuation { continuation in
            let task = session.dataTask(with: request)
            // FoundationNetworking asks the task's own delegate, not the session's, whether to
            // follow a redirect: without this one it followed it.
            task.delegate = self
            pending.withLock { $0[task.taskIdentifier] = Pending(continuation: continuation) }
            task.resume()
            if let limit {
                let c = limit.components
                let nanoseconds = max(0, c.seconds) * 1_000_000_000 + c.attoseconds / 1_000_000_000
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: nanoseconds))) { [weak self] in
                    self?.end(task, with: FetchTimedOut())
                }
            }
        }
    }

    package func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                            newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        // The 3xx is the answer. FoundationNetworking does not pass it to the data delegate's
        // `didReceive response` (it skips redirect statuses there), so it is kept here.
        pending.withLock { $0[task.taskIdentifier]?.response = response }
        completionHandler(nil)
    }

    package func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                            completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if response.expectedContentLength > Int64(limit) {
            completionHandler(.cancel)
            giveUp(dataTask)
            return
        }
        pending.withLock { $0[dataTask.taskIdentifier]?.response = response }
        completionHandler(.allow)
    }

    package func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let over = pending.withLock { p -> Bool in
            guard var entry = p[dataTask.taskIdentifier] else { return false }
            if entry.body.count + data.count > limit { return true }
            entry.body.append(data)
            p[dataTask.taskIdentifier] = entry
            return false
        }
        if over { giveUp(dataTask) }
    }

    package func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let error {
            entry.continuation.resume(throwing: error)
        } else if let response = entry.response ?? task.response {
            entry.continuation.resume(returning: (entry.body, response))
        } else {
            entry.continuation.resume(throwing: URLError(.badServerResponse))
        }
    }

    /// Ends the fetch of `task` with `ResponseTooLarge` (once) and cancels the task.
    private func giveUp(_ task: URLSessionTask) { end(task, with: ResponseTooLarge(limit: limit)) }

    /// Ends the fetch of `task` with `error`, unless it has ended already, and cancels the task
    /// from a queue of its own (never from a delegate callback or a Swift task's cancellation
    /// handler: see `withoutCancelling` on the deadlock that can cause).
    private func end(_ task: URLSessionTask, with error: any Error) {
        guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        entry.continuation.resume(throwing: error)
        DispatchQueue.global().async { task.cancel() }
    }
}
