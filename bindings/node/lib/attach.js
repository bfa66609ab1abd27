'use strict';
// Attach mode: the library's host-callback transport on the host's own socket.io server.
// Each io connection is attached to the hub; its events (client:authenticate,
// client:page, anything else) and its handshake auth are passed in; every outbound event
// arrives once, already encoded as a Socket.IO packet, with the ids of the sockets to
// write it to. Nothing here decides who receives what: the library's registry did.

const { koffi, fn, check, takeString, takeAck, byteLength } = require('./native');
const binary = require('./binary');

/** `ip:port` as the library parses it, or null. */
function remoteAddr(socket) {
  const raw = socket.request && socket.request.socket;
  const ip = (raw && raw.remoteAddress) || socket.handshake.address;
  const port = raw && raw.remotePort;
  if (!ip || !port) return null;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

class SocketIoAttachment {
  constructor(api) {
    this.api = api;
    /** Connection id (Number) → socket.io Socket. */
    this.sockets = new Map();
    /** ws's `Sender.frame`, found on the first websocket recipient. */
    this.wsFrame = undefined;
    /** Binary attachments still to come after the last packet (its `5<n>-` header). */
    this.attachmentsDue = 0;
  }

  /** The frame callback: one event, its recipients and its Socket.IO packet. Runs on
   * the event loop: synchronously inside the emit (or message) call that produced it,
   * or queued by koffi from the library's delivery thread. */
  onFrame(idsPointer, count, framePointer, length) {
    const ids = koffi.decode(idsPointer, 'uint64_t', Number(count));
    if (this.attachmentsDue > 0) {
      // An attachment of the binary packet just written: a binary message, as is.
      this.attachmentsDue -= 1;
      const data = Buffer.from(koffi.decode(framePointer, 'uint8_t', Number(length)));
      for (const id of ids) {
        const socket = this.sockets.get(Number(id));
        if (socket && socket.connected) socket.conn.write(data);
      }
      return;
    }
    const packet = koffi.decode.string(framePointer, Number(length));
    const announced = /^[56](\d+)-/.exec(packet);
    if (announced) this.attachmentsDue = Number(announced[1]);
    const options = ids.length > 1 ? this.preEncoded(packet, ids) : undefined;
    for (const id of ids) {
      const socket = this.sockets.get(Number(id));
      if (socket && socket.connected) socket.conn.write(packet, options);
    }
  }

  /** For several recipients, the websocket frame built once, as socket.io's own
   * broadcast does (engine.io writes `wsPreEncodedFrame` as is on websocket transports
   * without per-message deflate, and ignores it elsewhere). The `ws` framing function
   * is taken from a live websocket so it is the one engine.io itself uses. */
  preEncoded(packet, ids) {
    if (this.wsFrame === undefined) {
      for (const id of ids) {
        const socket = this.sockets.get(Number(id));
        const ws = socket && socket.conn.transport && socket.conn.transport.socket;
        const frame = ws && ws.constructor && ws.constructor.Sender && ws.constructor.Sender.frame;
        if (typeof frame === 'function') {
          this.wsFrame = frame;
          break;
        }
      }
      if (this.wsFrame === undefined) return undefined;
    }
    const wsPreEncodedFrame = this.wsFrame(Buffer.from(`4${packet}`), {
      readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true,
    });
    return { wsPreEncodedFrame };
  }

  /** The close callback: the hub closed this connection (logout, too many failed
   * authentications, shutdown). Disconnecting runs the socket's disconnect handler,
   * which detaches it, so it waits until the emit that closed it has returned. */
  onClose(id) {
    const socket = this.sockets.get(Number(id));
    if (socket) setImmediate(() => socket.disconnect());
  }

  /** Attaches one socket.io connection (io 'connection' handler). */
  connect(socket) {
    const hub = this.api._handle('connection');
    const context = JSON.stringify({
      remoteAddr: remoteAddr(socket),
      headers: socket.handshake.headers || {},
      query: socket.handshake.query || {},
    });
    const idOut = [0];
    check(fn.hostAttach(hub, context, byteLength(context), idOut), 'attach');
    const id = Number(idOut[0]);
    this.sockets.set(id, socket);
    socket.on('disconnect', () => this.disconnect(id));
    socket.onAny((event, ...args) => this.message(id, event, args));
    const auth = socket.handshake.auth;
    if (auth && typeof auth === 'object' && Object.keys(auth).length > 0) {
      const text = safeJson(auth);
      const ackOut = [null];
      const status = fn.hostAuthenticate(hub, id, text, byteLength(text), ackOut);
      const body = takeString(ackOut[0]);
      // The connection is already established on the host's server, so a refusal is
      // answered like a refused client:authenticate; the client may try again.
      if (status !== 0 && body !== null) socket.emit('auth:error', JSON.parse(body));
    }
  }

  /** Passes one client event; answers the client's ack when the library has a body (the
   * onClientEvent hook's return value, Buffers included).
   * An event the host's own handlers listen to on this socket (the seed's
   * `esp:register`) is the host's: it is not forwarded, so a board that never
   * authenticates with the library is not refused for it. */
  message(id, event, args) {
    if (this.api._closed) return;
    const socket = this.sockets.get(id);
    if (socket && socket.listeners(event).length > 0) return;
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    const value = args.length > 0 ? args[0] : null;
    // socket.io decoded a binary event: its Buffers go as attachments; the ack comes
    // back with the hook's Buffers in place.
    const { data: json, attachments } = binary.extract(value);
    const data = safeJson(json);
    const ackOut = [null];
    // A refusal here is the client's mistake, already answered (auth:error) and counted
    // by the library: nothing to throw at the host.
    fn.hostMessageWithAck(this.api._hub, id, event, byteLength(event), data, byteLength(data),
      binary.bytesArray(attachments), attachments.length, ackOut);
    const body = takeAck(ackOut[0]);
    if (ack && body !== null) ack(binary.rebuild(JSON.parse(body.json), body.values));
  }

  disconnect(id) {
    this.sockets.delete(id);
    if (!this.api._closed) fn.hostDetach(this.api._hub, id);
  }
}

function safeJson(value) {
  try {
    const text = JSON.stringify(value === undefined ? null : value);
    return text === undefined ? 'null' : text;
  } catch {
    return 'null';
  }
}

module.exports = { SocketIoAttachment };
