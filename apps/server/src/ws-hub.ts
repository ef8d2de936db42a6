import type WebSocket from 'ws';
import type { BusMessage } from './bus.js';
import { CommandRouter } from './command-router.js';
import type { HubMetrics } from './hub-metrics.js';
import type { Principal } from './roles.js';
import { Connection, type ConnectionContext } from './ws-connection.js';

/**
 * All WebSocket peers of this process: fan-out of committed events, the ping sweep, and the
 * command router that knows which peers are supervisors taking commands for which agents.
 */
export class WsHub {
  private readonly connections = new Set<Connection>();
  private readonly unsubscribe: () => void;
  private readonly pingTimer: NodeJS.Timeout;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly metrics: HubMetrics,
    pingIntervalMs: number,
    /** Commands for supervisors connected here. @defaultValue a router with random ids */
    readonly commands: CommandRouter = new CommandRouter(),
  ) {
    this.unsubscribe = ctx.bus.subscribe((messages) => this.broadcast(messages));
    // A silent peer that has not answered the previous ping by the next sweep is dropped.
    this.pingTimer = setInterval(() => this.sweep(), pingIntervalMs);
    this.pingTimer.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  accept(ws: WebSocket, principal: Principal): void {
    const conn = new Connection(ws, principal, this.ctx, this.commands);
    this.connections.add(conn);
    this.metrics.wsConnections.inc();
    ws.on('close', () => {
      if (!this.connections.delete(conn)) return;
      conn.onClose();
      this.metrics.wsConnections.dec();
    });
    ws.on('error', (err) => this.ctx.log.debug({ err }, 'websocket error'));
  }

  private broadcast(messages: readonly BusMessage[]): void {
    for (const c of this.connections) c.deliver(messages);
  }

  /**
   * Every `ping_interval`: a peer that sent a frame since the last sweep is there and is not
   * pinged (an SDK client pings every 15 s itself, so it and the hub do not both wake each
   * other up for the same answer); a silent one is pinged, and dropped at the next sweep if it
   * has not answered by then.
   */
  private sweep(): void {
    for (const c of this.connections) {
      if (c.heard) {
        c.heard = false;
        c.alive = true;
        continue;
      }
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  /** Closes every peer with 1001 (going away). */
  close(): void {
    clearInterval(this.pingTimer);
    this.unsubscribe();
    for (const c of this.connections) c.ws.close(1001, 'server shutting down');
  }
}
