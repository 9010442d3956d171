// A stacked bar chart in plain SVG (no library: the page loads nothing from outside the gateway): one bar
// group per day, one segment per series, coloured by CSS classes (series-0 … series-9) since inline styles
// are refused by the page's Content-Security-Policy.
import { h, svg, usd } from "./dom.js";

const WIDTH = 960;
const HEIGHT = 300;
const LEFT = 78;
const RIGHT = 16;
const TOP = 14;
const BOTTOM = 44;
export const COLOURS = 10;

// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`, so the axis reads in round numbers.
function niceCeiling(value) {
  if (!(value > 0)) {
    return 1;
  }
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value * (1 - 1e-12)) {
      return step * magnitude;
    }
  }
  return 10 * magnitude;
}

export function seriesClass(index) {
  return `series-${index % COLOURS}`;
}

// `days`: ["2026-12-01", …] in order; `series`: names in stacking order; `cost(day, name)`: a number;
// `display(name)`: how a series is named to people.
export function stackedBars({ id, days, series, cost, label, display }) {
  const totals = days.map((day) => series.reduce((sum, name) => sum + cost(day, name), 0));
  const top = niceCeiling(Math.max(0, ...totals));
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = (WIDTH - LEFT - RIGHT) / Math.max(1, days.length);
  const barWidth = Math.max(3, Math.min(48, slot * 0.7));
  const y = (value) => TOP + plotHeight - (value / top) * plotHeight;
  const chart = svg("svg", {
    id,
    class: "chart stacked",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    width: WIDTH,
    height: HEIGHT,
    role: "img",
    "aria-label": label,
    "data-top": top,
  });
  for (let tick = 0; tick <= 4; tick += 1) {
    const value = (top * tick) / 4;
    chart.append(
      svg("line", { class: "grid", x1: LEFT, x2: WIDTH - RIGHT, y1: y(value), y2: y(value) }),
      svg("text", { class: "axis", x: LEFT - 6, y: y(value) + 4, "text-anchor": "end" }, tick ? usd(value) : "$0"),
    );
  }
  const every = Math.ceil(days.length / 15); // at most ~15 day labels under the axis
  days.forEach((day, index) => {
    const x = LEFT + index * slot + (slot - barWidth) / 2;
    const group = svg("g", { class: "day", "data-day": day, "data-total": totals[index] });
    let base = 0;
    series.forEach((name, seriesIndex) => {
      const value = cost(day, name);
      if (!(value > 0)) {
        return;
      }
      const height = (value / top) * plotHeight;
      group.append(
        svg(
          "rect",
          {
            class: `segment ${seriesClass(seriesIndex)}`,
            "data-series": name,
            "data-cost": value,
            x: x.toFixed(2),
            y: (y(base) - height).toFixed(2),
            width: barWidth.toFixed(2),
            height: Math.max(0.5, height).toFixed(2),
          },
          svg("title", null, `${day} · ${display(name)}: ${usd(value)}`),
        ),
      );
      base += value;
    });
    if (index % every === 0) {
      group.append(
        svg(
          "text",
          { class: "axis", x: (x + barWidth / 2).toFixed(2), y: HEIGHT - BOTTOM + 16, "text-anchor": "middle" },
          day.slice(5),
        ),
      );
    }
    chart.append(group);
  });
  chart.append(svg("line", { class: "baseline", x1: LEFT, x2: WIDTH - RIGHT, y1: y(0), y2: y(0) }));
  return chart;
}

export function legend(id, series, total, display) {
  return h(
    "ul",
    { id, class: "legend" },
    series.map((name, index) =>
      h(
        "li",
        { "data-series": name },
        h("span", { class: `swatch ${seriesClass(index)}` }),
        h("span", null, display(name)),
        h("span", { class: "muted" }, usd(total(name))),
      ),
    ),
  );
}
