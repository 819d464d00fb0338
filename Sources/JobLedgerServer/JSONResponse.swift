import Hummingbird
import JobLedger

/// JSON bodies written with the log's own canonical writer (sorted keys, no white space), so a
/// response is byte-for-byte repeatable.
enum JSONResponse {
    /// A response with `value` as `application/json`.
    static func make(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: value.canonicalText)))
    }

    /// A response with HTML: a dashboard page, which may run only this server's scripts
    /// (`BrowserGuard.pagePolicy`, beside the `frame-ancestors` policy every response has).
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: BrowserGuard.pagePolicy],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
