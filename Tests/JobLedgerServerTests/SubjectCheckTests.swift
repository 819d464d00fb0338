@testable import JobLedgerServer
import Testing

/// `TokenVerifier.isUsableSubject`'s shortcut for printable ASCII answers as the full check by
/// Unicode properties does, for every ASCII character at the start, inside and at the end.
@Suite struct SubjectCheckTests {
    @Test func theASCIIShortcutAgreesWithTheFullCheck() {
        var subjects = ["", " ", "a", "user_2abc", String(repeating: "x", count: 200), String(repeating: "x", count: 201)]
        for b in UInt8(0)...UInt8(127) {
            let c = String(UnicodeScalar(b))
            subjects += [c, c + "ab", "a" + c + "b", "ab" + c]
        }
        for sub in subjects {
            #expect(TokenVerifier.isUsableSubject(sub) == TokenVerifier.isUsableSubjectByScalars(sub), "\(Array(sub.utf8))")
        }
        #expect(TokenVerifier.isUsableSubject("user 42") && !TokenVerifier.isUsableSubject("user\t42") && !TokenVerifier.isUsableSubject(" user"))
    }
}
