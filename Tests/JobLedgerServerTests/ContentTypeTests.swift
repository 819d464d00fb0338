import Testing
@testable import JobLedgerServer

/// Which `Content-Type` a submit reads as JSON: the media type without its parameters, any case,
/// spaces around it allowed.
@Suite struct ContentTypeTests {
    @Test func jsonAndPlusJSONTypesAreJSONInAnyCase() {
        for type in ["application/json", "Application/JSON", " application/json ", "application/json; charset=utf-8",
                     "application/json;charset=utf-8", "\tapplication/json\t;x=y", "application/vnd.api+json",
                     "APPLICATION/PROBLEM+JSON", "application/merge-patch+json; charset=utf-8"] {
            #expect(JobLedgerServer.isJSON(type), "\(type)")
        }
    }

    @Test func otherTypesAreNot() {
        for type in ["", ";", "text/json", "application/jsonx", "application/json5", "application/+json", "application/",
                     "application/x-www-form-urlencoded", "text/plain; application/json", "application/xml",
                     "xapplication/json", "application/json+xml", "applicatio/json", "application /json", "application/jsón"] {
            #expect(!JobLedgerServer.isJSON(type), "\(type)")
        }
    }

    /// An empty `Content-Type:` header read `Content-Type  is not JSON`, a gap where the type goes.
    @Test func anEmptyTypeIsSaidInWords() {
        #expect(JobLedgerServer.notJSON("") == "an empty Content-Type is not JSON: send the body as application/json")
        #expect(JobLedgerServer.notJSON("text/plain") == "Content-Type text/plain is not JSON: send the body as application/json")
    }
}
