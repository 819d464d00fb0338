import Hummingbird
import HTTPTypes
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

extension JobLedgerServer {
    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!

    /// `GET /api/jobs/{id}/stream`: Server-Sent Events from the in-process hub. Each event's
    /// `id` is the message's seq and its `data` the broadcast message. Without `Last-Event-ID`
    /// the stream starts with every message of the job so far; with it, with the messages after
    /// that seq: none lost, none repeated. The stream ends after the job's terminal message.
    ///
    /// No gap: the hub subscription is made *before* the backlog is read from the outbox, and a
    /// message is written only if its seq is above the last one written.
    ///
    /// `HEAD` runs the same checks (auth, visibility, quota, `Last-Event-ID`) and answers the
    /// GET's status and headers without a `Content-Length` (the GET's body is an endless chunked
    /// stream, RFC 9110 §9.3.2), subscribing to nothing.
    func addStreamRoute(to router: Router<BasicRequestContext>) {
        router.get("api/jobs/:id/stream") { request, context in try await jobStream(request, context, head: false) }
        router.head("api/jobs/:id/stream") { request, context in try await jobStream(request, context, head: true) }
    }

    private func jobStream(_ request: Request, _ context: BasicRequestContext, head: Bool) async throws -> Response {
        let caller = try await caller(request, allowQuery: true)
        let state = try visibleJob(context, for: caller)
        guard let hub else {
            if anycable == nil { throw Self.noBroadcasts }
            throw Problem(.conflict, "use-anycable", "broadcasts go to AnyCable on this server: subscribe to the job's stream there, "
                          + (anycable?.streamsSecret == nil ? "\(streams.stream(for: state.id)) (this server signs no stream names: it has no ANYCABLE_STREAMS_SECRET or ANYCABLE_SECRET)" : "with the signed stream from the submit response"))
        }
        let after = try lastEventID(request)
        let ticket = try streamTicket(for: caller)
        let subscription = head ? nil : hub.subscribe(streams: [streams.stream(for: state.id)], for: maxStreamDuration, heartbeat: streamHeartbeat)
        let all: [OutboxItem]
        do {
            all = try ledger.outboxItems(.broadcast, job: state.id, limit: 100_000).filter { $0.status != .coalesced }
        } catch { throw Self.storage(error) }
        // A client that already has the job's last word (an EventSource reconnecting after
        // the stream ended) gets 204, which tells it to stop reconnecting.
        if let lastItem = all.last, lastItem.seq <= after, let m = try? BroadcastMessage(text: lastItem.body), m.isTerminal,
           Self.isLastWord(m, of: state) {
            return Response(status: .noContent)
        }
        guard let subscription else { return Self.eventStreamHead(ticket) }
        let backlog = all.filter { $0.seq > after }
        let urls = blobURLs, start = after, rendered = renderedEvents
        return Self.eventStream(ticket) { writer in
            var last = start
            var done = false
            for item in backlog where item.seq > last {
                try await writer.write(ByteBuffer(string: Self.event(seq: item.seq, data: urls.message(item.body))))
                last = item.seq
                if let m = try? BroadcastMessage(text: item.body), m.isTerminal, m.seq == item.seq { done = Self.isLastWord(m, of: state) }
            }
            if !done {
                for await next in subscription {
                    guard let p = next else { try await writer.write(ByteBuffer(string: Self.keepAlive)); continue }
                    guard p.message.seq > last else { continue }
                    // Every subscriber of the job gets the same bytes: made once per message.
                    try await writer.write(rendered.event(for: p) { Self.event(seq: p.message.seq, data: urls.message(p.message.text)) })
                    last = p.message.seq
                    if p.message.isTerminal { break }
                }
            }
        }
    }

    /// The seq a resuming client saw last: `Last-Event-ID` (or the `last_event_id` query
    /// parameter), 0 when absent or empty (an EventSource sends none before its first event).
    /// A seq past the log's head was never sent by this log (one restored from a backup, or
    /// another server's): it is refused (400, naming the head) instead of waiting, with
    /// keep-alives only, for messages that the stream would skip as already seen. `/api/live`
    /// checks it the same way (it resumes nothing, but takes no value this route refuses).
    func lastEventID(_ request: Request) throws(Problem) -> Int64 {
        let header = request.headers[Self.lastEventIDHeader]
        let query = request.uri.queryParameters.getAll("last_event_id")
        if header == nil, query.count > 1 {
            throw Problem(.badRequest, "invalid-header", "last_event_id was given \(query.count) times; give it once", field: "last_event_id")
        }
        guard let text = header ?? query.first, !text.isEmpty else { return 0 }
        let field = header != nil ? "Last-Event-ID" : "last_event_id"
        // Digits only, as the OpenAPI document's pattern (`^[0-9]+$`) has it: `Int64` also read
        // `+1` as 1. Leading zeros are allowed by the pattern and read as the number (`007` is 7);
        // more digits than a seq can have name a seq past any head.
        guard Self.isDigits(text) else {
            throw Problem(.badRequest, "invalid-header", "\(field) must be a seq (decimal digits only)", field: field)
        }
        let n = Int64(text) ?? .max
        guard n > 0 else { return 0 }
        let head: Int64
        do { head = try ledger.head()?.seq ?? 0 } catch { throw Self.storage(error) }
        guard n <= head else {
            // Digits too many for a seq are out of range, not a seq some other log may have.
            let what = Int64(text) == nil ? "is out of range (a seq is at most \(Int64.max)), so past the log's head (seq \(head))"
                : "is past the log's head (seq \(head)): no message of this log has that id (was the log restored from a backup?)"
            throw Problem(.badRequest, "invalid-header",
                          "\(field) \(Problem.quoted(text)) \(what); open the stream again without it to start afresh", field: field)
        }
        return n
    }

    /// The caller's place for one more open stream, or 429 `too-many-streams` (see `StreamQuota`).
    func streamTicket(for caller: Principal) throws(Problem) -> StreamQuota.Ticket {
        guard let ticket = streamQuota.take(for: caller.subject) else {
            var h = HTTPFields()
            h[.retryAfter] = "5"
            throw Problem(.tooManyRequests, "too-many-streams",
                          "this caller already holds \(streamQuota.perCaller) open streams; close one, or follow several jobs on one /api/live stream",
                          headers: h)
        }
        return ticket
    }

    /// A 200 of Server-Sent Events: the headers (no caching, no proxy buffering), the
    /// reconnect delay, then what `events` writes. The stream holds `ticket` (its place in the
    /// caller's quota) until it ends.
    static func eventStream(_ ticket: StreamQuota.Ticket, _ events: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void) -> Response {
        Response(status: .ok, headers: eventStreamHeaders, body: .init { writer in
            defer { ticket.release() }
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            try await events(&writer)
            try await writer.finish(nil)
        })
    }

    /// What a stream's GET answers with, for a HEAD: its status and headers, and a body of no
    /// stated length that writes nothing. Hummingbird's own HEAD (`autoGenerateHeadEndpoints`)
    /// sends the GET's headers with `Content-Length: 0`, which a GET of an endless stream never
    /// sends; without one, NIO frames the HEAD as the GET is framed (`Transfer-Encoding:
    /// chunked`) and writes no body, not even the last chunk. The place `ticket` showed the
    /// caller had in the quota is given back: a HEAD holds no stream open.
    static func eventStreamHead(_ ticket: StreamQuota.Ticket) -> Response {
        ticket.release()
        return Response(status: .ok, headers: eventStreamHeaders, body: .init { writer in try await writer.finish(nil) })
    }

    /// A stream's headers: no caching, no proxy buffering.
    static var eventStreamHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return headers
    }

    /// The SSE routes of a server that broadcasts nothing (`serve --no-effects`: no broadcast
    /// projection, so no message would ever come; its streams stayed open and silent).
    static let noBroadcasts = Problem(.conflict, "no-broadcasts", "this server broadcasts nothing (it runs with --no-effects): "
                                      + "there is no stream to follow; read the job at /api/jobs/{id} instead")

    /// An SSE comment, written when a stream has been quiet for `streamHeartbeat`: it keeps
    /// proxies from timing the connection out, and a write that fails ends the stream of a
    /// client that went away (a closed tab), giving back its place and its subscription.
    static let keepAlive = ": keep-alive\n\n"

    /// One SSE event.
    static func event(seq: Int64, data: String) -> String { "id: \(seq)\nevent: message\ndata: \(data)\n\n" }

    /// Whether a terminal message ends the stream: it does unless the job was requeued after it
    /// (an operator's retry), in which case more messages follow.
    static func isLastWord(_ m: BroadcastMessage, of state: JobState) -> Bool {
        !(m.version < state.version && !state.status.isTerminal)
    }
}
