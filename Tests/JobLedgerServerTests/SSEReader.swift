import Foundation
import Hummingbird
import HTTPTypes
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// A streaming Server-Sent Events client over a real loopback connection (URLSession), that can
/// drop its connection mid-stream as a browser tab losing its network would.
final class SSEReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    struct Event: Sendable, Equatable { var id: Int64; var data: String }
    let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let buffer = Mutex("")
    private let statusCode = Mutex<Int?>(nil)
    private var session: URLSession!
    private var task: URLSessionDataTask!

    init(url: URL, headers: [String: String] = [:]) {
        (events, continuation) = AsyncStream.makeStream()
        super.init()
        session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
        var request = URLRequest(url: url)
        request.timeoutInterval = 30
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        task = session.dataTask(with: request)
        task.resume()
    }

    var status: Int? { statusCode.withLock { $0 } }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        statusCode.withLock { $0 = (response as? HTTPURLResponse)?.statusCode }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let blocks: [String] = buffer.withLock { b in
            b += String(decoding: data, as: UTF8.self)
            var out: [String] = []
            while let r = b.range(of: "\n\n") {
                out.append(String(b[..<r.lowerBound]))
                b.removeSubrange(..<r.upperBound)
            }
            return out
        }
        for block in blocks {
            var id: Int64?, data: String?
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = Int64(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            if let id, let data { continuation.yield(Event(id: id, data: data)) }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        continuation.finish()
    }

    /// Drops the connection.
    func drop() {
        task.cancel()
        session.invalidateAndCancel()
        continuation.finish()
    }

    /// The next `n` events (fewer if the stream ends).
    func next(_ n: Int) async -> [Event] {
        var got: [Event] = []
        for await e in events {
            got.append(e)
            if got.count == n { break }
        }
        return got
    }
}

/// A gate a test opens step by step, so a handler advances exactly when the test says.
final class Gate: Sendable {
    private let state = Mutex<(permits: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))
    func open() {
        let w: CheckedContinuation<Void, Never>? = state.withLock { s in
            if s.waiters.isEmpty { s.permits += 1; return nil }
            return s.waiters.removeFirst()
        }
        w?.resume()
    }
    func pass() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let go = state.withLock { s -> Bool in
                if s.permits > 0 { s.permits -= 1; return true }
                s.waiters.append(c)
                return false
            }
            if go { c.resume() }
        }
    }
}
