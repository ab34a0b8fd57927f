import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The coordinator's TLS identity: either the certificate and key an operator configured, or a CA and
/// server certificate the coordinator made on first start and keeps under `<data-dir>/tls/`. Agents pin the
/// CA by the SHA-256 of its DER encoding.
public struct TLSMaterial: Sendable {
    public let certificateChainPEM: String
    public let privateKeyPEM: String
    /// The CA agents pin (nil when the operator brought their own certificate and no `ca.pem`).
    public let caCertificatePEM: String?
    /// `sha256:<hex>` of the CA certificate's DER encoding.
    public let caFingerprint: String?

    /// Loads `<dataDirectory>/tls/`, creating the CA and a server certificate there when absent.
    public static func loadOrCreate(dataDirectory: String, hostnames: [String] = []) throws -> TLSMaterial {
        let directory = (dataDirectory as NSString).appendingPathComponent("tls")
        let paths = (
            ca: "\(directory)/ca.pem", caKey: "\(directory)/ca-key.pem",
            server: "\(directory)/server.pem", serverKey: "\(directory)/server-key.pem"
        )
        let files = FileManager.default
        if !files.fileExists(atPath: paths.ca) || !files.fileExists(atPath: paths.caKey) {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let (caPEM, caKeyPEM) = try makeCA()
            try writeSecret(caKeyPEM, to: paths.caKey)
            try Data(caPEM.utf8).write(to: URL(fileURLWithPath: paths.ca), options: .atomic)
            try? files.removeItem(atPath: paths.server)
        }
        let caPEM = try String(contentsOfFile: paths.ca, encoding: .utf8)
        if !files.fileExists(atPath: paths.server) || !files.fileExists(atPath: paths.serverKey) {
            let caKeyPEM = try String(contentsOfFile: paths.caKey, encoding: .utf8)
            let (serverPEM, serverKeyPEM) = try makeServerCertificate(caPEM: caPEM, caKeyPEM: caKeyPEM, hostnames: hostnames)
            try writeSecret(serverKeyPEM, to: paths.serverKey)
            try Data(serverPEM.utf8).write(to: URL(fileURLWithPath: paths.server), options: .atomic)
        }
        return TLSMaterial(
            certificateChainPEM: try String(contentsOfFile: paths.server, encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: paths.serverKey, encoding: .utf8),
            caCertificatePEM: caPEM,
            caFingerprint: try fingerprint(ofPEM: caPEM)
        )
    }

    /// The operator's own certificate chain and key.
    public static func load(certificatePath: String, keyPath: String) throws -> TLSMaterial {
        let chain = try String(contentsOfFile: certificatePath, encoding: .utf8)
        let key = try String(contentsOfFile: keyPath, encoding: .utf8)
        return TLSMaterial(certificateChainPEM: chain, privateKeyPEM: key, caCertificatePEM: nil, caFingerprint: nil)
    }

    /// NIOSSL's server configuration for this identity.
    public func serverConfiguration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// `sha256:<lowercase hex>` of a PEM certificate's DER bytes (what `openssl x509 -outform DER | sha256sum` prints).
    public static func fingerprint(ofPEM pem: String) throws -> String {
        let certificate = try Certificate(pemEncoded: pem)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return "sha256:" + SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
    }

    static func makeCA() throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let name = try DistinguishedName {
            CommonName("Zedge Coordinator CA")
            OrganizationName("Zedge")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    static func makeServerCertificate(
        caPEM: String, caKeyPEM: String, hostnames: [String]
    ) throws -> (certificate: String, key: String) {
        let ca = try Certificate(pemEncoded: caPEM)
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: caKeyPEM)
        let key = P256.Signing.PrivateKey()
        let now = Date()
        var names: [GeneralName] = [
            .dnsName("localhost"),
            .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
            .ipAddress(ASN1OctetString(contentBytes: ArraySlice(Array(repeating: 0, count: 15) + [1]))),
        ]
        let hostname = ProcessInfo.processInfo.hostName
        for name in Set(hostnames + [hostname]) where !name.isEmpty && name != "localhost" {
            names.append(.dnsName(name))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(825 * 86400),
            issuer: ca.subject, subject: try DistinguishedName { CommonName(hostname.isEmpty ? "localhost" : hostname) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                AuthorityKeyIdentifier(keyIdentifier: try ca.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }
}
