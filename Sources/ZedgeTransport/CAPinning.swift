import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ZedgeCore

/// Why the coordinator's CA could not be pinned.
public enum CAPinningError: Error, CustomStringConvertible, Equatable {
    /// `--ca-hash` is not `sha256:` followed by 64 hex digits.
    case invalidPin(String)
    /// The PEM holds no `-----BEGIN CERTIFICATE-----` ... `-----END CERTIFICATE-----` block.
    case noCertificate
    /// The certificate block is not valid base64.
    case invalidCertificateEncoding
    /// `GET /agent/v1/ca.pem` did not answer 200.
    case badResponse(status: Int)
    /// The served CA's fingerprint differs from the pin. Both are `sha256:<lowercase hex>`.
    case mismatch(expected: String, got: String)

    public var description: String {
        switch self {
        case .invalidPin(let reason):
            return "invalid --ca-hash: \(reason); expected sha256: followed by 64 hex digits (the SHA-256 of the CA certificate's DER encoding, as `openssl x509 -in ca.pem -outform DER | sha256sum` prints it)"
        case .noCertificate:
            return "no -----BEGIN CERTIFICATE----- block found in the CA PEM"
        case .invalidCertificateEncoding:
            return "the CA certificate block is not valid base64"
        case .badResponse(let status):
            return "the coordinator answered HTTP \(status) to GET /agent/v1/ca.pem"
        case .mismatch(let expected, let got):
            return "the coordinator's CA certificate (\(got)) does not match --ca-hash (\(expected)); refusing to continue: check the hash the coordinator printed, or whether something is intercepting the connection"
        }
    }
}

/// Trust on first use, done right: the agent is given the coordinator CA's SHA-256 out of band
/// (`zedge-agent register --ca-hash sha256:HEX`), fetches the CA unauthenticated, checks the hash, then
/// trusts exactly that CA (`CurlHTTPClient.TrustMode.caPEM`) for every later request.
public enum CAPinning {
    /// Parses `sha256:` + 64 hex digits (either case; surrounding whitespace ignored) into 32 bytes.
    public static func parsePin(_ text: String) throws -> [UInt8] {
        let trimmed = text.trimmed()
        let prefix = "sha256:"
        guard trimmed.hasPrefix(prefix) else {
            throw CAPinningError.invalidPin("missing the \"sha256:\" prefix")
        }
        let hex = Array(trimmed.utf8.dropFirst(prefix.utf8.count))
        guard hex.count == 64 else {
            throw CAPinningError.invalidPin("\(hex.count) hex digits instead of 64")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var index = 0
        while index < hex.count {
            guard let high = hexValue(hex[index]), let low = hexValue(hex[index + 1]) else {
                throw CAPinningError.invalidPin("not a hex digit")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// `sha256:<lowercase hex>` of the DER bytes of the first CERTIFICATE block in `pem`.
    public static func fingerprint(ofPEM pem: String) throws -> String {
        "sha256:" + hex(SHA256.hash(data: try firstCertificateDER(inPEM: pem)))
    }

    /// Fetches `<coordinator>/agent/v1/ca.pem` without verification, checks it against `pin` (constant-time
    /// compare), and returns the pinned CA certificate as PEM (only the first certificate block: that is what
    /// the pin covers). Store it and use `CurlHTTPClient(trust: .caPEM(pem), ...)` from then on.
    ///
    /// - Parameter coordinator: base URL, e.g. `https://coordinator.example:8443` (a trailing `/` is fine).
    /// - Throws: `CAPinningError` (`.invalidPin` before any network use, `.mismatch`, ...), `TransportError`.
    public static func fetchPinnedCA(
        coordinator: String,
        pin: String,
        userAgent: String = "zedge-agent",
        timeout: Duration = .seconds(30)
    ) async throws -> String {
        let expected = try parsePin(pin)
        var base = coordinator
        while base.hasSuffix("/") { base.removeLast() }
        let client = CurlHTTPClient(trust: .insecureForPinning, userAgent: userAgent, maxBodyBytes: 1 << 20)
        let response = try await client.send("GET", url: base + "/agent/v1/ca.pem", timeout: timeout)
        guard response.status == 200 else { throw CAPinningError.badResponse(status: response.status) }
        let pem = String(decoding: response.body, as: UTF8.self)
        let block = try firstCertificateBlock(inPEM: pem)
        let got = Array(SHA256.hash(data: try decodeBlock(block)))
        guard constantTimeEqual(got, expected) else {
            throw CAPinningError.mismatch(expected: "sha256:" + hex(expected), got: "sha256:" + hex(got))
        }
        return block + "\n"
    }

    // MARK: - Helpers

    private static let beginMarker = "-----BEGIN CERTIFICATE-----"
    private static let endMarker = "-----END CERTIFICATE-----"

    /// The first `BEGIN CERTIFICATE` ... `END CERTIFICATE` block, markers included.
    static func firstCertificateBlock(inPEM pem: String) throws -> String {
        guard let begin = pem.firstRange(of: beginMarker),
              let end = pem[begin.upperBound...].firstRange(of: endMarker)
        else { throw CAPinningError.noCertificate }
        return String(pem[begin.lowerBound..<end.upperBound])
    }

    static func firstCertificateDER(inPEM pem: String) throws -> [UInt8] {
        try decodeBlock(firstCertificateBlock(inPEM: pem))
    }

    private static func decodeBlock(_ block: String) throws -> [UInt8] {
        let body = block.dropFirst(beginMarker.count).dropLast(endMarker.count)
        let base64 = String(body.filter { !$0.isWhitespace })
        guard !base64.isEmpty, let der = Data(base64Encoded: base64) else {
            throw CAPinningError.invalidCertificateEncoding
        }
        return [UInt8](der)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Lowercase hex of `bytes`, as `sha256sum` prints a digest.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Compares without an early exit, so timing does not reveal how many leading bytes matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
