/**
 * The chart of bench/RESULTS.md: deliveries per second against subscribers
 * (fanout-1k, fanout-10k) for every system, as a self-contained SVG.
 *
 *   npx tsx bench/chart.ts bench/results.json bench/chart.svg [SUBTITLE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Row } from './lib/systems.js';

const COLORS: Record<string, string> = {
  'raw-ws': '#6b7280',
  'trpc-pubsub': '#2563eb',
  'trpc-by-hand': '#dc2626',
  'socket.io': '#16a34a',
};
const EXTRA = ['#9333ea', '#ea580c', '#0891b2', '#ca8a04'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function compact(value: number): string {
  return value >= 1000 ? `${Number((value / 1000).toFixed(value >= 10_000 ? 0 : 1))}k` : String(Math.round(value));
}

/** SVG of deliveries/s against subscribers, one line per system, from the fan-out rows. */
export function renderChart(rows: Row[], subtitle: string): string {
  const points = rows.filter((r) => (r.scenario === 'fanout-1k' || r.scenario === 'fanout-10k') && r.deliveriesPerSec !== null);
  const systems = [...new Set(points.map((r) => r.system))];
  const xs = [...new Set(points.map((r) => r.subscribers))].sort((a, b) => a - b);
  const width = 760;
  const height = 440;
  const m = { left: 80, right: 190, top: 56, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const yMax = niceMax(Math.max(1, ...points.map((r) => r.deliveriesPerSec!)) * 1.05);
  const logMin = Math.log10(Math.min(...xs, 1000) / 1.6);
  const logMax = Math.log10(Math.max(...xs, 10_000) * 1.6);
  const x = (subs: number) => m.left + ((Math.log10(subs) - logMin) / (logMax - logMin)) * plotW;
  const y = (value: number) => m.top + plotH - (value / yMax) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="24" font-size="16" font-weight="600">Fan-out: deliveries per second against subscribers</text>`,
    `<text x="${m.left}" y="42" fill="#555" font-size="11">${escape(subtitle.length > 110 ? `${subtitle.slice(0, 107)}…` : subtitle)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const value = (yMax / 5) * i;
    out.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${y(value)}" y2="${y(value)}" stroke="#e5e7eb"/>`,
      `<text x="${m.left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#333">${compact(value)}</text>`,
    );
  }
  for (const subs of xs) {
    out.push(
      `<line x1="${x(subs)}" x2="${x(subs)}" y1="${m.top}" y2="${m.top + plotH}" stroke="#e5e7eb"/>`,
      `<text x="${x(subs)}" y="${m.top + plotH + 18}" text-anchor="middle" fill="#333">${subs.toLocaleString('en-US')}</text>`,
    );
  }
  out.push(
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#333"/>`,
    `<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#333"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 14}" text-anchor="middle">subscribers (log scale)</text>`,
    `<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">deliveries / s (server on one core)</text>`,
  );
  systems.forEach((system, i) => {
    const color = COLORS[system] ?? EXTRA[i % EXTRA.length]!;
    const series = points.filter((r) => r.system === system).sort((a, b) => a.subscribers - b.subscribers);
    const path = series.map((r, j) => `${j === 0 ? 'M' : 'L'}${x(r.subscribers).toFixed(1)},${y(r.deliveriesPerSec!).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2.5"${system === 'raw-ws' ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const r of series) {
      out.push(
        `<circle cx="${x(r.subscribers).toFixed(1)}" cy="${y(r.deliveriesPerSec!).toFixed(1)}" r="4" fill="${color}"/>`,
        `<text x="${(x(r.subscribers) + 7).toFixed(1)}" y="${(y(r.deliveriesPerSec!) - 6).toFixed(1)}" fill="${color}" font-size="11">${compact(r.deliveriesPerSec!)}</text>`,
      );
    }
    const ly = m.top + 10 + i * 22;
    out.push(
      `<line x1="${m.left + plotW + 20}" x2="${m.left + plotW + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"${system === 'raw-ws' ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${m.left + plotW + 50}" y="${ly + 4}">${escape(system)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input, output] = process.argv.slice(2);
  if (input === undefined || output === undefined) {
    console.error('usage: tsx bench/chart.ts RESULTS.json OUT.svg [SUBTITLE]');
    process.exit(2);
  }
  const rows = JSON.parse(readFileSync(input, 'utf8')) as Row[];
  writeFileSync(output, renderChart(rows, process.argv[4] ?? ''));
}
