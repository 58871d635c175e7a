// Time-series charts drawn as SVG by hand (no chart library): lines, step
// lines and stacked areas over a shared time axis, with a legend.

import {h, s} from './dom.js';
import {clock} from './format.js';

const W = 640;
const PAD = {left: 44, right: 10, top: 10, bottom: 22};

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 && v % 1 ? 1 : 0)}`;
}

// timeChart draws series ([{label, color, points: [[timeMs, value]], step,
// dash, area}]) over the last `span` ms up to now. With stacked, every
// series is an area on top of the ones before it (the split of traffic
// between revisions). yMax fixes the scale (100 for percentages); unit
// follows the axis labels.
export function timeChart({series, yMax, unit = '', height = 170, stacked = false, span = 5 * 60 * 1000, now = Date.now(), title = ''}) {
  const H = height;
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = H - PAD.bottom;
  const y1 = PAD.top;
  let tMin = now - span;
  const first = Math.min(...series.flatMap(se => se.points.map(p => p[0])), now);
  if (first > tMin) tMin = Math.max(first, now - span);
  if (now - tMin < 10000) tMin = now - 10000;
  const tx = t => x0 + ((t - tMin) / (now - tMin)) * (x1 - x0);

  const visible = series.map(se => ({...se, points: se.points.filter(p => p[0] >= tMin - 60000)}));
  let top = yMax;
  if (top === undefined) {
    let max = 0;
    if (stacked) {
      const times = [...new Set(visible.flatMap(se => se.points.map(p => p[0])))];
      for (const t of times) max = Math.max(max, visible.reduce((sum, se) => sum + valueAt(se.points, t), 0));
    } else {
      for (const se of visible) for (const p of se.points) max = Math.max(max, p[1]);
    }
    top = niceMax(max * 1.1);
  }
  const ty = v => y0 - (Math.min(v, top) / top) * (y0 - y1);

  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title});
  for (const frac of [0, 0.5, 1]) {
    const y = ty(top * frac);
    svg.append(s('line', {x1: x0, x2: x1, y1: y, y2: y, class: 'grid'}));
    svg.append(s('text', {x: x0 - 6, y: y + 4, 'text-anchor': 'end', class: 'axis'}, fmt(top * frac) + unit));
  }
  svg.append(s('text', {x: x0, y: H - 6, class: 'axis'}, clock(tMin)));
  svg.append(s('text', {x: x1, y: H - 6, 'text-anchor': 'end', class: 'axis'}, clock(now)));

  if (stacked) {
    const times = [...new Set(visible.flatMap(se => se.points.map(p => p[0])))].sort((a, b) => a - b);
    if (times.length) times.push(now);
    const base = times.map(() => 0);
    for (const se of visible) {
      const topLine = times.map((t, i) => base[i] + valueAt(se.points, t));
      if (topLine.every((v, i) => v === base[i])) continue;
      const upper = steps(times.map((t, i) => [tx(t), ty(topLine[i])]));
      const lower = steps(times.map((t, i) => [tx(t), ty(base[i])])).reverse();
      const d = 'M' + upper.concat(lower).map(p => p.map(n => n.toFixed(1)).join(' ')).join(' L') + ' Z';
      svg.append(s('path', {d, fill: se.color, 'fill-opacity': 0.55, stroke: se.color, 'stroke-width': 1, class: 'area', 'data-series': se.label}));
      topLine.forEach((v, i) => { base[i] = v; });
    }
  } else {
    for (const se of visible) {
      if (!se.points.length) continue;
      let pts = se.points.map(p => [tx(Math.max(p[0], tMin)), ty(p[1])]);
      if (se.step) {
        pts.push([tx(now), pts[pts.length - 1][1]]);
        pts = steps(pts);
      }
      const d = 'M' + pts.map(p => p.map(n => n.toFixed(1)).join(' ')).join(' L');
      svg.append(s('path', {d, fill: 'none', stroke: se.color, 'stroke-width': 2, 'stroke-dasharray': se.dash || null, class: 'line', 'data-series': se.label}));
      // A line of one or two samples is hard to see: mark them.
      if (!se.step && pts.length < 3) for (const [x, y] of pts) svg.append(s('circle', {cx: x.toFixed(1), cy: y.toFixed(1), r: 3, fill: se.color}));
    }
  }
  const legend = h('div', {class: 'legend'}, series.map(se => h('span', {}, h('i', {style: {background: se.color}}), se.label)));
  return h('figure', {class: 'chart-box'}, title ? h('figcaption', {}, title) : null, svg, legend);
}

// valueAt is a step function's value at t: the newest point not after t.
function valueAt(points, t) {
  let v = 0;
  for (const p of points) {
    if (p[0] > t) break;
    v = p[1];
  }
  return v;
}

// steps turns points into a step line: level until the next point.
function steps(pts) {
  const out = [];
  pts.forEach((p, i) => {
    if (i > 0) out.push([p[0], pts[i - 1][1]]);
    out.push(p);
  });
  return out;
}

// splitBar is a horizontal bar of the traffic weight per revision.
export function splitBar(weights, colorOf) {
  const entries = Object.entries(weights || {}).map(([rev, w]) => [Number(rev), w]).sort((a, b) => a[0] - b[0]);
  return h('div', {class: 'split-bar', role: 'img', 'aria-label': entries.map(([r, w]) => `revision ${r}: ${w}%`).join(', ')},
    entries.filter(([, w]) => w > 0).map(([rev, w]) =>
      h('span', {style: {width: `${w}%`, background: colorOf(rev)}, title: `revision ${rev}: ${w}%`}, w >= 8 ? `r${rev} ${w}%` : '')));
}
