import Foundation
import JobLedger
import JobLedgerEngine

/// The demo's job kind `design`: renders a (generated) image in four passes, reporting
/// progress, staging a 16×16 preview after the second pass and returning a 64×64 final PNG.
/// A share of attempts fail with a retryable `render_timeout`, chosen from the job id and
/// attempt so that a run can be repeated.
enum DesignHandler {
    static let kind = "design"

    static func make(failRate: Double, stepMilliseconds: Int) -> JobHandler {
        { ctx in
            var rng = SplitMix64(seed: fnv1a(ctx.job.rawValue) &+ UInt64(ctx.attempt))
            let failsAt = rng.nextDouble() < failRate ? 1 + Int(rng.nextDouble() * 3) : Int.max
            for pass in 1...4 {
                if stepMilliseconds > 0 { try await Task.sleep(for: .milliseconds(stepMilliseconds)) }
                try Task.checkCancellation()
                if pass == failsAt {
                    throw JobError(code: "render_timeout", message: "renderer did not answer in time (pass \(pass))", retryable: true)
                }
                try await ctx.progress(Double(pass) / 5, message: "rendering pass \(pass)")
                if pass == 2 {
                    try await ctx.lowres(DemoImage.png(width: 16, height: 16, seed: UInt32(truncatingIfNeeded: rng.next())), contentType: "image/png")
                }
            }
            return JobCompletion(bytes: DemoImage.png(width: 64, height: 64, seed: UInt32(truncatingIfNeeded: rng.next())),
                                 contentType: "image/png", output: ["width": 64, "height": 64])
        }
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
