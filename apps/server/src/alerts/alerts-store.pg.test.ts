import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestSchemas } from '../test-support/pg-schemas.js';
import { SqliteEventStore } from '../store/sqlite-event-store.js';
import { describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { AlertRuleSchema } from './alert-rule.js';
import type { AlertRecord } from './alert-state.js';
import { AlertsStore } from './alerts-store.js';

const schemas = new TestSchemas('wa');
const dirs: string[] = [];
const pgDatabase = () => schemas.migrated();

async function sqliteDatabase(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-alerts-store-'));
  dirs.push(dir);
  const url = `sqlite:${join(dir, 'warden.db')}`;
  const events = SqliteEventStore.fromUrl(url, { writerThread: false });
  await events.migrate();
  await events.close();
  return url;
}

const alert = (id: string, over: Partial<AlertRecord> = {}): AlertRecord => ({
  id,
  fingerprint: `fp-${id}`,
  rule: 'cpu',
  agentId: 'w1',
  severity: 'warning',
  labels: { alertname: 'cpu', agentId: 'w1' },
  annotations: { summary: 'hot' },
  state: 'firing',
  value: 91.5,
  activeAt: 1_000,
  firedAt: 2_000,
  endsAt: null,
  falseSince: null,
  acknowledged: false,
  ackedBy: null,
  ackedAt: null,
  ackComment: null,
  escalated: 0,
  updatedAt: 2_000,
  ...over,
});

function storeSuite(name: string, database: () => Promise<string>) {
  describe(name, () => {
    it('keeps alerts, rules, silences, the notification log and agent labels across connections', async () => {
      const url = await database();
      const a = AlertsStore.open(url);
      await a.writeAlerts([
        alert('1'),
        alert('2', { state: 'pending', firedAt: null }),
        alert('3', { state: 'resolved', endsAt: 5_000 }),
      ]);
      // A second write of the same id updates it (one row per episode).
      await a.writeAlerts([
        alert('1', {
          acknowledged: true,
          ackedBy: 'op',
          ackedAt: 3_000,
          ackComment: 'on it',
          escalated: 1,
        }),
      ]);
      await a.deleteAlerts(['2']);
      const rule = AlertRuleSchema.parse({ name: 'api', type: 'absence' });
      expect(await a.insertRule(rule, 'op', 10)).toBe(true);
      expect(await a.insertRule(rule, 'op', 11)).toBe(false);
      expect(await a.updateRule({ ...rule, severity: 'critical' }, 12)).toBe(true);
      await a.saveSilence({
        id: 's',
        matchers: [{ name: 'a', value: 'b', isRegex: false, isEqual: true }],
        startsAt: 0,
        endsAt: 100,
        createdBy: 'op',
        comment: 'c',
        updatedAt: 0,
      });
      await a.saveNotificationLog([
        { groupKey: 'cpu:{}', receiver: 'hook', firing: ['fp-1'], sentAt: 4_000 },
      ]);
      await a.saveNotificationLog([
        { groupKey: 'cpu:{}', receiver: 'hook', firing: [], sentAt: 4_500 },
      ]);
      await a.saveAgentLabels([{ agentId: 'w1', labels: { team: 'x' } }], 1);
      await a.close();

      const b = AlertsStore.open(url);
      const active = await b.loadActiveAlerts();
      expect(active).toEqual([
        alert('1', {
          acknowledged: true,
          ackedBy: 'op',
          ackedAt: 3_000,
          ackComment: 'on it',
          escalated: 1,
        }),
      ]);
      expect((await b.loadResolvedSince(4_000)).map((x) => x.id)).toEqual(['3']);
      expect(
        (await b.listAlerts({ states: ['firing', 'resolved'], limit: 10 })).map((x) => x.id).sort(),
      ).toEqual(['1', '3']);
      expect(await b.getAlert('3')).toMatchObject({ endsAt: 5_000, value: 91.5 });
      const rules = await b.loadRules();
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatchObject({
        name: 'api',
        createdBy: 'op',
        createdAt: 10,
        updatedAt: 12,
      });
      expect((rules[0]!.definition as { severity: string }).severity).toBe('critical');
      expect((await b.loadSilences())[0]).toMatchObject({ id: 's', endsAt: 100 });
      expect(await b.loadNotificationLog()).toEqual([
        { groupKey: 'cpu:{}', receiver: 'hook', firing: [], sentAt: 4_500 },
      ]);
      expect(await b.loadAgentLabels()).toEqual([{ agentId: 'w1', labels: { team: 'x' } }]);
      expect(await b.deleteRule('api')).toBe(true);
      expect(await b.retain(6_000)).toEqual({ alerts: 1, silences: 1, notificationLog: 1 });
      expect(await b.loadActiveAlerts()).toHaveLength(1);
      await b.close();
    });

    it('writes a cycle of many alerts in a few statements', async () => {
      const s = AlertsStore.open(await database());
      const many = Array.from({ length: 1_234 }, (_, i) => alert(`m${i}`));
      await s.writeAlerts(many);
      expect(await s.loadActiveAlerts()).toHaveLength(1_234);
      await s.close();
    });
  });
}

storeSuite('AlertsStore on SQLite', sqliteDatabase);

describeWithServices('AlertsStore on PostgreSQL', [await needPostgres()], () => {
  afterAll(async () => {
    await schemas.dropAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  storeSuite('AlertsStore', pgDatabase);
});
