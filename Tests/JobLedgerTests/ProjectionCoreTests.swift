import JobLedger
import Testing

@Suite struct ProjectionCoreTests {
    let job = try! JobID("01a1ee56-5e00-7a2e-a76b-383f258ee078")
    let sha = String(repeating: "ab", count: 32)

    @Test func blobPathnamesAreDeterministic() {
        let asset = AssetRef(sha256: sha, size: 10, contentType: "image/png; charset=binary")
        #expect(BlobPathname(job: job, role: .lowres, asset: asset).description == "jobs/\(job)/lowres-abababababababab.png")
        let other = AssetRef(sha256: sha, size: 10, contentType: "application/x-unknown")
        #expect(BlobPathname(job: job, role: .final, asset: other).description == "jobs/\(job)/final-abababababababab.bin")
    }

    @Test func extensionsAndContentTypesAreOneTable() {
        #expect(BlobPathname.fileExtension(for: "IMAGE/JPEG") == "jpg")
        #expect(BlobPathname.contentType(forPathname: "jobs/x/final-1.jpg") == "image/jpeg")
        #expect(BlobPathname.contentType(forPathname: "jobs/x/final-1.bin") == "application/octet-stream")
        for ext in ["png", "jpg", "webp", "gif", "svg", "pdf", "json", "txt"] {
            #expect(BlobPathname.fileExtension(for: BlobPathname.contentType(forPathname: "a.\(ext)")) == ext)
        }
    }

    @Test func aBroadcastMessageReadsBackFromItsText() throws {
        let m = BroadcastMessage(type: .failed, job: job, seq: 9, version: 4, state: .queued, attempt: 1, progress: 0.25,
                                 message: "pass 1", previewURL: "https://x/p.png", resultURL: nil,
                                 error: JobFailure(code: "gpu_timeout", message: "slow", retryable: true, attempt: 1))
        #expect(try BroadcastMessage(text: m.text) == m)
        #expect(m.text.hasPrefix(#"{"attempt":1,"error":{"attempt":1,"code":"gpu_timeout""#))
        #expect(throws: PayloadError.self) { try BroadcastMessage(text: #"{"type":"exploded"}"#) }
    }
}
