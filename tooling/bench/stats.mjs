// Small helpers shared by the benchmark scripts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, host: hostname(), node: process.version };
}

/**
 * One record per figure. `ratio` is value / peerValue; `better` says which direction wins,
 * so a cost ratio of 1.10 means 10% slower than the peer, a rate ratio of 0.9 means 10% slower.
 */
export function record(name, unit, value, better, peer = null, peerValue = null, target = null) {
  const ratio = value != null && peerValue ? value / peerValue : null;
  return { name, unit, value, better, peer, peerValue, ratio, target };
}

export function writeResults(repo, suite, records, meta) {
  const dir = join(repo, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${stamp}-${suite}.json`);
  writeFileSync(file, `${JSON.stringify({ suite, date: new Date().toISOString(), machine: machine(), ...meta, records }, null, 2)}\n`);
  return file;
}

export function printTable(records) {
  const rows = records.map((r) => [
    r.name,
    fmt(r.value),
    r.unit,
    r.peerValue == null ? '-' : fmt(r.peerValue),
    r.ratio == null ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '',
  ]);
  const head = ['figure', 'ours', 'unit', 'peer', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

function fmt(v) {
  if (v == null) return '-';
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(2);
}

/**
 * Runs fn with at least `pages` 2 MiB pages reserved (root only; the session tables map
 * hugetlb pages when some are reserved, THP otherwise: docs/conntrack.md, "The 1M / 10K
 * ratio"), then puts the reservation back. Returns fn's result and the pages that were there.
 */
export function withHugepages(pages, commands, fn) {
  const file = '/proc/sys/vm/nr_hugepages';
  let before = null;
  try {
    before = Number(readFileSync(file, 'utf8'));
    if (before < pages) {
      writeFileSync(file, String(pages));
      commands.push(`echo ${pages} > ${file}   (restored to ${before} afterwards)`);
    }
  } catch {
    before = null; // not root, or no hugetlb: the tables use transparent huge pages
  }
  try {
    return { result: fn(), reserved: before === null ? 0 : Math.max(before, Number(readFileSync(file, 'utf8'))) };
  } finally {
    if (before !== null && before < pages) writeFileSync(file, String(before));
  }
}
