import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
@testable import JobLedgerServer
import Testing

/// A client that pipelines a request whose header fields overflow behind one still being
/// answered gets that answer first, whole, and then the 431; the 431 used to go out at once,
/// read as the answer to the earlier request, whose own answer was dropped.
@Suite struct HeaderOverflowPipeliningTests {
    @Test func the431WaitsForTheAnswerOwedBeforeIt() throws {
        let channel = EmbeddedChannel(handler: ParseErrorHandler())
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "h", path: "/api/design")))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        // The next request's head overflows while the first is still being answered.
        channel.pipeline.fireErrorCaught(HTTPParserError.headerOverflow)
        #expect(throws: HTTPParserError.headerOverflow) { try channel.throwIfErrorCaught() }
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "nothing before the first answer")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .accepted)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        // Hummingbird's own 400 for the parse error, after it: dropped.
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .badRequest)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        var statuses: [Int] = []
        var ends = 0
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) {
            switch part {
            case .head(let h): statuses.append(h.status.code)
            case .end: ends += 1
            case .body: break
            }
        }
        #expect(statuses == [202, 431] && ends == 2, "\(statuses)")
        _ = try? channel.finish()
    }

    @Test func withNothingOwedThe431GoesAtOnce() throws {
        let channel = EmbeddedChannel(handler: ParseErrorHandler())
        channel.pipeline.fireErrorCaught(HTTPParserError.headerOverflow)
        #expect(throws: HTTPParserError.headerOverflow) { try channel.throwIfErrorCaught() }
        guard case .head(let h)? = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no 431"); return }
        #expect(h.status.code == 431)
        _ = try? channel.finish()
    }
}

/// An error inside a request's body is `BrokenBodyHandler`'s to answer (the route's answer is
/// the last): this handler writes nothing for it, and lets Hummingbird's 400 pass to be dropped
/// there. Before its body, the same kind of error is answered here.
@Suite struct ParseErrorInBodyTests {
    @Test func anErrorInsideABodyIsLeftToTheRoute() throws {
        let channel = EmbeddedChannel(handler: ParseErrorHandler())
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .post, scheme: "http", authority: "h", path: "/api/design")))
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(throws: HTTPParserError.invalidChunkSize) { try channel.throwIfErrorCaught() }
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "nothing written for an error in a body")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .badRequest)))
        guard case .head(let h)? = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("the route's answer was dropped"); return }
        #expect(h.status.code == 400)
        _ = try? channel.finish()
    }

    @Test func theSameErrorBeforeAnyBodyIsAnsweredWithAProblem() throws {
        let channel = EmbeddedChannel(handler: ParseErrorHandler())
        channel.pipeline.fireErrorCaught(HTTPParserError.invalidHeaderToken)
        #expect(throws: HTTPParserError.invalidHeaderToken) { try channel.throwIfErrorCaught() }
        guard case .head(let h)? = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no answer"); return }
        #expect(h.status.code == 400 && h.headerFields[.contentType] == "application/problem+json")
        _ = try? channel.finish()
    }
}
