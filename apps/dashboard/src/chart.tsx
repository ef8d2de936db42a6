import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Colours from the theme's CSS variables, so charts follow light and dark. */
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * A time series chart (uPlot): `points` as [epoch ms, value] pairs, resized with its box.
 * Labelled for screen readers with its title and latest value.
 */
export function TimeChart({
  title,
  unit,
  points,
  height = 180,
}: {
  title: string;
  unit: string;
  points: ReadonlyArray<readonly [number, number]>;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);

  useEffect(() => {
    const el = box.current!;
    const stroke = cssVar('--accent', '#2563eb');
    const axis = cssVar('--muted', '#6b7280');
    const grid = cssVar('--grid', 'rgba(128,128,128,0.15)');
    const opts: uPlot.Options = {
      width: el.clientWidth || 400,
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid } },
        {
          stroke: axis,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          size: 56,
          values: (_u, vals) =>
            vals.map((v) => `${Math.round(v * 10) / 10}${unit ? ` ${unit}` : ''}`),
        },
      ],
      series: [
        {},
        { label: title, stroke, width: 2, fill: `${stroke}22`, points: { show: false } },
      ],
    };
    plot.current = new uPlot(opts, [[], []], el);
    const ro = new ResizeObserver(() =>
      plot.current?.setSize({ width: el.clientWidth || 400, height }),
    );
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [title, unit, height]);

  useEffect(() => {
    plot.current?.setData([points.map((p) => p[0] / 1000), points.map((p) => p[1])]);
  }, [points]);

  const last = points.at(-1);
  return (
    <figure className="chart">
      <figcaption>
        {title}
        <span className="chart-last">
          {last ? `${Math.round(last[1] * 10) / 10}${unit ? ` ${unit}` : ''}` : 'no data yet'}
        </span>
      </figcaption>
      <div
        ref={box}
        className="chart-box"
        role="img"
        aria-label={`${title}: ${points.length} points${last ? `, latest ${Math.round(last[1] * 10) / 10} ${unit}` : ''}`}
        data-points={points.length}
      />
    </figure>
  );
}
