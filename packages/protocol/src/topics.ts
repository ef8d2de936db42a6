import { AGENT_ID_PATTERN } from './agent.js';
import { EVENT_TYPES, type EventType } from './event.js';

/** A parsed subscription topic (SPEC §5). */
export type Topic =
  { kind: 'events' } | { kind: 'agent'; agentId: string } | { kind: 'type'; type: EventType };

/** Parses `events`, `agent:<agentId>` or `type:<eventType>`; returns an error message otherwise. */
export function parseTopic(raw: string): Topic | string {
  if (raw === 'events') return { kind: 'events' };
  const colon = raw.indexOf(':');
  if (colon > 0) {
    const prefix = raw.slice(0, colon);
    const rest = raw.slice(colon + 1);
    if (prefix === 'agent') {
      return AGENT_ID_PATTERN.test(rest)
        ? { kind: 'agent', agentId: rest }
        : `topic ${JSON.stringify(raw)}: agent id must match ${AGENT_ID_PATTERN.source}`;
    }
    if (prefix === 'type') {
      return (EVENT_TYPES as readonly string[]).includes(rest)
        ? { kind: 'type', type: rest as EventType }
        : `topic ${JSON.stringify(raw)}: unknown event type (one of ${EVENT_TYPES.join(', ')})`;
    }
  }
  return `unknown topic ${JSON.stringify(raw.slice(0, 200))}: use events, agent:<agentId> or type:<eventType>`;
}

export function topicName(t: Topic): string {
  switch (t.kind) {
    case 'events':
      return 'events';
    case 'agent':
      return `agent:${t.agentId}`;
    case 'type':
      return `type:${t.type}`;
  }
}

/** Whether an event with this agent and type falls under the topic. */
export function topicMatches(t: Topic, agentId: string, type: string): boolean {
  switch (t.kind) {
    case 'events':
      return true;
    case 'agent':
      return t.agentId === agentId;
    case 'type':
      return t.type === type;
  }
}
