import JobLedger

extension ProjectionName {
    /// The `jobs` table: every job's current row (`JobsTableProjection`).
    public static let jobs = ProjectionName("jobs")
    /// Staged artefacts published to a `BlobStore` (`BlobProjection`).
    public static let blob = ProjectionName("blob")
    /// Job messages sent to a `BroadcastSink` (`BroadcastProjection`).
    public static let broadcast = ProjectionName("broadcast")
}
