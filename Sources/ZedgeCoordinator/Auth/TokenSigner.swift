import Foundation
import JWTKit
import ZedgeCore

/// The claims of a Zedge access token.
public struct AccessTokenClaims: JWTPayload, Sendable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    public var iss: IssuerClaim
    public var role: String
    public var tenantId: UUID?

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == TokenSigner.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "issuer") }
    }
}

/// Signs and verifies ES256 access tokens with a key made on first start and kept (mode 0600) in the
/// data dir, so tokens survive a restart. A token verified once is not verified again until it expires
/// (`VerifiedTokenCache`).
public struct TokenSigner: Sendable {
    static let issuer = "zedge-coordinator"
    private let keys: JWTKeyCollection
    let verified = VerifiedTokenCache()
    public let lifetime: Duration

    public init(privateKeyPEM: String, lifetime: Duration) async throws {
        let key = try ES256PrivateKey(pem: privateKeyPEM)
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: key, kid: "zedge-1")
        self.keys = keys
        self.lifetime = lifetime
    }

    /// Loads `<dataDirectory>/keys/access-token-es256.pem`, creating it when absent.
    public static func loadOrCreate(dataDirectory: String, lifetime: Duration) async throws -> TokenSigner {
        let directory = (dataDirectory as NSString).appendingPathComponent("keys")
        let path = "\(directory)/access-token-es256.pem"
        if !FileManager.default.fileExists(atPath: path) {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try writeSecret(ES256PrivateKey().pemRepresentation, to: path)
        }
        return try await TokenSigner(privateKeyPEM: try String(contentsOfFile: path, encoding: .utf8), lifetime: lifetime)
    }

    public func sign(userId: UUID, role: UserRole, tenantId: UUID?, now: Date = Date()) async throws -> String {
        let claims = AccessTokenClaims(
            sub: .init(value: userId.uuidString),
            exp: .init(value: now.addingTimeInterval(TimeInterval(lifetime.components.seconds))),
            iat: .init(value: now),
            jti: .init(value: UUID().uuidString),
            iss: .init(value: Self.issuer),
            role: role.rawValue,
            tenantId: tenantId)
        return try await keys.sign(claims, kid: "zedge-1")
    }

    /// The verified claims, or nil for anything not signed by us, or expired at `now`.
    public func verify(_ token: String, now: Date = Date()) async -> AccessTokenClaims? {
        if let claims = verified.claims(of: token, now: now) { return claims }
        guard let claims = try? await keys.verify(token, as: AccessTokenClaims.self), claims.exp.value > now else { return nil }
        verified.store(claims, of: token, now: now)
        return claims
    }
}
