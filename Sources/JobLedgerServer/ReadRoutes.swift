import Hummingbird
import JobLedger
import JobLedgerProjections
import JobLedgerSQLite

extension JobLedgerServer {
    var blobURLs: BlobURLs { BlobURLs(folder: blobFolder) }

    /// `GET /api/jobs/{id}`, `GET /api/jobs/{id}/events?after=&limit=`, `GET /api/jobs`.
    func addReadRoutes(to router: Router<BasicRequestContext>) {
        router.get("api/jobs/:id") { request, context in
            let state = try visibleJob(context, for: try await caller(request))
            return JSONResponse.make(try jobJSON(state))
        }
        router.get("api/jobs/:id/events") { request, context in
            let state = try visibleJob(context, for: try await caller(request))
            // A misspelt `after` (`?afer=214`) gave every event, a page nobody asked for.
            try Self.onlyParameters(["after", "limit"], in: request)
            let page = try HistoryPage(request)
            return JSONResponse.make(try history(of: state.id, page: page, logger: context.logger))
        }
        router.get("api/jobs") { request, _ in
            try await list(request, caller: try await caller(request))
        }
    }

    /// A job with its artefacts' URLs.
    func jobJSON(_ s: JobState) throws -> JSONValue {
        if blobFolder != nil { return servedHereJobJSON(s) }
        // Blobs published elsewhere (Vercel Blob): the URLs the blob projection recorded for
        // this job's artefacts (two lookups, not the whole jobs table).
        let urls = try ledger.artefactURLs(of: s), job = s.id.rawValue
        return JobJSON.make(s, previewURL: blobURLs.client(urls.preview, job: job), resultURL: blobURLs.client(urls.result, job: job))
    }

    /// A job whose artefacts this server serves from its blob folder, at their `/blobs/` URLs.
    func servedHereJobJSON(_ s: JobState) -> JSONValue {
        let paths = s.artefactPathnames
        return JobJSON.make(s, previewURL: blobURLs.published(paths.preview?.description), resultURL: blobURLs.published(paths.result?.description))
    }

    /// `GET /api/jobs?state=&kind=&cursor=&limit=`: newest first, the caller's own jobs (an
    /// admin's: every job), `next_cursor` to page on, and counts per state of what the caller sees.
    /// Read from the `jobs` table by keyset (`Ledger.jobListPage`), so it costs the page, not the
    /// log, and lags the log by the jobs projection's delay.
    func list(_ request: Request, caller: Principal) async throws -> Response {
        try Self.onlyParameters(Self.listParameters, in: request)
        let status = try Self.stateFilter(request, emptyIsAll: false)
        let kind = try Self.kindFilter(request, emptyIsAll: false)
        let cursor = try Self.listCursor(try Self.queryValue("cursor", in: request), emptyIsFirst: false)
        var limit = 50
        if let l = try Self.queryValue("limit", in: request) {
            guard Self.isDigits(l), let n = Int(l), (1...200).contains(n) else { throw Problem.invalid("limit", "limit must be 1…200, digits only") }
            limit = n
        }
        let page: JobListPage
        do {
            page = try jobListPage(state: status, kind: kind, owner: caller.isAdmin ? nil : caller.subject, before: cursor, limit: limit)
        } catch { throw Self.storage(error) }
        guard page.cursorListed else { throw Self.unknownCursor }
        var counts: [String: JSONValue] = [:]
        for s in JobStatus.allCases { counts[s.rawValue] = .int(Int64(page.counts[s] ?? 0)) }
        let jobs: [JSONValue] = page.jobs.map { e in
            let s = e.state
            if blobFolder != nil { return servedHereJobJSON(s) }
            return JobJSON.make(s, previewURL: blobURLs.client(e.previewURL, job: s.id.rawValue), resultURL: blobURLs.client(e.resultURL, job: s.id.rawValue))
        }
        let next: JSONValue = page.hasMore ? .string(page.jobs.last!.state.id.rawValue) : .null
        return JSONResponse.make(.object(["jobs": .array(jobs), "next_cursor": next, "counts": .object(counts)]))
    }

    /// What `GET /api/jobs` reads from its query.
    static let listParameters: Set<String> = ["state", "kind", "cursor", "limit"]

    /// The list's `state` parameter: nil when absent, else one of the job states (another word
    /// is refused, not ignored: a list that ignored it would look filtered). Empty (`state=`,
    /// a bare `state`) is refused by the API, as not one of them (it was read as no filter),
    /// and means every state on the dashboard, whose filter form sends it so (`emptyIsAll`).
    static func stateFilter(_ request: Request, emptyIsAll: Bool) throws -> JobStatus? {
        guard let s = try queryValue("state", in: request), !(s.isEmpty && emptyIsAll) else { return nil }
        guard let v = JobStatus(rawValue: s) else {
            throw Problem.invalid("state", "state must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")) (leave it out for every state)")
        }
        return v
    }

    /// The list's `kind` parameter: nil when absent, else a kind; empty as for `stateFilter`.
    static func kindFilter(_ request: Request, emptyIsAll: Bool) throws(Problem) -> String? {
        guard let k = try queryValue("kind", in: request), !(k.isEmpty && emptyIsAll) else { return nil }
        guard !k.isEmpty else { throw Problem.invalid("kind", "kind must name a kind (leave it out for every kind)") }
        return k
    }

    /// The list's `cursor` parameter: nil when absent, else a job id (whether the caller's list
    /// under these filters has it is `JobListPage.cursorListed`, known once the page is read).
    /// Empty is refused by the API like any other cursor it did not give out (it was the first
    /// page); the dashboard reads it as the first page (`emptyIsFirst`).
    static func listCursor(_ text: String?, emptyIsFirst: Bool) throws(Problem) -> JobID? {
        guard let text, !(text.isEmpty && emptyIsFirst) else { return nil }
        guard let id = try? JobID(text) else { throw unknownCursor }
        return id
    }

    /// A cursor that is not a `next_cursor` of this list: made up, altered (ids compare byte
    /// for byte, so an upper-cased one is another id), or another owner's job. Refused rather
    /// than answered with the first page again or an empty last page, which a client would
    /// take for the list.
    static var unknownCursor: Problem { Problem.invalid("cursor", "cursor is not the id of a job in this caller's list: pass the next_cursor of the previous page") }
}
