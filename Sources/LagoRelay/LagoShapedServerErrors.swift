import HTTPTypes
import LagoIngest
import NIOCore
import NIOHTTPTypes

/// Gives the answers Hummingbird writes on its own a Lago-shaped JSON body: the `400` it sends for a request NIO
/// cannot parse (a malformed request line, header or chunk; an oversized head) and the `500` for a responder error
/// (the relay's responder cannot throw, so only the first can happen).
///
/// Hummingbird writes those with no body and no `Content-Type`; every answer of the relay's own has both. So any
/// response head of status 400 or more without a `Content-Type` is rewritten, in its place in the connection's
/// sequence of answers: `{"status":400,"error":"Bad Request"}` with `Content-Type: application/json`.
final class LagoShapedServerErrors: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The body parts of a rewritten response are dropped (Hummingbird's are empty).
    private var droppingBody = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 400 && head.headerFields[.contentType] == nil:
            let body = LagoEventIngress.status(head.status.code).body
            head.headerFields[.contentType] = "application/json; charset=utf-8"
            head.headerFields[.contentLength] = String(body.count)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: promise)
            droppingBody = true
        case .body where droppingBody:
            promise?.succeed()
        case .end:
            droppingBody = false
            context.write(data, promise: promise)
        default:
            context.write(data, promise: promise)
        }
    }
}

/// Closes a connection whose request was answered before its body was read in full (a 413 on the declared length,
/// a 503 over the body budget, a 401) once the rest of that body has had `timeout` to arrive.
///
/// Hummingbird reads and discards such a body before the next request, and its idle timer is reset by every byte:
/// without this, a client could stream an endless body, or trickle one, into a connection that answered long ago.
/// Armed only while a request's end has not been read, so it never cuts a later request short.
final class UnreadBodyDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    /// A request head was read and its end not yet.
    private var readingRequest = false
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingRequest = true
        case .end:
            readingRequest = false
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), readingRequest, deadline == nil {
            let channel = context.channel
            deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}
