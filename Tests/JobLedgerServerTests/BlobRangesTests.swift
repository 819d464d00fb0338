@testable import JobLedgerServer
import Testing

/// `BlobRanges.resolve` with positions too large for an `Int`: all digits, so not malformed, and
/// past the end of any file. They were read as malformed and served the whole file with 200,
/// where RFC 9110 § 14 (and Serve.md) has a 416 for a range that starts past the end, and a
/// last position past the end cut to it.
@Suite struct BlobRangesTests {
    static let huge = "99999999999999999999999"

    @Test func positionsBeyondAnIntAreFarPastTheEnd() {
        #expect(BlobRanges.resolve("bytes=\(Self.huge)-", size: 11) == .unsatisfiable)
        #expect(BlobRanges.resolve("bytes=\(Self.huge)-\(Self.huge)", size: 11) == .unsatisfiable)
        #expect(BlobRanges.resolve("bytes=3-\(Self.huge)", size: 11) == .part(3...10))
        #expect(BlobRanges.resolve("bytes=-\(Self.huge)", size: 11) == .part(0...10))
        // A last position before the first is still malformed: the whole file.
        #expect(BlobRanges.resolve("bytes=\(Self.huge)-3", size: 11) == .whole)
    }
}
