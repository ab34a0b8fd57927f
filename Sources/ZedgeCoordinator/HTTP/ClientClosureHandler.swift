import NIOCore
import NIOHTTPTypes

/// Tells `ClientConnections` when a connection's client stops sending: `ChannelEvent.inputClosed` (a FIN, or TLS's
/// close_notify, which NIOSSL passes on as the same event) or the channel going inactive. Sits after the HTTP codec
/// and passes everything on unchanged.
public final class ClientClosureHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart

    private let connections: ClientConnections
    private var watch: ClientConnections.Watch?
    private var id: ObjectIdentifier?

    init(connections: ClientConnections) {
        self.connections = connections
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let id = ObjectIdentifier(context.channel)
        self.id = id
        watch = connections.opened(id)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        watch?.close()
        if let id { connections.ended(id) }
        watch = nil
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { watch?.close() }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        watch?.close()
        context.fireChannelInactive()
    }
}
