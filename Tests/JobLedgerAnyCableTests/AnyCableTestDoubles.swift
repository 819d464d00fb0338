import Foundation
import JobLedger
import Logging
import Synchronization
import Testing
@testable import JobLedgerAnyCable

// MARK: - Test doubles

/// Answers 201 to everything and keeps the requests.
final class Recorder: HTTPTransport {
    private let store = Mutex<[HTTPRequest]>([])
    var requests: [HTTPRequest] { store.withLock { $0 } }
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        store.withLock { $0.append(request) }
        return HTTPResponse(status: 201)
    }
}

/// Sends every request with another method (a misbehaving proxy or redirect).
struct MethodRewriter: HTTPTransport {
    let method: String
    let inner: any HTTPTransport
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        var r = request
        r.method = method
        r.body = Data()
        return try await inner.send(r)
    }
}

/// Collects every log line (message and metadata) in memory.
final class LogCapture: Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            let level = event.level, message = event.message
            capture.store.withLock { $0.append("\(level) \(message) \(all)") }
        }
    }
}
