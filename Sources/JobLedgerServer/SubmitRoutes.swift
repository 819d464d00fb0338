import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import JobLedger
import JobLedgerAnyCable
import JobLedgerEngine
import JobLedgerSQLite
import Logging
import NIOCore

extension JobLedgerServer {
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    /// `application/json` or a `+json` type, with any parameters (`; charset=utf-8`). Compared
    /// as ASCII without Foundation (its trimming and lowercasing through NSString were 2 % of a
    /// submit's CPU).
    /// The detail of the 415 for a `Content-Type` that is not JSON: the type, quoted, or for
    /// an empty one (`Content-Type:` and nothing) words that say so, not a gap
    /// (`Content-Type  is not JSON`).
    static func notJSON(_ contentType: String) -> String {
        let shown = Problem.quoted(contentType)
        let what = shown.allSatisfy { $0 == " " || $0 == "\t" } ? "an empty Content-Type" : "Content-Type \(shown)"
        return "\(what) is not JSON: send the body as application/json"
    }

    static func isJSON(_ contentType: String) -> Bool {
        if contentType == "application/json" { return true }  // what nearly every client sends
        let media = trimmingSpaces(contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]).utf8
        let lower = { (b: UInt8) -> UInt8 in b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        func hasPrefix(_ p: String) -> Bool { media.count >= p.utf8.count && zip(media, p.utf8).allSatisfy { lower($0) == $1 } }
        func hasSuffix(_ p: String) -> Bool { media.count >= p.utf8.count && zip(media.suffix(p.utf8.count), p.utf8).allSatisfy { lower($0) == $1 } }
        if media.count == 16 { return hasPrefix("application/json") }
        return media.count > 17 && hasPrefix("application/") && hasSuffix("+json")
    }

    /// `POST /api/jobs/{kind}` and its alias `POST /api/design`: authenticate, limit, validate,
    /// queue, 202.
    func addSubmitRoutes(to router: Router<BasicRequestContext>) {
        // The trie names the segment after `/api/jobs/` once for every method: here it is the kind.
        router.post("api/jobs/:id") { request, context in
            try await submit(request, kind: context.parameters.get("id") ?? "", context: context)
        }
        router.post("api/design") { request, context in
            try await submit(request, kind: "design", context: context)
        }
    }

    /// One submit. Order: who (401), which kind (404), how often (429), what (400/413/415/422:
    /// the Idempotency-Key, the content type and encoding, the body),
    /// then the log. Nothing is written unless every check passed.
    func submit(_ request: Request, kind: String, context: BasicRequestContext) async throws -> Response {
        let caller = try await caller(request)
        guard let schema = kinds[kind] else { throw Problem.notFound("no job kind '\(Problem.quoted(kind))' is served here (known: \(kinds.keys.sorted().joined(separator: ", ")))") }
        let headers = try await limiter.check(caller.subject)
        // Counted, so answered with the limit's headers whatever comes next (a refused body
        // counts like an accepted one, and its client needs to know what it has left).
        do {
            return try await submit(request, kind: kind, schema: schema, caller: caller, headers: headers, logger: context.logger)
        } catch var p as Problem {
            for field in headers where p.headers[field.name] == nil { p.headers.append(field) }
            throw p
        }
    }

    /// The part of a submit after the limit counted it: the body, the log, the 202.
    private func submit(_ request: Request, kind: String, schema: KindSchema?, caller: Principal,
                        headers: HTTPFields, logger: Logger) async throws -> Response {
        var headers = headers
        let key = try Self.idempotencyKey(request)
        // A body labelled as anything but JSON is refused, not read as JSON regardless: a form
        // or text post is what a cross-site HTML form sends. No label at all is read as JSON.
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            throw Problem(.unsupportedMediaType, "unsupported-media-type", Self.notJSON(type), field: "Content-Type")
        }
        // The body is read as it comes: a compressed one would be refused as "not UTF-8", and
        // one only labelled so would be queued as if the label were not there.
        if let coding = request.headers[.contentEncoding], coding.lowercased() != "identity" {
            throw Problem(.unsupportedMediaType, "unsupported-encoding",
                          "Content-Encoding \(coding.prefix(40)) is not supported: send the body uncompressed", field: "Content-Encoding")
        }
        try Self.checkTransferCoding(request)
        // A body declared too large is refused before any of it is read (the connection then
        // closes: `ConnectionPersistence`), not after 64 KiB of it came.
        if let length = request.headers[.contentLength], SubmitRequest.isOverLimit(contentLength: length) { throw Self.tooLarge }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: SubmitRequest.maxBodyBytes) } catch { throw Self.bodyProblem(error) }
        // JSON text is UTF-8: bytes that are not are refused, not repaired into U+FFFD.
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw Problem(.badRequest, "malformed-json", "the body is not JSON: it is not valid UTF-8", field: "body")
        }
        let body = try SubmitRequest(parsing: text, schema: schema)
        let input = JSONValue.object(body.input)
        let id: JobID
        do {
            id = try await engine.submit(kind: kind, input: input, idempotencyKey: key.map { Self.scopedKey($0, owner: caller.subject) },
                                         runAt: body.runAt, maxAttempts: body.maxAttempts, priority: body.priority, owner: caller.subject)
        } catch {
            throw Self.refusal(error)
        }
        // Ready again only after a write: a submit without a key always appends; one with a key
        // may only have found its first job, which writes nothing (and succeeds on a full disk).
        // The same key with another body is refused by the engine (`IdempotencyKeyReused`, a 422
        // from `refusal`), which compares the request as the log records it.
        if key == nil { storageWatch.succeeded(logger: logger) }
        headers[.location] = "/api/jobs/\(id)"
        var o: [String: JSONValue] = ["id": .string(id.rawValue), "stream": .string(streams.stream(for: id)), "urls": Self.urls(id)]
        if let anycable, anycable.streamsSecret != nil || anycable.jwtSecret != nil {
            o["anycable"] = try await anycableGrant(anycable, job: id, caller: caller)
        }
        return JSONResponse.make(.object(o), status: .accepted, headers: headers)
    }

    static var tooLarge: Problem { Problem(.contentTooLarge, "too-large", "the body is over \(SubmitRequest.maxBodyBytes) bytes", field: "body") }

    /// Why a body could not be collected: over the limit (413), or not readable as sent (400
    /// `malformed-body`): a chunk size that is not hex, chunks framed with bare LF, a trailer
    /// with `Content-Length`, a connection half-closed before `Content-Length` bytes came. Every
    /// such error was answered "over 65536 bytes", which sent the client looking for a size
    /// problem it did not have.
    static func bodyProblem(_ error: any Error) -> Problem {
        if error is NIOTooManyBytesError { return tooLarge }
        return Problem(.badRequest, "malformed-body",
                       "the body could not be read as sent (its framing is broken: a chunk that does not parse, or fewer bytes than Content-Length before the connection ended)",
                       field: "body")
    }

    /// Refuses (415 `unsupported-transfer-coding`) a `Transfer-Encoding` other than `chunked`:
    /// `gzip, chunked` was read as chunked, the gzip ignored and the job queued. RFC 9112 § 6.1
    /// suggests 501; a 415 says, as for `Content-Encoding`, that the client is to change its
    /// request, and a 5xx is counted as the server's own failure (alerts, the contract test).
    static func checkTransferCoding(_ request: Request) throws(Problem) {
        for value in request.headers[values: .transferEncoding] {
            for coding in value.split(separator: ",", omittingEmptySubsequences: false) {
                let c = trimmingSpaces(coding)
                guard c.count == 7, c.lowercased() == "chunked" else {
                    throw Problem(.unsupportedMediaType, "unsupported-transfer-coding",
                                  "Transfer-Encoding \(Problem.quoted(value)) is not supported: only chunked is (send the body uncompressed)",
                                  field: "Transfer-Encoding")
                }
            }
        }
    }

    /// The `Idempotency-Key` header: 1…255 visible ASCII characters when present, and present
    /// once (two of them read as one value joined with ", ", which was refused as not visible
    /// ASCII, naming neither the second header nor what to do).
    static func idempotencyKey(_ request: Request) throws(Problem) -> String? {
        let sent = request.headers[values: idempotencyHeader]
        guard sent.count <= 1 else {
            throw Problem(.badRequest, "invalid-header", "Idempotency-Key was sent \(sent.count) times; send it once, with one key", field: "Idempotency-Key")
        }
        guard let k = sent.first else { return nil }
        guard !k.isEmpty, k.utf8.count <= 255, k.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw Problem(.badRequest, "invalid-header", "Idempotency-Key must be 1…255 visible ASCII characters", field: "Idempotency-Key")
        }
        return k
    }

    /// The key stored in the log: per owner (one user's key never finds another's job), hashed
    /// to a fixed length.
    static func scopedKey(_ key: String, owner: String) -> String {
        let digest = SHA256.hash(data: Data((owner + "\n" + key).utf8))
        return "api:" + digest.map { String(format: "%02x", $0) }.joined()
    }

    /// What the engine refused, as a problem: the log's rules (a value out of range) are 422,
    /// the log's write lock held past the busy timeout and a storage fault 503 (the request may
    /// be sent again as it is), anything else about the log itself 500. (A busy log was a 422,
    /// "the log refused the job": a client does not send a refused request again.)
    static func refusal(_ error: any Error) -> Problem {
        if let reused = error as? IdempotencyKeyReused {
            return Problem(.unprocessableContent, "idempotency-key-reused",
                           "this Idempotency-Key was used for another request body (job \(reused.job))", field: "Idempotency-Key")
        }
        if let e = error as? LedgerError {
            switch e {
            case .payloadTooLarge(_, let size, let limit):
                // The body passed the route's own limit, but the `queued` event (the input with
                // the kind, owner and the other fields) is over the log's.
                return Problem(.contentTooLarge, "too-large",
                               "the job's queued event would be \(size) bytes (its input with the fields the server records); the log takes at most \(limit)",
                               field: "input")
            case .rejected, .invalidPayload, .invalidJobID, .concurrencyConflict:
                return Problem(.unprocessableContent, "refused", "the log refused the job: \(e)")
            case .busy:
                var p = Problem.unavailable("the log is busy (another writer holds its lock); try again shortly", retryAfterSeconds: 1)
                p.cause = "\(e)"
                return p
            default:
                return storage(e)
            }
        }
        return storage(error)
    }

    /// The signed stream name and a short-lived AnyCable client JWT for the caller.
    func anycableGrant(_ c: AnyCableConfiguration, job: JobID, caller: Principal) async throws -> JSONValue {
        var o: [String: JSONValue] = [:]
        if let signer = try? AnyCableStreamSigner(configuration: c, naming: streams) { o["signed_stream"] = .string(signer.signedStream(for: job)) }
        if let issuer = try? await AnyCableJWTIssuer(configuration: c, ttl: .seconds(300)),
           let token = try? await issuer.token(identifiers: ["user": .string(caller.subject)]) {
            o["token"] = .string(token)
        }
        if let url = c.publicURL { o["url"] = .string(url) }
        return .object(o)
    }
}
