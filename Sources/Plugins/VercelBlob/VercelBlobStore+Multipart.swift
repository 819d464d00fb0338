import Foundation
import JobLedger

/// Large bodies go up in parts, as the SDKs send them: create, the parts (`partConcurrency` in
/// flight, each retried on its own), complete.
extension VercelBlobStore {
    /// Uploads `bytes` in parts of `configuration.partSize`; returns the blob the completion
    /// made (or, when the completion's answer was lost, the blob found at `pathname`).
    func multipartUpload(pathname: String, bytes: Data, contentType: String) async throws(VercelBlobError) -> VercelBlob {
        let path = "/mpu?" + Self.query([("pathname", pathname)])
        let headers = putHeaders(contentType: contentType)
        let createOp = "create multipart upload of \(pathname)"
        let created = try object(try await call(createOp, method: "POST", path: path, headers: headers + [("x-mpu-action", "create")]),
                                 operation: createOp)
        guard let key = created["key"] as? String, !key.isEmpty, let uploadID = created["uploadId"] as? String, !uploadID.isEmpty else {
            throw VercelBlobError(kind: .invalidResponse, operation: createOp, status: 200, detail: "no key or uploadId", storeID: storeID)
        }
        let upload: [(String, String)] = [("x-mpu-key", Self.encodeURIComponent(key)), ("x-mpu-upload-id", uploadID)]
        let partSize = configuration.partSize
        let ranges = stride(from: 0, to: bytes.count, by: partSize).map { $0..<min($0 + partSize, bytes.count) }
        let etags = try await uploadParts(ranges: ranges, of: bytes, pathname: pathname, path: path, headers: headers + upload)

        let completeOp = "complete multipart upload of \(pathname) (\(ranges.count) parts)"
        let parts = JSONValue.array(etags.enumerated().map { i, etag in .object(["partNumber": .int(Int64(i + 1)), "etag": .string(etag)]) })
        do throws(VercelBlobError) {
            let r = try await call(completeOp, method: "POST", path: path,
                                   headers: headers + upload + [("x-mpu-action", "complete"), ("content-type", "application/json")],
                                   body: Data(parts.canonicalText.utf8))
            return try putResult(r, operation: completeOp, pathname: pathname)
        } catch where error.afterUncertainTry && !error.isRetryable {
            // An earlier try got no answer and may have completed the upload (the upload id is
            // then gone): the blob is there, of this size, if it did.
            if let b = try await metadata(of: pathname), b.size == Int64(bytes.count) {
                logger.notice("Vercel Blob: the completion of \(pathname) was taken before its answer was lost; the blob is there")
                return b
            }
            throw error
        }
    }

    /// Uploads the parts, `partConcurrency` at a time, each retried on its own; returns their
    /// ETags in part order. The first part that still fails cancels the others.
    private func uploadParts(ranges: [Range<Int>], of bytes: Data, pathname: String, path: String,
                             headers: [(String, String)]) async throws(VercelBlobError) -> [String] {
        let concurrency = max(1, configuration.partConcurrency)
        do {
            return try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var etags = [String](repeating: "", count: ranges.count)
                var next = 0
                func add() {
                    let i = next
                    next += 1
                    let body = bytes.subdata(in: ranges[i])
                    group.addTask {
                        let op = "upload part \(i + 1) of \(ranges.count) of \(pathname)"
                        let r = try await call(op, method: "POST", path: path,
                                               headers: headers + [("x-mpu-action", "upload"), ("x-mpu-part-number", "\(i + 1)")], body: body)
                        let o = try object(r, operation: op)
                        guard let etag = o["etag"] as? String, !etag.isEmpty else { throw invalid(op, r, "no etag") }
                        return (i, etag)
                    }
                }
                while next < min(concurrency, ranges.count) { add() }
                while let (i, etag) = try await group.next() {
                    etags[i] = etag
                    if next < ranges.count { add() }
                }
                return etags
            }
        } catch let e as VercelBlobError {
            throw e
        } catch {
            throw VercelBlobError(kind: .cancelled, operation: "upload parts of \(pathname)", storeID: storeID)
        }
    }
}
