import Crypto
import Foundation

/// A bearer secret (API key, refresh token, enrollment token, agent credential): shown once to its
/// owner, stored only as the SHA-256 of the whole string, recognisable by a visible prefix.
///
/// Format: `<kind>_<8 hex chars of prefix>_<43 base64url chars of 256 random bits>`, e.g.
/// `zak_1a2b3c4d_...` for an API key.
public struct SecretToken: Sendable {
    public enum Kind: String, Sendable {
        case apiKey = "zak"
        case refreshToken = "zrt"
        case enrollmentToken = "zet"
        case agentCredential = "zac"
        /// A console session's single-use token (issue #16), carried in the console URL.
        case consoleToken = "zct"
    }

    /// The whole secret: returned to the client once, never stored.
    public let value: String
    /// The visible part, safe to store and show (`zak_1a2b3c4d`).
    public let prefix: String

    public static func generate(_ kind: Kind) -> SecretToken {
        var generator = SystemRandomNumberGenerator()
        let prefixBytes = (0..<4).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let prefix = "\(kind.rawValue)_" + prefixBytes.map { String(format: "%02x", $0) }.joined()
        return SecretToken(value: prefix + "_" + Data(secretBytes).base64URLEncoded(), prefix: prefix)
    }

    /// The stored form: lowercase hex SHA-256 of the whole secret.
    public var hash: String { Self.hash(value) }

    public static func hash(_ secret: String) -> String {
        // Every agent request hashes its credential: the UTF-8 hashed in place and the digest written as hex straight
        // into the string's storage (no Data, no byte array, no iterator).
        var hasher = SHA256()
        var secret = secret
        secret.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        return String(unsafeUninitializedCapacity: 2 * SHA256.byteCount) { output in
            digest.withUnsafeBytes { bytes in
                for (index, byte) in bytes.enumerated() {
                    output[2 * index] = hexDigits[Int(byte >> 4)]
                    output[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
                }
            }
            return 2 * SHA256.byteCount
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The kind a presented string claims to be, if it looks like one of ours at all.
    public static func kind(of presented: String) -> Kind? {
        guard let underscore = presented.firstIndex(of: "_") else { return nil }
        return Kind(rawValue: String(presented[..<underscore]))
    }
}

extension Data {
    func base64URLEncoded() -> String {
        base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
