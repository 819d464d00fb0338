import Foundation
import HTTPTypes
import Hummingbird
import JobLedger
import JobLedgerProjections
import JobLedgerUpstash
import Mustache
import Synchronization

extension JobLedgerServer {
    /// The dashboard, server-rendered with Mustache (`Resources/templates`) plus a little plain
    /// JavaScript (`/static/dashboard.js`): `/` (jobs, counts, filters, live bars, submit),
    /// `/jobs/{id}` (live job page, timeline with hash status, time travel, admin actions),
    /// `/projections` (health, re-drive). Pages authenticate with the `__session` cookie; without
    /// one they show a sign-in form.
    func addDashboardRoutes(to router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            try await page(request, title: "Jobs") { caller in try jobsPage(request, caller: caller) }
        }
        router.get("jobs/:id") { request, context in
            try await page(request, title: "Job") { caller in try jobPage(try visibleJob(context, for: caller), caller: caller) }
        }
        router.get("projections") { request, _ in
            let intake = await intakeHealth()
            return try await page(request, title: "Projections") { caller in
                guard caller.isAdmin else { throw Problem.forbidden("the projections page needs the admin role") }
                let rows: [[String: Any]] = try projectionHealth().map { p in
                    [
                        "name": p["name"]?.stringValue ?? "", "checkpoint": p["checkpoint"]?.intValue ?? 0, "head": p["head"]?.intValue ?? 0,
                        "lag": p["lag"]?.intValue ?? 0, "pending": p["pending"]?.intValue ?? 0,
                        "dead": (p["dead"]?.intValue ?? 0) > 0 ? p["dead"]!.intValue! : 0,
                        "next": p["next_attempt_at"]?.stringValue ?? "", "error": p["last_error"]?.stringValue ?? "",
                        "redrivable": caller.isAdmin && (p["name"]?.stringValue ?? "") != "jobs" && (p["dead"]?.intValue ?? 0) > 0,
                    ]
                }
                var context: [String: Any] = ["projections": rows, "admin": caller.isAdmin]
                if let intake { context["intake"] = intake }
                return ("projections", context)
            }
        }
        for name in ["dashboard.js", "dashboard.css"] {
            router.get("static/\(name)") { _, _ in
                Response(status: .ok, headers: [.contentType: name.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
                                                .cacheControl: "no-cache"],
                         body: .init(byteBuffer: ByteBuffer(string: try ServerResources.text(name))))
            }
        }
    }

    /// The Upstash intake's standing for the projections page (nil without an intake): its
    /// lag is how many submissions wait in the stream for a worker to take them in.
    func intakeHealth() async -> [String: Any]? {
        guard let intake else { return nil }
        do {
            let s = try await intake.status()
            return ["stream": s.stream, "group": s.group, "length": s.length, "lag": s.lag.map { "\($0)" } ?? (s.groupExists ? "unknown" : "no group yet"),
                    "pending": s.pending, "consumers": s.consumers, "dead": s.deadLetters, "deadStream": s.deadLetterStream,
                    "lastID": s.lastDeliveredID ?? ""]
        } catch {
            return ["error": "Upstash did not answer: \(error)"]
        }
    }

    /// A page in the layout, or the sign-in form when the caller is not authenticated.
    func page(_ request: Request, title: String, _ body: (Principal) throws -> (String, [String: Any])) async throws -> Response {
        let library = try await Self.templates()
        let caller: Principal
        do { caller = try await self.caller(request) } catch {
            let content = library.render(["reason": error.detail], withTemplate: "signin") ?? ""
            let html = library.render(["title": "Sign in", "content": content, "insecure": false], withTemplate: "layout") ?? ""
            return JSONResponse.html(html, status: .unauthorized)
        }
        // What the page cannot show (an unknown job, a bad filter, a page for admins) is said
        // on a page, with its status, not as the API's problem+json text.
        let template: String, context: [String: Any], status: HTTPResponse.Status, headers: HTTPFields
        do {
            (template, context) = try body(caller)
            (status, headers) = (.ok, [:])
        } catch let p as Problem {
            (template, context, status, headers) = ("problem", ["heading": p.status.reasonPhrase, "detail": p.detail], p.status, p.headers)
        }
        var c = context
        c["admin"] = caller.isAdmin
        let content = library.render(c, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content, "subject": caller.subject, "admin": caller.isAdmin,
                                     "insecure": auth == nil]
        // Every page says when the history does not verify (as the last verification found).
        switch chain.latest {
        case .verdict(let v) where v.brokenAt != nil || !v.removedRules.isEmpty:
            layout["chainAlert"] = Self.chainAlert(v)
        case .unreadable(let error):
            // SQLite's words name the log's path on the server: for admins only (the server's log has them too).
            layout["chainAlert"] = "The log's hash chain could not be verified: "
                + (caller.isAdmin ? error : "the log could not be read (an admin sees why here, and the server's log says)")
        default: break
        }
        var response = JSONResponse.html(library.render(layout, withTemplate: "layout") ?? "", status: status)
        response.headers.append(contentsOf: headers)  // a 503's Retry-After
        return response
    }

    /// The banner for a verdict that does not check out: where the chain breaks, and which
    /// integrity rules were dropped from the file (fixed words, no path: any signed-in user sees them).
    static func chainAlert(_ v: ChainStatus.Verdict) -> String {
        var parts: [String] = []
        if let at = v.brokenAt {
            parts.append("The log's hash chain does not verify at seq \(at): \(v.problem ?? ""). Events from there on cannot be trusted; run jobledger verify on the log.")
        }
        if !v.removedRules.isEmpty {
            parts.append("The log's integrity rules were removed behind its back: \(v.removedRules.joined(separator: ", ")). "
                         + "The database no longer refuses changes they refused (only the hash chain shows edits to events); run jobledger verify on the log, and restore it from a backup or an export.")
        }
        return parts.joined(separator: " ")
    }

    /// The templates, loaded once.
    static func templates() async throws -> MustacheLibrary {
        if let l = TemplateCache.shared.library.withLock({ $0 }) { return l }
        let l = try await MustacheLibrary(directory: ServerResources.folder + "/templates")
        TemplateCache.shared.library.withLock { $0 = l }
        return l
    }

    func jobsPage(_ request: Request, caller: Principal) throws -> (String, [String: Any]) {
        // The filter form sends an empty field for "all".
        let stateFilter = try Self.stateFilter(request, emptyIsAll: true)
        let kind = try Self.kindFilter(request, emptyIsAll: true)
        let cursor = try Self.listCursor(try Self.queryValue("cursor", in: request), emptyIsFirst: true)
        let page: JobListPage
        do { page = try jobListPage(state: stateFilter, kind: kind, owner: caller.isAdmin ? nil : caller.subject, before: cursor, limit: 50) } catch {
            throw Self.storage(error)
        }
        guard page.cursorListed else { throw Self.unknownCursor }
        return ("jobs", [
            "total": page.counts.values.reduce(0, +),
            // Counted under the kind filter, so their links keep it ("queued 0" under a kind
            // listed every queued job), encoded as `listQuery` does.
            "allLink": Self.filterQuery(state: nil, kind: kind),
            "counts": JobStatus.allCases.map { s in
                ["state": s.rawValue, "count": page.counts[s] ?? 0, "link": Self.filterQuery(state: s, kind: kind)] as [String: Any]
            },
            "filtered": stateFilter != nil || kind != nil,
            "states": JobStatus.allCases.map { ["name": $0.rawValue, "selected": $0 == stateFilter] as [String: Any] },
            "kind": kind ?? "", "stateFilter": stateFilter?.rawValue ?? "",
            // The list follows GET /api/live, which reads the in-process hub; with broadcasts
            // going to AnyCable it polls the list instead.
            "live": hub == nil ? "poll" : "sse",
            "jobs": page.jobs.map(\.state).map { s in
                ["id": s.id.rawValue, "short": String(s.id.rawValue.suffix(12)), "kind": s.kind, "state": s.status.rawValue,
                 "version": s.version, "percent": Int((s.progress * 100).rounded()), "message": s.progressMessage ?? "",
                 "created": s.createdAt.iso8601] as [String: Any]
            },
            // The next page's query, encoded here: a kind such as "r&d c++" in the link as typed
            // split into other parameters (the template only escapes HTML).
            "next": page.hasMore ? Self.listQuery(cursor: page.jobs.last!.state.id.rawValue, state: stateFilter, kind: kind) : false,
        ])
    }

    /// `cursor=…&state=…&kind=…`, each value percent-encoded (RFC 3986 unreserved characters kept).
    static func listQuery(cursor: String, state: JobStatus?, kind: String?) -> String {
        "cursor=\(queryEncoded(cursor))&" + filterQuery(state: state, kind: kind)
    }

    /// `state=…&kind=…` of the list's filters, encoded (an empty value is "any").
    static func filterQuery(state: JobStatus?, kind: String?) -> String {
        "state=\(queryEncoded(state?.rawValue ?? ""))&kind=\(queryEncoded(kind ?? ""))"
    }

    static func queryEncoded(_ value: String) -> String {
        let keep = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return value.addingPercentEncoding(withAllowedCharacters: keep) ?? ""
    }

    func jobPage(_ s: JobState, caller: Principal) throws -> (String, [String: Any]) {
        ("job", [
            // What the user asked for, so a job can be told from another (a design's prompt).
            "prompt": s.input["prompt"]?.stringValue ?? "",
            "live": hub == nil ? "poll" : "sse",
            "id": s.id.rawValue, "kind": s.kind, "owner": s.owner ?? "(not submitted through the API)", "state": s.status.rawValue,
            "attempt": s.attempt, "percent": Int((s.progress * 100).rounded()), "message": s.progressMessage ?? "",
            // An earlier attempt's error is no word on a job that completed or was canceled.
            "error": s.status == .completed || s.status == .canceled ? "" : s.lastError.map { "\($0.code): \($0.message)" } ?? "",
            "version": s.version, "created": s.createdAt.iso8601,
            "terminal": s.status.isTerminal, "failed": s.status == .failed,
        ])
    }
}

/// The loaded templates, shared by every request.
final class TemplateCache: Sendable {
    static let shared = TemplateCache()
    let library = Mutex<MustacheLibrary?>(nil)
}
