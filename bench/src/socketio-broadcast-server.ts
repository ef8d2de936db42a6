/**
 * Baseline: a Socket.IO broadcast server as a competent user configures it: WebSocket
 * transport only, permessage-deflate off, `io.emit` (which encodes each broadcast once and,
 * since 4.6, pre-frames it once for every WebSocket client). A client emits
 * `publish(event)`; every connected client receives `event(event)`. No auth, no storage.
 * Prints `{"port":N}` when listening and exits when stdin closes.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('publish', (event: unknown) => {
    io.emit('event', event);
  });
});

httpServer.listen(0, '127.0.0.1', () => {
  const addr = httpServer.address();
  process.stdout.write(
    JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n',
  );
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
