import { AGENT_ID_PATTERN } from './agent.js';
import { EVENT_TYPES, type EventType } from './event.js';

/**
 * A parsed subscription topic (SPEC §5). `logs` is the `log` events of one agent; `commands`
 * carries no events at all: it marks a supervisor's connection as the one that takes
 * `command` frames for the agent (or for any agent, with `agentId` `*`).
 */
export type Topic =
  | { kind: 'events' }
  | { kind: 'agent'; agentId: string }
  | { kind: 'type'; type: EventType }
  | { kind: 'logs'; agentId: string }
  | { kind: 'commands'; agentId: string };

/** The `agentId` of `commands:*`: every agent the supervisor manages. */
export const ANY_AGENT = '*';

const USAGE =
  'use events, agent:<agentId>, type:<eventType>, logs:<agentId>, commands:<agentId> or commands:*';

/**
 * Parses `events`, `agent:<agentId>`, `type:<eventType>`, `logs:<agentId>`,
 * `commands:<agentId>` or `commands:*`; returns an error message otherwise. Who may
 * subscribe to which is the hub's business (SPEC §12 "Roles"), not the parser's.
 */
export function parseTopic(raw: string): Topic | string {
  if (raw === 'events') return { kind: 'events' };
  const colon = raw.indexOf(':');
  if (colon > 0) {
    const prefix = raw.slice(0, colon);
    const rest = raw.slice(colon + 1);
    const badId = () =>
      `topic ${JSON.stringify(raw.slice(0, 200))}: agent id must match ${AGENT_ID_PATTERN.source}`;
    switch (prefix) {
      case 'agent':
        return AGENT_ID_PATTERN.test(rest) ? { kind: 'agent', agentId: rest } : badId();
      case 'logs':
        return AGENT_ID_PATTERN.test(rest) ? { kind: 'logs', agentId: rest } : badId();
      case 'commands':
        return rest === ANY_AGENT || AGENT_ID_PATTERN.test(rest)
          ? { kind: 'commands', agentId: rest }
          : `${badId()} (or be * for every agent)`;
      case 'type':
        return (EVENT_TYPES as readonly string[]).includes(rest)
          ? { kind: 'type', type: rest as EventType }
          : `topic ${JSON.stringify(raw.slice(0, 200))}: unknown event type (one of ${EVENT_TYPES.join(', ')})`;
    }
  }
  return `unknown topic ${JSON.stringify(raw.slice(0, 200))}: ${USAGE}`;
}

/** The wire name of a topic (the inverse of {@link parseTopic}). */
export function topicName(t: Topic): string {
  switch (t.kind) {
    case 'events':
      return 'events';
    case 'agent':
      return `agent:${t.agentId}`;
    case 'type':
      return `type:${t.type}`;
    case 'logs':
      return `logs:${t.agentId}`;
    case 'commands':
      return `commands:${t.agentId}`;
  }
}

/** Whether an event with this agent and type falls under the topic (never a `commands` one). */
export function topicMatches(t: Topic, agentId: string, type: string): boolean {
  switch (t.kind) {
    case 'events':
      return true;
    case 'agent':
      return t.agentId === agentId;
    case 'type':
      return t.type === type;
    case 'logs':
      return type === 'log' && t.agentId === agentId;
    case 'commands':
      return false;
  }
}
