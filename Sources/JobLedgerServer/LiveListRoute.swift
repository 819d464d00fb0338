import Hummingbird
import HTTPTypes
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

extension JobLedgerServer {
    /// Most jobs one live-list stream follows (a dashboard page shows 50).
    static let maxLiveJobs = 200

    /// `GET /api/live?jobs=ID,ID,…`: Server-Sent Events of the broadcast messages of several jobs,
    /// from the in-process hub: what the dashboard's jobs list follows instead of polling. Each
    /// event is as on the job's own stream (`id` the message's seq, `data` the message, which
    /// names its job and carries its whole visible state). The stream starts with each job's
    /// latest message so far, finished jobs' included (so a list rendered from a `jobs` table
    /// that lagged is put right), then sends the newer ones as they are published, none twice;
    /// there is no resuming.
    ///
    /// Jobs the caller may not see and unknown ids are left out without saying which (no way to
    /// probe for other users' jobs). The answer is 204, which tells an `EventSource` to stop,
    /// when none is left, and on a reconnect (`Last-Event-ID`) when every job listed has
    /// finished. `Last-Event-ID` (or `last_event_id`) is checked as on a job's stream
    /// (`lastEventID`: decimal digits, at most the log's head, else 400 `invalid-header`); it
    /// marks a reconnect and resumes nothing. The stream ends once every job it follows has sent
    /// its finished state, or after the server's longest stream time. Two reads of the log whatever the number of ids
    /// (their states, their latest messages), and the hub hands the stream only their messages.
    ///
    /// `HEAD` runs the same checks and reads and answers the GET's status and headers without
    /// a `Content-Length` (see `eventStreamHead`), subscribing to nothing.
    func addLiveListRoute(to router: Router<BasicRequestContext>) {
        router.get("api/live") { request, _ in try await liveList(request, head: false) }
        router.head("api/live") { request, _ in try await liveList(request, head: true) }
    }

    private func liveList(_ request: Request, head: Bool) async throws -> Response {
        let caller = try await caller(request, allowQuery: true)
        guard let hub else {
            if anycable == nil { throw Self.noBroadcasts }
            throw Problem(.conflict, "use-anycable", "broadcasts go to AnyCable on this server: subscribe to the jobs' streams there"
                          + (anycable?.streamsSecret == nil ? " (this server signs no stream names: it has no ANYCABLE_STREAMS_SECRET or ANYCABLE_SECRET)" : ", with the signed streams from the submit responses"))
        }
        try Self.onlyParameters(["jobs", "last_event_id", "access_token"], in: request)
        // `jobs=A,B` or, as many clients write a list, `jobs=A&jobs=B`: the same ids.
        let parts = request.uri.queryParameters.getAll("jobs").flatMap { $0.split(separator: ",", omittingEmptySubsequences: true) }
        guard !parts.isEmpty, parts.count <= Self.maxLiveJobs else {
            throw Problem.invalid("jobs", "jobs must list 1…\(Self.maxLiveJobs) job ids, separated by commas")
        }
        var ids: [JobID] = []
        for p in parts {
            guard let id = try? JobID(String(p)) else { throw Problem.invalid("jobs", "jobs must list job ids, separated by commas") }
            if !ids.contains(id) { ids.append(id) }
        }
        // Read as on a job's own stream (the same rules, the same 400 naming the field): this
        // route resumes nothing, but a value it would not take there is no seq of this log either.
        _ = try lastEventID(request)
        let resumed = request.headers[Self.lastEventIDHeader] != nil || request.uri.queryParameters["last_event_id"]?.isEmpty == false
        let ticket = try streamTicket(for: caller)
        // Subscribed before the latest messages are read: none published in between is lost.
        let subscription = head ? nil : hub.subscribe(streams: Set(ids.map { streams.stream(for: $0) }), for: maxStreamDuration, heartbeat: streamHeartbeat)
        let states: [JobID: JobState]
        do { states = try await ledger.states(of: ids) } catch { throw Self.storage(error) }
        let visible = ids.compactMap { id in states[id].flatMap { caller.may(access: $0.owner) ? $0 : nil } }
        if visible.isEmpty { return Response(status: .noContent) }
        let lastItems: [JobID: OutboxItem]
        do { lastItems = try ledger.latestOutboxItems(.broadcast, jobs: visible.map(\.id)) } catch { throw Self.storage(error) }
        var latest: [OutboxItem] = []
        var following: Set<String> = []
        for state in visible {
            let last = lastItems[state.id]
            if let last { latest.append(last) }
            let finished = last.flatMap { try? BroadcastMessage(text: $0.body) }.map { $0.isTerminal && Self.isLastWord($0, of: state) } ?? false
            if !finished { following.insert(streams.stream(for: state.id)) }
        }
        // An EventSource reconnecting after a stream that had nothing left to follow: stop it.
        if following.isEmpty && resumed { return Response(status: .noContent) }
        guard let subscription else { return Self.eventStreamHead(ticket) }
        let urls = blobURLs, rendered = renderedEvents, snapshot = latest, watched = following, naming = streams
        return Self.eventStream(ticket) { writer in
            var open = watched
            var sent: [String: Int64] = [:]
            for item in snapshot {
                try await writer.write(ByteBuffer(string: Self.event(seq: item.seq, data: urls.message(item.body))))
                sent[naming.stream(for: item.job)] = item.seq
            }
            if !open.isEmpty {
                for await next in subscription {
                    guard let p = next else { try await writer.write(ByteBuffer(string: Self.keepAlive)); continue }
                    guard open.contains(p.stream) && p.message.seq > sent[p.stream, default: 0] else { continue }
                    try await writer.write(rendered.event(for: p) { Self.event(seq: p.message.seq, data: urls.message(p.message.text)) })
                    sent[p.stream] = p.message.seq
                    if p.message.isTerminal {
                        open.remove(p.stream)
                        if open.isEmpty { break }
                    }
                }
            }
        }
    }
}
