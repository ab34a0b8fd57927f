import CLibvirt
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import ZedgeCore

/// The graphics of running domains (issue #16): their password, which Zedge sets and rotates, and where they
/// listen (a UNIX socket in the domain's directory).
extension LibvirtHypervisor {
    public func setGraphicsPassword(uuid: UUID, password: String, validUntil: Date?) async throws {
        try await connection.perform { conn in
            guard let dom = try Self.lookup(conn, uuid) else { throw HypervisorError.notFound(uuid: uuid.uuidString.lowercased()) }
            defer { virDomainFree(dom) }
            try Self.requireManaged(dom)
            guard let graphics = try Self.liveGraphics(dom) else {
                throw LibvirtError(code: -1, message: "domain \(uuid.uuidString.lowercased()) has no graphics")
            }
            let xml = DomainXML.renderGraphicsPassword(type: graphics.type, listens: graphics.listens, password: password,
                                                       validUntil: validUntil)
            guard virDomainUpdateDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE.rawValue) == 0 else {
                throw LibvirtError.last("setting the graphics password of \(uuid.uuidString.lowercased()) failed")
            }
        }
    }

    /// The UNIX socket the running domain's graphics listen on, if they listen on one.
    public func graphicsSocket(uuid: UUID) async throws -> String? {
        try await connection.perform { conn in
            let dom = try Self.require(conn, uuid)
            defer { virDomainFree(dom) }
            return try Self.liveGraphics(dom)?.listens.lazy.compactMap { listen in
                listen.first { $0.0 == "socket" }?.1
            }.first
        }
    }

    /// The first graphics device of the running domain: its type and its `<listen>` elements' attributes.
    static func liveGraphics(_ dom: OpaquePointer) throws -> (type: String, listens: [[(String, String)]])? {
        guard let text = virDomainGetXMLDesc(dom, 0) else { throw LibvirtError.last("reading the domain's XML failed") }
        defer { free(text) }
        let tree = try XMLTree(xmlString: String(cString: text))
        guard let graphics = try tree.root.nodes(forXPath: "/domain/devices/graphics").first,
              let type = graphics.attribute("type") else { return nil }
        let listens = graphics.elements(named: "listen").map { listen in
            ["type", "address", "network", "socket"].compactMap { name in listen.attribute(name).map { (name, $0) } }
        }
        return (type, listens)
    }
}
