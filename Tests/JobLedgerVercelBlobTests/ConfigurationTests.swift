import Foundation
import JobLedger
@testable import JobLedgerVercelBlob
import Testing

@Suite struct ConfigurationTests {
    /// The official SDKs' test token: the store id is the fourth `_` field.
    @Test func theStoreIDIsTakenFromTheTokenAsTheSDKsDo() throws {
        let t = try VercelBlobToken("vercel_blob_rw_12345fakeStoreId_30FakeRandomCharacters12345678")
        #expect(t.storeID == "12345fakeStoreId")
        // A secret with underscores: the store id is still the fourth field.
        #expect(try VercelBlobToken("vercel_blob_rw_abc123_sec_ret_").storeID == "abc123")
    }

    @Test func theDefaultsAreTheCurrentSDKs() throws {
        let c = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": testToken])
        #expect(c.apiURL.absoluteString == "https://vercel.com/api/blob")
        #expect(c.apiVersion == 12)
        #expect(c.access == .public)
        #expect(c.cacheControlMaxAge == 2_592_000)
        #expect(c.storeID == testStoreID)
        #expect(c.partSize == 8 * 1024 * 1024 && c.multipartThreshold == 16 * 1024 * 1024)
    }

    @Test func theAPIURLAndVersionCanBeOverridden() throws {
        let c = try VercelBlobConfiguration(environment: [
            "BLOB_READ_WRITE_TOKEN": testToken, "VERCEL_BLOB_API_URL": "http://127.0.0.1:9999/api/blob/",
            "VERCEL_BLOB_API_VERSION_OVERRIDE": "11", "JOBLEDGER_VERCEL_BLOB_ACCESS": "private",
        ])
        #expect(c.apiURL.absoluteString == "http://127.0.0.1:9999/api/blob")
        #expect(c.apiVersion == 11)
        #expect(c.access == .private)
        #expect(c.publicURL(for: "a.png") == "https://\(testStoreID).private.blob.vercel-storage.com/a.png")
        // The Next.js name is read when the server one is unset; the Python SDK's token name too.
        let n = try VercelBlobConfiguration(environment: ["VERCEL_BLOB_READ_WRITE_TOKEN": testToken,
                                                          "NEXT_PUBLIC_VERCEL_BLOB_API_URL": "https://blob.example.test/api/blob"])
        #expect(n.apiURL.absoluteString == "https://blob.example.test/api/blob")
    }

    @Test func aMissingTokenNamesTheVariable() {
        #expect(throws: VercelBlobConfigurationError.self) { try VercelBlobConfiguration(environment: [:]) }
        do {
            _ = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": "  "])
            Issue.record("an empty token was accepted")
        } catch {
            #expect("\(error)".contains("BLOB_READ_WRITE_TOKEN is not set"))
        }
    }

    @Test(arguments: ["not-a-token-at-all-SECRETVALUE", "vercel_blob_rw_SECRETVALUE", "vercel_blob_rw__SECRETVALUE",
                      "vercel_blob_rw_st!re_SECRETVALUE", "vercel_blob_client_store_SECRETVALUE", "vercel_blob_rw_store_SECRET VALUE"])
    func aMalformedTokenIsRefusedWithoutShowingIt(_ token: String) {
        do {
            _ = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": token])
            Issue.record("accepted \(token.count) characters")
        } catch {
            let text = "\(error)"
            #expect(text.contains("BLOB_READ_WRITE_TOKEN"))
            #expect(!text.contains("SECRET"), "\(text)")
        }
    }

    @Test(arguments: [("VERCEL_BLOB_API_URL", "ftp://x/api"), ("VERCEL_BLOB_API_URL", "https://user:pw@h/api?token=SECRET"),
                      ("VERCEL_BLOB_API_VERSION_OVERRIDE", "twelve"), ("JOBLEDGER_VERCEL_BLOB_ACCESS", "world"),
                      ("JOBLEDGER_VERCEL_BLOB_CACHE_MAX_AGE", "59"), ("JOBLEDGER_VERCEL_BLOB_PART_BYTES", "1024"),
                      ("JOBLEDGER_VERCEL_BLOB_PART_CONCURRENCY", "0"), ("JOBLEDGER_VERCEL_BLOB_RETRIES", "99"),
                      ("JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS", "0"), ("JOBLEDGER_VERCEL_BLOB_TIMEOUT_MS", "999")])
    func aMalformedSettingNamesItsVariable(_ variable: String, _ value: String) {
        do {
            _ = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": testToken, variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect("\(error)".contains(variable))
            #expect(!"\(error)".contains("SECRET") && !"\(error)".contains("pw@"))
        }
    }

    @Test func printingOrDumpingNeverShowsTheToken() throws {
        let c = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": testToken,
                                                          "VERCEL_BLOB_API_URL": "https://user:pw@blob.example.test/api/blob"])
        let store = VercelBlobStore(configuration: c)
        var dumped = ""
        dump(c, to: &dumped)
        dump(store, to: &dumped)
        for text in ["\(c)", String(reflecting: c), "\(store)", String(reflecting: store), dumped, "\(c.token)"] {
            #expect(!text.contains("Secret0123456789"), "\(text)")
            #expect(!text.contains("pw@"), "\(text)")
        }
        #expect("\(store)".contains(testStoreID))
    }

    /// The URL is known without the network: store id in lower case, the pathname encoded as the
    /// SDKs encode it (everything but unreserved characters and `/`).
    @Test func thePublicURLIsPredictable() throws {
        let c = VercelBlobConfiguration(token: try VercelBlobToken("vercel_blob_rw_MiXeDStore1_s3cret"))
        #expect(c.publicURL(for: "jobs/019a-b:c/final-0123456789abcdef.png")
                == "https://mixedstore1.public.blob.vercel-storage.com/jobs/019a-b%3Ac/final-0123456789abcdef.png")
        #expect(c.publicURL(for: "/a b?#%.txt") == "https://mixedstore1.public.blob.vercel-storage.com/a%20b%3F%23%25.txt")
    }

    /// Error bodies map by code first (and codes derived from older messages), then by status.
    @Test func errorsMapAsTheSDKsMapThem() {
        func kind(_ status: Int, _ body: String, headers: [String: String] = [:]) -> VercelBlobError? {
            VercelBlobError.classify(VercelBlobHTTPResponse(status: status, headers: headers, body: Data(body.utf8)),
                                     operation: "put x.png", storeID: testStoreID, secret: testToken)
        }
        #expect(kind(200, "{}") == nil)
        #expect(kind(403, #"{"error":{"code":"forbidden","message":"Invalid token"}}"#)?.kind == .forbidden)
        #expect(kind(500, "Invalid token")?.kind == .serverError)
        #expect(kind(401, "")?.kind == .forbidden)
        #expect(kind(403, #"{"error":{"code":"store_suspended"}}"#)?.kind == .storeSuspended)
        // The library names its own way to re-drive, not a command of the CLI.
        let suspended = kind(403, #"{"error":{"code":"store_suspended"}}"#)?.description ?? ""
        #expect(suspended.contains("Ledger.redrive(.blob)") && !suspended.contains("jobledger "), "\(suspended)")
        #expect(kind(403, #"{"error":{"code":"store_not_found"}}"#)?.kind == .storeNotFound)
        #expect(kind(400, #"{"error":{"code":"bad_request","message":"contentType image/x is not allowed"}}"#)?.kind == .contentTypeNotAllowed)
        #expect(kind(400, #"{"code":"bad_request","message":"the file length cannot be greater than 5"}"#)?.kind == .fileTooLarge)
        #expect(kind(502, #"{"error":{"code":"service_unavailable"}}"#)?.kind == .serviceUnavailable)
        #expect(kind(500, #"{"error":{"code":"unknown_error"}}"#)?.isRetryable == true)
        #expect(kind(404, "<html>")?.kind == .notFound)
        let limited = kind(429, #"{"error":{"code":"rate_limited"}}"#, headers: ["Retry-After": "7"])
        #expect(limited?.kind == .rateLimited && limited?.retryAfterMilliseconds == 7000 && limited?.isRetryable == true)
        #expect(kind(307, "", headers: ["Location": "https://elsewhere.example/x?token=abc"])?.kind == .redirect)
        #expect(!(kind(307, "", headers: ["Location": "https://elsewhere.example/x?token=abc"])?.description.contains("token=abc") ?? true))
        #expect(kind(412, "")?.kind == .preconditionFailed)
        // A message echoing the token is scrubbed.
        let echoed = kind(400, #"{"error":{"code":"bad_request","message":"bad token \#(testToken) here"}}"#)
        #expect(echoed.map { !$0.description.contains(testToken) && !$0.detail.contains("Secret0123") } == true)
    }

    /// A space or a line break inside the API URL was percent-encoded by Foundation and taken:
    /// uploads went to another path and died, where a bad value is refused at start.
    @Test(arguments: ["http://127.0.0.1:9/api/blob x", "http://127.0.0.1:9/api/blob\r\nX: y"])
    func anAPIURLWithWhiteSpaceInsideIsRefused(_ url: String) {
        do {
            _ = try VercelBlobConfiguration(environment: ["BLOB_READ_WRITE_TOKEN": "vercel_blob_rw_12345fakeStoreId_30FakeRandomCharacters12345678", "VERCEL_BLOB_API_URL": url])
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("VERCEL_BLOB_API_URL") && "\(error)".contains("white space"), "\(error)")
        }
    }
}
