import CLibXML2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An XML document read with libxml2 (`xmlReadMemory`, no network, no entity substitution, no DTD loading): what
/// the agent reads libvirt's domain and storage pool XML with. libxml2 directly, not FoundationXML, which sets a
/// process-wide external entity loader that crashes libvirt's own XML file reads in the same process.
///
/// The document is immutable once read; its elements (`XMLTree.Element`) keep it alive.
public final class XMLTree: @unchecked Sendable {  // immutable after init; libxml2 reads of one tree are safe
    let document: xmlDocPtr

    /// Parses `xmlString`. Throws when it is not well-formed XML or has no root element.
    public init(xmlString: String) throws {
        LibXMLProcessState.initialized
        let bytes = Array(xmlString.utf8)
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { xmlReadMemory($0, Int32(buffer.count), nil, "UTF-8", options) }
            } ?? nil
        }
        guard let parsed else { throw AgentError("not well-formed XML") }
        guard xmlDocGetRootElement(parsed) != nil else {
            xmlFreeDoc(parsed)
            throw AgentError("XML without a root element")
        }
        document = parsed
    }

    deinit { xmlFreeDoc(document) }

    /// The root element.
    public var root: Element { Element(tree: self, node: xmlDocGetRootElement(document)) }

    /// One element of a tree.
    public struct Element: @unchecked Sendable {
        let tree: XMLTree
        let node: xmlNodePtr

        /// The element's name (without a namespace prefix).
        public var name: String? { node.pointee.name.map { String(cString: $0) } }
        /// The same as `name` (libxml2 keeps the prefix apart).
        public var localName: String? { name }
        /// The element's namespace URI, if it has one.
        public var uri: String? { node.pointee.ns?.pointee.href.map { String(cString: $0) } }

        /// The value of attribute `name`, or nil.
        public func attribute(_ name: String) -> String? {
            guard let value = xmlGetProp(node, name) else { return nil }
            defer { zedge_xml_free(value) }
            return String(cString: value)
        }

        /// The element's text: the concatenated text of everything inside it.
        public var stringValue: String {
            guard let content = xmlNodeGetContent(node) else { return "" }
            defer { zedge_xml_free(content) }
            return String(cString: content)
        }

        /// The child elements, in document order.
        public var children: [Element] {
            var result: [Element] = []
            var child = node.pointee.children
            while let current = child {
                if current.pointee.type == XML_ELEMENT_NODE { result.append(Element(tree: tree, node: current)) }
                child = current.pointee.next
            }
            return result
        }

        /// The child elements named `name`.
        public func elements(named name: String) -> [Element] { children.filter { $0.name == name } }

        /// The element as XML text (what libvirt's device calls take).
        public var xmlString: String {
            guard let buffer = xmlBufferCreate() else { return "" }
            defer { xmlBufferFree(buffer) }
            _ = xmlNodeDump(buffer, tree.document, node, 0, 0)
            return xmlBufferContent(buffer).map { String(cString: $0) } ?? ""
        }

        /// The elements an XPath 1.0 expression selects, evaluated with this element as the context node.
        /// Throws for an expression libxml2 cannot evaluate.
        public func nodes(forXPath expression: String) throws -> [Element] {
            guard let context = xmlXPathNewContext(tree.document) else { throw AgentError("no XPath context") }
            defer { xmlXPathFreeContext(context) }
            guard let result = xmlXPathNodeEval(node, expression, context) else {
                throw AgentError("invalid XPath expression: \(expression)")
            }
            defer { xmlXPathFreeObject(result) }
            guard let set = result.pointee.nodesetval, set.pointee.nodeNr > 0, let nodes = set.pointee.nodeTab else { return [] }
            return (0..<Int(set.pointee.nodeNr)).compactMap { i in
                guard let found = nodes[i], found.pointee.type == XML_ELEMENT_NODE else { return nil }
                return Element(tree: tree, node: found)
            }
        }
    }
}
