import Foundation
import JobLedger

/// Why a Vercel Blob call failed: the API's `{"error": {"code", "message"}}` mapped to a kind (as
/// the official SDKs map it: by code first, by HTTP status when there is no code), or the
/// network. Its `description` says what happened and what to fix; it never holds the token (a
/// message the server sent is scrubbed of it, in case it was echoed).
public struct VercelBlobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, by the API's error code (or HTTP status).
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// `not_found` / `blob_not_found` (or a 404 without a code).
        case notFound
        /// `forbidden` (or 401/403): the token is wrong, rotated, or for another store.
        case forbidden
        /// `store_suspended`.
        case storeSuspended
        /// `store_not_found`.
        case storeNotFound
        /// `file_too_large`.
        case fileTooLarge
        /// `content_type_not_allowed`.
        case contentTypeNotAllowed
        /// `client_token_pathname_mismatch`.
        case pathnameMismatch
        /// `client_token_expired`.
        case tokenExpired
        /// `precondition_failed` (or 412): an ETag did not match.
        case preconditionFailed
        /// `bad_request` (or a 400 without a code): the message says what.
        case badRequest
        /// `rate_limited` (or 429), with the server's `retry-after`.
        case rateLimited
        /// `service_unavailable` (or 503).
        case serviceUnavailable
        /// `internal_server_error`, `unknown_error`, or a 5xx without a usable body.
        case serverError
        /// A 3xx: never followed, the token must not go anywhere else.
        case redirect
        /// Any other status or code.
        case unexpected
        /// A 2xx whose body is not what the API answers.
        case invalidResponse
        /// No response: the connection failed or broke.
        case network
        /// The server answered, but the connection closed before the whole answer arrived.
        case cutOff
        /// No response within the request timeout.
        case timedOut
        /// The call was cancelled.
        case cancelled
    }

    /// What went wrong; it decides `isRetryable` and the message.
    public var kind: Kind
    /// What was being done, e.g. `put jobs/…/final-….png` (no secrets).
    public var operation: String
    /// The HTTP status, when a response arrived.
    public var status: Int?
    /// The API's error code, when it sent one.
    public var code: String?
    /// What the server (or the network layer) said, scrubbed of the token, at most 300 characters.
    public var detail: String
    /// When to try again, from a 429's (or 503's) `retry-after`.
    public var retryAfterMilliseconds: Int64?
    /// The store the call went to (named in messages; a store id is not a secret: it is in every
    /// public URL).
    public var storeID: String
    /// An earlier try of this call failed without an answer, so it may have been carried out.
    public var afterUncertainTry = false

    /// An error of `kind` for `operation` in the store `storeID`; `afterUncertainTry` starts false.
    public init(kind: Kind, operation: String, status: Int? = nil, code: String? = nil, detail: String = "",
                retryAfterMilliseconds: Int64? = nil, storeID: String) {
        self.kind = kind
        self.operation = operation
        self.status = status
        self.code = code
        self.detail = detail
        self.retryAfterMilliseconds = retryAfterMilliseconds
        self.storeID = storeID
    }

    /// Worth another try: what the official JS SDK retries (`service_unavailable`,
    /// `internal_server_error`, `unknown_error`, bodies that are not JSON, network errors), plus
    /// timeouts and rate limiting (which the JS SDK does not retry), after its `retry-after`.
    public var isRetryable: Bool {
        switch kind {
        case .rateLimited, .serviceUnavailable, .serverError, .network, .cutOff, .timedOut, .invalidResponse: true
        case .notFound, .forbidden, .storeSuspended, .storeNotFound, .fileTooLarge, .contentTypeNotAllowed, .pathnameMismatch,
             .tokenExpired, .preconditionFailed, .badRequest, .redirect, .unexpected, .cancelled: false
        }
    }

    /// As the projection runner takes it: `unavailable` (retried with backoff, `retry-after`
    /// honoured) or `rejected` (a dead letter, with this message saying what to fix).
    public var sinkError: SinkError {
        isRetryable ? .unavailable(description, retryAfterMilliseconds: retryAfterMilliseconds) : .rejected(description)
    }

    private var statusText: String {
        switch (status, code) {
        case (let s?, let c?): "\(s) \(c)"
        case (let s?, nil): "\(s)"
        case (nil, let c?): c
        case (nil, nil): "no status"
        }
    }

    private var said: String { detail.isEmpty ? "" : ": \(detail)" }

    /// What failed, in which store, and what to do about it; never the token.
    public var description: String {
        let store = "Vercel Blob store \(storeID)"
        switch kind {
        case .forbidden:
            return "\(store) refused the token (\(statusText)) for \(operation)\(said). Check that BLOB_READ_WRITE_TOKEN is the current read-write token of this store (the Vercel dashboard shows it on the store's page; `vercel env pull` writes it to .env.local): it may have been rotated or belong to another store; and that JOBLEDGER_VERCEL_BLOB_ACCESS matches the store's access."
        case .tokenExpired:
            return "\(store) says the token has expired (\(statusText)) for \(operation). Set BLOB_READ_WRITE_TOKEN to the store's current read-write token."
        case .storeSuspended:
            return "\(store) is suspended (\(statusText)) — \(operation) was refused. Resolve it in the Vercel dashboard (usage limits or billing of the team), then re-drive the blob projection's dead uploads (Ledger.redrive(.blob))."
        case .storeNotFound:
            return "\(store) does not exist (\(statusText)) — \(operation) was refused. BLOB_READ_WRITE_TOKEN belongs to a deleted store: connect a store to the project and set BLOB_READ_WRITE_TOKEN to its token."
        case .fileTooLarge:
            return "\(store) refused \(operation): the file is too large (\(statusText))\(said). Lower JOBLEDGER_VERCEL_BLOB_MULTIPART_MIN_BYTES so large artefacts go up in parts, or make the artefact smaller."
        case .contentTypeNotAllowed:
            return "\(store) refused the content type of \(operation) (\(statusText))\(said). Stage the artefact with a content type the store allows."
        case .pathnameMismatch:
            return "\(store) refused \(operation): the pathname does not match the token (\(statusText))\(said). Use a read-write token (BLOB_READ_WRITE_TOKEN), not a client token."
        case .preconditionFailed:
            return "\(store) refused \(operation): the blob changed since it was read (\(statusText), ETag mismatch)."
        case .badRequest:
            var hint = ""
            if detail.contains("already exists") {
                hint = " JobLedger sends x-allow-overwrite: 1 with every upload; a proxy in front of VERCEL_BLOB_API_URL, or an API version without overwrites (VERCEL_BLOB_API_VERSION_OVERRIDE), may have dropped it."
            }
            return "\(store) refused \(operation) (\(statusText))\(said).\(hint)"
        case .notFound:
            return "\(store): not found (\(statusText)) for \(operation)\(said). If this was an upload, check that VERCEL_BLOB_API_URL points at the Blob API (default https://vercel.com/api/blob)."
        case .rateLimited:
            return "\(store) is rate limiting requests (\(statusText)) — \(operation) is worth trying again\(retryAfterMilliseconds.map { " after \($0) ms" } ?? "")."
        case .serviceUnavailable:
            return "\(store) is unavailable (\(statusText)) — \(operation) is worth trying again\(said)."
        case .serverError:
            return "\(store) failed (\(statusText)) for \(operation)\(said); worth trying again."
        case .redirect:
            return "Vercel Blob API answered \(statusText) for \(operation), a redirect\(said). JobLedger does not follow redirects (the token must not be sent anywhere else): set VERCEL_BLOB_API_URL to the final API URL (default https://vercel.com/api/blob)."
        case .unexpected:
            return "\(store) refused \(operation) with \(statusText)\(said). Check that VERCEL_BLOB_API_URL points at the Blob API (default https://vercel.com/api/blob) and VERCEL_BLOB_API_VERSION_OVERRIDE is unset."
        case .invalidResponse:
            return "Vercel Blob answered \(operation) with a body it does not send (\(statusText))\(said); worth trying again. Check that VERCEL_BLOB_API_URL points at the Blob API."
        case .network:
            return "Vercel Blob could not be reached for \(operation)\(said); worth trying again."
        case .cutOff:
            return "Vercel Blob answered \(operation), but the answer was cut off (the connection closed before all of it arrived); worth trying again (the request may have been carried out)."
        case .timedOut:
            return "Vercel Blob did not answer \(operation) in time\(said); worth trying again (JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS sets the timeout)."
        case .cancelled:
            return "\(operation) was cancelled."
        }
    }

    // MARK: - Mapping responses

    /// What a response means: nil for a 2xx, else the error, mapped as the official SDKs map it
    /// (code first — also derived from the message for older servers — then the HTTP status).
    /// `secret` is removed from any text the server sent.
    static func classify(_ response: VercelBlobHTTPResponse, operation: String, storeID: String, secret: String,
                         now: Date = Date()) -> VercelBlobError? {
        let status = response.status
        if (200..<300).contains(status) { return nil }
        var code: String?
        var message: String?
        if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            let error = (object["error"] as? [String: Any]) ?? object
            code = error["code"] as? String
            message = error["message"] as? String
        }
        if let m = message {
            if m.contains("contentType") && m.contains("is not allowed") { code = "content_type_not_allowed" }
            if m.contains("\"pathname\"") && m.contains("does not match the token payload") { code = "client_token_pathname_mismatch" }
            if m == "Token expired" { code = "client_token_expired" }
            if m.contains("the file length cannot be greater than") { code = "file_too_large" }
        }
        let retryAfter = response.header("retry-after").flatMap { VercelBlobRetryAfter.milliseconds($0, now: now) }
        let kind: Kind
        // A 3xx is a redirect whatever its body says (a body with an error code was classified
        // by the code, as a server error, and retried: the body of a redirect not followed is
        // read now, as it is with every answer).
        if (300..<400).contains(status) {
            kind = .redirect
        } else {
            switch code {
            case "not_found", "blob_not_found": kind = .notFound
            case "forbidden": kind = .forbidden
            case "store_suspended": kind = .storeSuspended
            case "store_not_found": kind = .storeNotFound
            case "file_too_large": kind = .fileTooLarge
            case "content_type_not_allowed": kind = .contentTypeNotAllowed
            case "client_token_pathname_mismatch": kind = .pathnameMismatch
            case "client_token_expired": kind = .tokenExpired
            case "precondition_failed": kind = .preconditionFailed
            case "bad_request", "client_token_not_allowed": kind = .badRequest
            case "rate_limited": kind = .rateLimited
            case "service_unavailable": kind = .serviceUnavailable
            case "internal_server_error", "unknown_error": kind = .serverError
            default:
                switch status {
                case 404: kind = .notFound
                case 401, 403: kind = .forbidden
                case 412: kind = .preconditionFailed
                case 429: kind = .rateLimited
                case 503: kind = .serviceUnavailable
                case 408: kind = .timedOut
                case 400: kind = .badRequest
                case 500..<600: kind = .serverError
                default: kind = .unexpected
                }
            }
        }
        var detail = message ?? ""
        if kind == .redirect {
            detail = "to " + (response.header("location").map { Self.hostOnly($0) } ?? "no Location")
        } else if message == nil, !response.body.isEmpty, code == nil {
            detail = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // The code is the server's text too: scrubbed, and kept short.
        code = code.map { String(scrub($0, secret: secret).prefix(60)) }
        return VercelBlobError(kind: kind, operation: operation, status: status, code: code, detail: scrub(detail, secret: secret),
                               retryAfterMilliseconds: retryAfter, storeID: storeID)
    }

    /// What follows `vercel_blob_rw_<store id>_` in a read-write token; the whole text for any
    /// other shape.
    static func secretPart(of token: String) -> String {
        guard token.hasPrefix(VercelBlobToken.readWritePrefix) else { return token }
        let rest = token.dropFirst(VercelBlobToken.readWritePrefix.count)
        guard let sep = rest.firstIndex(of: "_") else { return token }
        return String(rest[rest.index(after: sep)...])
    }

    /// Where a `Location` points, without path, query or user info (they may carry secrets).
    static func hostOnly(_ location: String) -> String {
        guard let c = URLComponents(string: location), let host = c.host else { return "a relative location" }
        return "\(c.scheme ?? "?")://\(host)\(c.port.map { ":\($0)" } ?? "")/…"
    }

    /// `text` without the token `secret` — whole, or any piece of eight characters or more of its
    /// secret part (what follows `vercel_blob_rw_<store id>_`), as a server may quote only that —
    /// on one line, at most 300 characters. The store id alone is not hidden: it is in every
    /// public URL.
    static func scrub(_ text: String, secret: String) -> String {
        var t = text
        if !secret.isEmpty { t = t.replacingOccurrences(of: secret, with: "<redacted>") }
        t = redactingSecret(secretPart(of: secret), in: t)
        // A token-looking word is hidden even if it is not ours.
        t = t.split(separator: " ", omittingEmptySubsequences: false).map { w in
            w.contains("vercel_blob_rw_") || w.contains("vercel_blob_client_") ? "<redacted>" : String(w)
        }.joined(separator: " ")
        t = t.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        return t.count > 300 ? String(t.prefix(300)) + "…" : t
    }
}

/// Parses an HTTP `retry-after`: delay-seconds or an HTTP date.
public enum VercelBlobRetryAfter {
    /// Milliseconds to wait; a date in the past gives 0; nil when the value is neither form.
    public static func milliseconds(_ value: String, now: Date) -> Int64? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if !v.isEmpty, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let s = Int64(v) else { return Int64.max / 2 }
            return s > Int64.max / 2000 ? Int64.max / 2 : s * 1000
        }
        let single = v.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let date = f.date(from: single) {
                return max(0, Int64((date.timeIntervalSince(now) * 1000).rounded(.up)))
            }
        }
        return nil
    }
}
