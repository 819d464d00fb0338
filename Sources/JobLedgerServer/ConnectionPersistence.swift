import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Keeps a connection open or closes it as RFC 9112 § 9.3 says, answers each request in its own
/// HTTP version, and sends `100 Continue` (RFC 9110 § 10.1.1), all of which the conversion to
/// HTTP types hides from Hummingbird (it answers everything as HTTP/1.1 and closes only on a
/// request's `Connection: close`, spelled so):
/// - an HTTP/1.0 request is answered as HTTP/1.0: no chunked framing (a stream's event lines
///   were sent inside chunk sizes), and the connection closes after the answer unless the
///   request asked `Connection: keep-alive` and the answer has a length, in which case the answer
///   says `Connection: keep-alive`. (A 1.0 connection was held until the idle timeout.)
/// - a request that is not persistent (`close` among its `Connection` tokens, in any case, or a
///   1.0 request without `keep-alive`) reaches Hummingbird with `Connection: close`, and its
///   answer says `Connection: close`.
/// - an HTTP/1.1 request with `Expect: 100-continue` gets `100 Continue` at once: a client
///   waiting for it before sending its body waited a second (curl), or for ever (the request
///   timeout then closed the connection). An HTTP/1.0 one's expectation is ignored, as the RFC says.
/// - a request with `Expect: 100-continue` whose `Content-Length` is over the largest body any
///   route reads (`SubmitRequest.maxBodyBytes`) gets no `100 Continue` (a client was invited to
///   send a gigabyte), and its connection closes after the answer (the submit route's 413, sent
///   before any of the body is read): its client need not send the body now, so what came next
///   on the connection could not be told from it (RFC 9112 § 9.6). Without the expectation the
///   client is sending the body: the connection stays, and the body is read and dropped after
///   the answer, within the request timeout.
/// - a `CONNECT` is answered (404: it names no path here) and its connection closed.
///
/// It sits before the conversion (`HTTP1ToHTTPServerCodec`), where `BeforeConversion` puts it,
/// as it puts `RequestAuthority`.
final class ConnectionPersistence: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A request read and not yet answered (pipelined requests are answered in order).
    struct Pending: Equatable {
        var http10: Bool
        var persistent: Bool
        var head: Bool
    }

    private var pending: [Pending] = []
    /// The answer being written ends the connection, which Hummingbird would keep.
    private var closeAfterEnd = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let (request, expects, oversized) = Self.read(head)
        pending.append(request)
        var changed = false
        // Hummingbird closes after the answer only when the field is exactly "close".
        if !request.persistent, head.headers[canonicalForm: "connection"] != ["close"] {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            changed = true
        }
        if !request.http10, expects, !oversized {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        context.fireChannelRead(changed ? wrapInboundOut(.head(head)) : data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var data = data
        switch unwrapOutboundIn(data) {
        case .head(var head):
            if let renamed = Self.rfc9110Status(head.status) {
                head.status = renamed
                data = wrapOutboundOut(.head(head))
            }
            if (100..<200).contains(head.status.code), head.status.code != 101 {
                // An interim answer: the final one follows. None is sent to a 1.0 client.
                if pending.first?.http10 == true { promise?.succeed(()) } else { context.write(data, promise: promise) }
                return
            }
            guard !pending.isEmpty else {
                context.write(data, promise: promise)
                return
            }
            let request = pending.removeFirst()
            guard request.http10 || !request.persistent else {
                context.write(data, promise: promise)
                return
            }
            if request.http10 {
                head.version = .http1_0
                head.headers.remove(name: "Transfer-Encoding")
                let framed = request.head || !head.status.mayHaveResponseBody || head.headers.contains(name: "Content-Length")
                if request.persistent && framed {
                    head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
                } else {
                    head.headers.replaceOrAdd(name: "Connection", value: "close")
                    // Ends when the connection does: Hummingbird would keep a keep-alive one.
                    closeAfterEnd = request.persistent
                }
            } else {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closeAfterEnd else {
                context.write(data, promise: promise)
                return
            }
            closeAfterEnd = false
            context.writeLastAndClose(data, promise: promise)
        }
    }

    /// The status line in RFC 9110's words where NIO writes older ones (`413 Payload Too Large`,
    /// `422 Unprocessable Entity`), so that it says what the problem's `title` says
    /// (`Content Too Large`, `Unprocessable Content`). Nil for every other status.
    static func rfc9110Status(_ status: HTTPResponseStatus) -> HTTPResponseStatus? {
        switch status {
        case .payloadTooLarge: .custom(code: 413, reasonPhrase: "Content Too Large")
        case .unprocessableEntity: .custom(code: 422, reasonPhrase: "Unprocessable Content")
        default: nil
        }
    }

    /// Whether the connection may stay open after the answer (RFC 9112 § 9.3), the version,
    /// whether the request expects `100 Continue` (`Expect: 100-continue`, in any case), and
    /// whether it declares a body over `SubmitRequest.maxBodyBytes` (then, expecting `100
    /// Continue`, it is not persistent).
    /// One pass over the fields, allocating nothing for a request without `Connection` or
    /// `Expect` (it runs for every request).
    static func read(_ head: HTTPRequestHead) -> (Pending, expectsContinue: Bool, oversized: Bool) {
        let http10 = head.version.major == 1 && head.version.minor == 0
        var close = false, keepAlive = false, expects = false, oversized = false
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 14 where name.lowercased() == "content-length":
                oversized = oversized || SubmitRequest.isOverLimit(contentLength: value)
            case 10 where name.lowercased() == "connection":
                for token in value.split(separator: ",") {
                    let t = token.trimmingCharacters(in: .whitespaces).lowercased()
                    if t == "close" { close = true } else if t == "keep-alive" { keepAlive = true }
                }
            case 6 where name.lowercased() == "expect":
                if value.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" { expects = true }
            default:
                break
            }
        }
        // After a CONNECT, NIO's decoder reads the connection as a tunnel (no further request is
        // parsed), and its encoder sends the answer without a body: the connection then waited
        // out the idle timeout with the client's next request unanswered. It is closed instead.
        let tunnel = head.method == .CONNECT
        let unsent = oversized && expects && !http10
        return (Pending(http10: http10, persistent: !close && !unsent && !tunnel && (!http10 || keepAlive), head: head.method == .HEAD),
                expects, oversized)
    }
}
