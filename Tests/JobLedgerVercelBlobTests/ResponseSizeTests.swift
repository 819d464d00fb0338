import Foundation
import JobLedger
import JobLedgerVercelBlob
import Testing

/// An endpoint that sends far more than any answer holds (a wrong URL, a broken or hostile
/// server): the transport keeps at most 16 MiB of a body and fails the request, whether the
/// size is declared (`Content-Length`) or only counted as it arrives. `URLSession.data(for:)`
/// kept every byte: such an endpoint took `blobs list` to 4 GB. (The AnyCable and Upstash
/// transports fetch through the same `CappedFetch`.)
@Suite(.serialized) struct ResponseSizeTests {
    @Test(arguments: [true, false])
    func anAnswerLargerThanTheCapIsNotRead(declared: Bool) async throws {
        let standIn = try await StandIn.start()
        defer { standIn.stop() }
        try await standIn.fault(["mode": "huge", "bytes": .int(24 << 20), "declared": .bool(declared), "count": 1])
        let transport = VercelBlobURLSessionTransport()
        let request = VercelBlobHTTPRequest(method: "GET", url: URL(string: standIn.apiURL.absoluteString + "?limit=1")!,
                                            headers: [(name: "authorization", value: "Bearer \(testToken)")], timeout: .seconds(60))
        do {
            let r = try await transport.send(request)
            Issue.record("a body of \(r.body.count) bytes was read whole")
        } catch {
            #expect("\(error)".contains("too large to read"), "\(error)")
        }
        // The transport goes on: the next request gets its answer (a 400 here: the stand-in wants
        // the SDK's headers for a listing, which this bare request leaves out).
        let next = try await transport.send(request)
        #expect(next.status == 400 && next.body.count < 1000, "\(next.status)")
    }
}
