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
        let channel = EmbeddedChannel(handler: HeaderOverflowHandler())
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
        let channel = EmbeddedChannel(handler: HeaderOverflowHandler())
        channel.pipeline.fireErrorCaught(HTTPParserError.headerOverflow)
        #expect(throws: HTTPParserError.headerOverflow) { try channel.throwIfErrorCaught() }
        guard case .head(let h)? = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no 431"); return }
        #expect(h.status.code == 431)
        _ = try? channel.finish()
    }
}
