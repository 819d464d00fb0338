import Foundation
import JobLedger
import JobLedgerVercelBlob
import Testing

/// `VercelBlobStore` against the stand-in over loopback HTTP: the wire format, idempotence,
/// multipart, listing, batching, and every failure it must retry or refuse.
@Suite(.serialized) struct StoreTests {
    let png = Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31) })

    @Test func putSendsTheSDKHeadersAndGetsThePredictedURL() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        let path = "jobs/019a0000-0000-7000-8000-000000000001/final-0123456789abcdef.png"
        let info = try await store.put(pathname: path, bytes: png, contentType: "image/png")
        #expect(info.url == "https://\(testStoreID).public.blob.vercel-storage.com/\(path)")
        #expect(info.url == store.publicURL(for: path))
        #expect(info.size == Int64(png.count) && info.contentType == "image/png")
        let held = try await standIn.blobs()
        #expect(held.map(\.url) == [info.url] && held.first?.sha256 == sha256Hex(png))
        #expect(held.first?.cacheControl == "public, max-age=2592000")
        let fetched = try await standIn.fetch(info.url)
        #expect(fetched.status == 200 && fetched.body == png)

        let h = try await standIn.stats().lastHeaders("put")
        #expect(h["x-api-version"] == "12")
        #expect(h["authorization"] == "<present>")
        #expect(h["x-vercel-blob-access"] == "public")
        #expect(h["x-content-type"] == "image/png")
        #expect(h["x-add-random-suffix"] == "0" && h["x-allow-overwrite"] == "1")
        #expect(h["x-cache-control-max-age"] == "2592000")
        #expect(h["x-vercel-blob-store-id"] == testStoreID)
        #expect(h["x-api-blob-request-attempt"] == "0")
        #expect(h["x-api-blob-request-id"]?.hasPrefix("\(testStoreID):") == true)
        #expect(h["content-length"] == "\(png.count)")
        let put = try #require(try await standIn.requests("put").first)
        #expect(put.pathname == path)
    }

    @Test func aRepeatedPutOverwritesAndYieldsTheSameURL() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        let a = try await store.put(pathname: "jobs/j/lowres-aaaa.png", bytes: png, contentType: "image/png")
        let b = try await store.put(pathname: "jobs/j/lowres-aaaa.png", bytes: png, contentType: "image/png")
        #expect(a.url == b.url)
        #expect(try await standIn.stats().writes == ["jobs/j/lowres-aaaa.png": 2])
    }

    /// One call's tries share a request id; the attempt header counts them.
    @Test func a503IsRetriedWithTheSameRequestIDAndACountedAttempt() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 503, "count": 2])
        let store = try testStore(standIn)
        _ = try await store.put(pathname: "a.png", bytes: png, contentType: "image/png")
        let tries = try await standIn.requests("put")
        #expect(tries.map(\.status) == ["503", "503", "200"])
        #expect(tries.map { $0.headers["x-api-blob-request-attempt"] } == ["0", "1", "2"])
        #expect(Set(tries.map { $0.headers["x-api-blob-request-id"] }).count == 1)
    }

    @Test func a429IsWaitedOutForItsRetryAfter() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "1", "count": 1])
        let store = try testStore(standIn)
        let start = ContinuousClock.now
        _ = try await store.put(pathname: "r.png", bytes: png, contentType: "image/png")
        #expect(ContinuousClock.now - start >= .milliseconds(990))
        #expect(try await standIn.requests("put").map(\.status) == ["429", "200"])
    }

    /// A retry-after longer than the in-call cap is handed to the projection runner.
    @Test func aLongRetryAfterIsHandedToTheRunner() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 429, "retry_after": "30", "count": 1])
        let store = try testStore(standIn)
        do {
            _ = try await store.put(pathname: "r.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .unavailable(let message, let after) = error else { Issue.record("\(error)"); return }
            #expect(after == 30_000)
            #expect(message.contains("rate limiting"))
        }
        #expect(try await standIn.stats().requests == 1)
    }

    @Test(arguments: ["plain500", "drop", "timeout", "lose"])
    func aFailedTryIsRetriedUntilTheBlobIsThere(_ fault: String) async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        switch fault {
        case "plain500": try await standIn.fault(["mode": "status", "status": 500, "plain": true, "count": 1])
        case "drop": try await standIn.fault(["mode": "drop", "count": 1])
        case "timeout": try await standIn.fault(["mode": "delay", "ms": 3000, "count": 1])
        default: try await standIn.fault(["mode": "lose_response", "count": 1])
        }
        let logs = LogCapture()
        let store = try testStore(standIn, timeout: .milliseconds(1500), logger: logs.logger)
        let big = Data(repeating: 7, count: 300_000)
        let info = try await store.put(pathname: "jobs/x/final-\(fault).png", bytes: big, contentType: "image/png")
        #expect(info.url == store.publicURL(for: "jobs/x/final-\(fault).png"))
        #expect(try await standIn.fetch(info.url).body == big)
        let stats = try await standIn.stats()
        #expect(stats.requests == 2, "\(stats.json)")
        if fault == "lose" {
            // The first PUT was carried out and its answer lost: the retry overwrote it.
            #expect(stats.writes == ["jobs/x/final-lose.png": 2] && stats.lostResponses == 1)
        }
        if fault == "drop" { #expect(stats.dropped == 1 && stats.writes == ["jobs/x/final-drop.png": 1]) }
        #expect(logs.lines.contains { $0.contains("tried again") })
        #expect(!logs.lines.contains { $0.contains(testToken) })
    }

    @Test func anOutageLongerThanTheRetriesIsUnavailableWithoutTheToken() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 503, "count": 10])
        let store = try testStore(standIn, retries: 2)
        do {
            _ = try await store.put(pathname: "o.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .unavailable(let message, _) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("unavailable") && message.contains("503") && !message.contains(testToken))
        }
        #expect(try await standIn.stats().requests == 3)
    }

    /// A bad token (the stand-in's 403 forbidden) or a 401 is rejected at once: not retried, and
    /// the message says what to fix without the token.
    @Test(arguments: ["wrong-token", "401"])
    func aBadTokenIsRejectedAndSaysWhatToFix(_ how: String) async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let wrong = "vercel_blob_rw_\(testStoreID)_NotTheRightSecret999"
        if how == "401" { try await standIn.fault(["mode": "status", "status": 401, "plain": true, "count": 1]) }
        let logs = LogCapture()
        let store = try testStore(standIn, token: how == "401" ? testToken : wrong, logger: logs.logger)
        do {
            _ = try await store.put(pathname: "t.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .rejected(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("BLOB_READ_WRITE_TOKEN") && message.contains(testStoreID), "\(message)")
            #expect(!message.contains("NotTheRightSecret") && !message.contains("Secret0123"))
        }
        #expect(try await standIn.stats().requests == 1)
        #expect(!logs.lines.contains { $0.contains("NotTheRightSecret") || $0.contains("Secret0123") })
    }

    @Test(arguments: [("store_suspended", "suspended"), ("store_not_found", "does not exist"), ("file_too_large", "too large"),
                      ("content_type_not_allowed", "content type"), ("forbidden", "BLOB_READ_WRITE_TOKEN")])
    func aRefusalIsADeadLetterWithAMessageSayingWhy(_ code: String, _ phrase: String) async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 400, "code": .string(code), "count": 1])
        let store = try testStore(standIn)
        do {
            _ = try await store.put(pathname: "c.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .rejected(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains(phrase), "\(message)")
        }
        #expect(try await standIn.stats().requests == 1)
    }

    /// The stand-in answers 307 to another path of its own: the request (and its token) is not
    /// sent there, and the upload is a dead letter naming what to fix.
    @Test func aRedirectIsNotFollowed() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 307, "location": .string("http://127.0.0.1:\(standIn.port)/elsewhere?sig=abc"), "count": 1])
        let store = try testStore(standIn)
        do {
            _ = try await store.put(pathname: "c.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .rejected(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("VERCEL_BLOB_API_URL") && message.contains("redirect") && !message.contains("sig=abc"), "\(message)")
        }
        let stats = try await standIn.stats()
        #expect(stats.requests == 1 && stats.json["stray"]?.intValue == 0, "\(stats.json)")
    }

    @Test func aRedirectFromAnotherTransportIsRefusedToo() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn, transport: Redirecting())
        do {
            _ = try await store.put(pathname: "c.png", bytes: png, contentType: "image/png")
            Issue.record("no error")
        } catch {
            guard case .rejected(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("VERCEL_BLOB_API_URL") && message.contains("redirect") && !message.contains("sig=abc"), "\(message)")
        }
    }

    struct Redirecting: VercelBlobTransport {
        func send(_ request: VercelBlobHTTPRequest) async throws(VercelBlobTransportError) -> VercelBlobHTTPResponse {
            VercelBlobHTTPResponse(status: 307, headers: ["Location": "https://other.example/api/blob?sig=abc"])
        }
    }

    @Test func headFindsABlobOrNothing() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        let put = try await store.put(pathname: "jobs/h/final-1.png", bytes: png, contentType: "image/png")
        let h = try #require(try await store.head(pathname: "jobs/h/final-1.png"))
        #expect(h.url == put.url && h.size == Int64(png.count) && h.contentType == "image/png")
        let meta = try #require(try await store.metadata(of: put.url))
        #expect(meta.cacheControl == "public, max-age=2592000" && meta.etag?.hasPrefix("\"") == true && meta.uploadedAt != nil)
        #expect(try await store.head(pathname: "jobs/h/missing.png") == nil)
    }

    @Test func listFollowsTheCursor() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        for i in [3, 0, 6, 1, 5, 2, 4] { _ = try await store.put(pathname: "jobs/l/\(i).png", bytes: png, contentType: "image/png") }
        _ = try await store.put(pathname: "other/x.png", bytes: png, contentType: "image/png")
        let first = try await store.page(prefix: "jobs/l/", limit: 3)
        #expect(first.blobs.map(\.pathname) == ["jobs/l/0.png", "jobs/l/1.png", "jobs/l/2.png"] && first.hasMore && first.cursor != nil)
        let all = try await store.blobs(prefix: "jobs/l/", limit: 3)
        #expect(all.map(\.pathname) == (0..<7).map { "jobs/l/\($0).png" })
        #expect(all.allSatisfy { $0.size == Int64(png.count) && $0.url == store.publicURL(for: $0.pathname) })
        #expect(try await standIn.stats().byOp("list") == 1 + 3)
        #expect(try await store.list(prefix: "").count == 8)
    }

    @Test func deleteIsBatched() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn) { $0.deleteBatchSize = 2 }
        var paths: [String] = []
        for i in 0..<5 { paths.append(try await store.put(pathname: "jobs/d/\(i).png", bytes: png, contentType: "image/png").pathname) }
        var progress: [Int] = []
        try await store.delete(paths + ["jobs/d/never-was.png"]) { progress.append($0) }
        #expect(progress == [2, 4, 6])
        #expect(try await standIn.blobs().isEmpty)
        #expect(try await standIn.stats().byOp("delete") == 3)
        try await store.delete(pathname: "jobs/d/0.png")  // missing: no error
    }

    @Test func copyMakesASecondBlobOnTheServer() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        let src = try await store.put(pathname: "jobs/c/final-1.png", bytes: png, contentType: "image/png")
        let copy = try await store.copy(from: src.url, to: "archive/final-1.png", contentType: "image/png")
        #expect(copy.pathname == "archive/final-1.png" && copy.url == store.publicURL(for: "archive/final-1.png"))
        #expect(try await standIn.fetch(copy.url).body == png)
        #expect(try await standIn.stats().byOp("copy") == 1)
    }

    /// 20 MiB in parts of 8 MiB (8 + 8 + 4), part 2 failing once: only that part is sent again.
    @Test func twentyMiBGoThroughMultipartWithOnePartRetriedAlone() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "status", "status": 500, "op": "mpu-upload", "part": 2, "count": 1])
        let store = try testStore(standIn)
        var body = Data(count: 20 * 1024 * 1024)
        body.withUnsafeMutableBytes { raw in for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8(truncatingIfNeeded: i / 4096) } }
        let info = try await store.put(pathname: "jobs/m/final-big.png", bytes: body, contentType: "image/png")
        #expect(info.url == store.publicURL(for: "jobs/m/final-big.png"))
        let held = try #require(try await standIn.blobs().first)
        #expect(held.size == Int64(body.count) && held.sha256 == sha256Hex(body) && held.contentType == "image/png")
        let stats = try await standIn.stats()
        #expect(stats.byOp("mpu-create") == 1 && stats.byOp("mpu-upload") == 4 && stats.byOp("mpu-complete") == 1 && stats.byOp("put") == 0)
        let parts = try await standIn.requests("mpu-upload")
        #expect(parts.filter { $0.part == "2" }.map(\.status) == ["500", "200"])
        #expect(parts.allSatisfy { $0.headers["x-mpu-key"] == "\(testStoreID)%2Fjobs%2Fm%2Ffinal-big.png" && $0.headers["x-vercel-blob-access"] == "public" })
        #expect(Set(parts.compactMap { $0.headers["content-length"] }) == ["8388608", "4194304"])
    }

    /// Parts go up a few at a time: three parts each held 1.5 s by the stand-in take well under 4.5 s.
    @Test func partsAreInFlightTogether() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "delay", "ms": 1500, "op": "mpu-upload", "count": 3])
        let store = try testStore(standIn) { $0.partSize = 5 * 1024 * 1024; $0.multipartThreshold = 5 * 1024 * 1024 }
        let start = ContinuousClock.now
        _ = try await store.put(pathname: "p.bin", bytes: Data(count: 11 * 1024 * 1024), contentType: "application/octet-stream")
        #expect(ContinuousClock.now - start < .milliseconds(4000))
        #expect(try await standIn.stats().byOp("mpu-upload") == 3)
    }

    /// The completion was carried out but its answer lost: the retry finds the upload gone, and
    /// the store checks that the blob is there instead of failing.
    @Test func aLostCompletionIsRecognised() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "lose_response", "op": "mpu-complete", "count": 1])
        let store = try testStore(standIn) { $0.partSize = 5 * 1024 * 1024; $0.multipartThreshold = 5 * 1024 * 1024 }
        let body = Data(repeating: 9, count: 6 * 1024 * 1024)
        let info = try await store.put(pathname: "lost/complete.bin", bytes: body, contentType: "application/octet-stream")
        #expect(info.url == store.publicURL(for: "lost/complete.bin"))
        let stats = try await standIn.stats()
        #expect(stats.byOp("mpu-complete") == 2 && stats.byOp("head") == 1 && stats.writes == ["lost/complete.bin": 1])
    }

    @Test func aPublicURLWithOddCharactersMatchesTheStandIns() async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        let store = try testStore(standIn)
        let path = "jobs/a:b.c_d-e/odd name?#%+.png"
        let info = try await store.put(pathname: path, bytes: png, contentType: "image/png")
        #expect(info.url == store.publicURL(for: path))
        #expect(try await standIn.blobs().first?.pathname == path)
    }
}
