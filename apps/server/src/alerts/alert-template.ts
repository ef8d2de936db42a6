/** What an annotation template may refer to. */
export interface TemplateData {
  agentId: string;
  rule: string;
  severity: string;
  value: number | null;
  threshold?: number | undefined;
  labels: Readonly<Record<string, string>>;
}

/** A number as people read it: integers as they are, others to two decimals. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
}

/**
 * Fills `{{agentId}}`, `{{value}}`, `{{labels.x}}`, `{{rule}}`, `{{severity}}` and
 * `{{threshold}}`; a name it does not know becomes empty (a typo shows as a gap, never as a
 * failure to notify).
 */
export function renderTemplate(text: string, data: TemplateData): string {
  return text.replace(
    /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}/g,
    (_, key: string) => {
      if (key.startsWith('labels.')) return data.labels[key.slice(7)] ?? '';
      switch (key) {
        case 'agentId':
          return data.agentId;
        case 'rule':
          return data.rule;
        case 'severity':
          return data.severity;
        case 'value':
          return formatValue(data.value);
        case 'threshold':
          return formatValue(data.threshold);
        default:
          return '';
      }
    },
  );
}

export function renderAnnotations(
  annotations: Readonly<Record<string, string>>,
  data: TemplateData,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) out[k] = renderTemplate(v, data);
  return out;
}
