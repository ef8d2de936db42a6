/**
 * Baseline: a bare `ws` broadcast server as a competent user writes it (the broadcast example
 * of ws's README): permessage-deflate off, each broadcast serialised once into a Buffer that is
 * handed to every client's `send`. A publisher sends `{"op":"publish","event":{…}}`; every
 * connected client receives `{"op":"event","event":{…}}`. No auth, no storage. Prints
 * `{"port":N}` when listening and exits when stdin closes.
 */
import { WebSocket, WebSocketServer } from 'ws';

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: false,
  maxPayload: 2 * 1024 * 1024,
});

wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data: Buffer) => {
    let msg: { op?: unknown; event?: unknown };
    try {
      msg = JSON.parse(data.toString('utf8')) as typeof msg;
    } catch {
      return;
    }
    if (msg.op !== 'publish' || msg.event === undefined) return;
    const out = Buffer.from(JSON.stringify({ op: 'event', event: msg.event }));
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(out, { binary: false });
    }
  });
});

wss.on('listening', () => {
  const addr = wss.address();
  process.stdout.write(
    JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n',
  );
});

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
