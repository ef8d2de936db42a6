/**
 * A complete unmasked WebSocket text frame (RFC 6455 §5.2) for a server → client message, so a
 * broadcast is framed once and the same bytes are written to every subscriber's socket.
 */
export function textFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const header = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(header + len);
  buf[0] = 0x81; // FIN + text opcode
  if (len < 126) {
    buf[1] = len;
  } else if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(0, 2);
    buf.writeUInt32BE(len, 6);
  }
  buf.write(text, header, 'utf8');
  return buf;
}
