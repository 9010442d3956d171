// #/spend?by=model|key|team&days=14: spend per day as a stacked bar chart (GET /admin/v1/spend grouped by day
// and the chosen field), a legend and a table of the same numbers, then each budget's burn in its current
// period (the `budget` of GET /admin/v1/teams and /admin/v1/keys). Admin keys only.
import { admin, adminNeeded, burnBar } from "./admin.js";
import { legend, stackedBars } from "./chart.js";
import { count, field, h, hashFor, table, usd } from "./dom.js";

const GROUPS = { model: "Model", key: "Key", team: "Team" };
const RANGES = [7, 14, 30, 90];
const DAY_MS = 86_400_000;

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// Every day from `since` to `until` (YYYY-MM-DD, both included), so a day without spend still has its slot.
export function daysBetween(since, until) {
  const days = [];
  for (let ms = Date.parse(`${since}T00:00:00Z`); ms <= Date.parse(`${until}T00:00:00Z`); ms += DAY_MS) {
    days.push(isoDay(ms));
  }
  return days;
}

function controls(values, navigate) {
  const by = h(
    "select",
    { id: "s-by" },
    Object.entries(GROUPS).map(([value, text]) => h("option", { value, selected: values.by === value }, text)),
  );
  const days = h(
    "select",
    { id: "s-days" },
    RANGES.map((n) => h("option", { value: n, selected: values.days === n }, `last ${n} days`)),
  );
  const go = () => navigate(hashFor("spend", { by: by.value, days: days.value }));
  by.addEventListener("change", go);
  days.addEventListener("change", go);
  return h("form", { class: "filters", id: "spend-form" }, field("Stack by", by), field("Range", days));
}

function spendSection(report, by) {
  const days = daysBetween(report.since, report.until);
  const rows = Array.isArray(report.data) ? report.data : [];
  const cells = new Map(rows.map((row) => [`${row.day}\u0000${row[by]}`, Number(row.cost_usd) || 0]));
  const totals = new Map();
  for (const row of rows) {
    totals.set(row[by], (totals.get(row[by]) || 0) + (Number(row.cost_usd) || 0));
  }
  const series = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || String(a).localeCompare(String(b)));
  const cost = (day, name) => cells.get(`${day}\u0000${name}`) || 0;
  const sum = (key) => rows.reduce((total, row) => total + (Number(row[key]) || 0), 0);
  const display = (name) => name || (by === "team" ? "(no team)" : "(none)");
  const chart = stackedBars({ id: "spend-chart", days, series, cost, display, label: `Spend per day by ${by}` });
  const lines = rows.map((row) =>
    h(
      "tr",
      { "data-day": row.day, "data-series": row[by], "data-cost": row.cost_usd },
      h("td", null, row.day),
      h("td", null, h("code", null, display(row[by]))),
      h("td", { class: "num" }, count(row.requests)),
      h("td", { class: "num" }, count(row.prompt_tokens)),
      h("td", { class: "num" }, count(row.completion_tokens)),
      h("td", { class: "num cost" }, usd(row.cost_usd)),
    ),
  );
  const numbers = table("spend-table", ["Day", GROUPS[by], "Requests", "Prompt tokens", "Completion tokens", "Cost"], lines);
  numbers.append(
    h(
      "tfoot",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "row", colspan: 2 }, "Total"),
        h("td", { class: "num" }, count(sum("requests"))),
        h("td", { class: "num" }, count(sum("prompt_tokens"))),
        h("td", { class: "num" }, count(sum("completion_tokens"))),
        h("td", { class: "num", id: "spend-total" }, usd(sum("cost_usd"))),
      ),
    ),
  );
  return [
    h(
      "p",
      { class: "summary", id: "spend-summary" },
      `${usd(sum("cost_usd"))} over ${count(sum("requests"))} requests, ${report.since} to ${report.until} (UTC days)`,
    ),
    ...(rows.length ? [] : [h("p", { class: "muted", id: "spend-empty" }, "No spend in this range yet.")]),
    h("div", { class: "scroll" }, chart),
    legend("spend-legend", series, (name) => totals.get(name) || 0, display),
    h("div", { class: "scroll" }, numbers),
  ];
}

function burnSection(teams, keys) {
  const budgeted = [
    ...teams.filter((t) => t.budget).map((t) => ["team", t]),
    ...keys.filter((k) => k.budget && !k.revoked).map((k) => ["key", k]),
  ];
  if (!budgeted.length) {
    return h("p", { id: "burn", class: "muted" }, "No team or key has a budget.");
  }
  const rows = budgeted.map(([scope, item]) =>
    h(
      "tr",
      { "data-scope": scope, "data-name": item.name },
      h("td", null, scope),
      h("td", null, h("code", null, item.name)),
      h("td", null, burnBar(scope, item.name, item.budget)),
    ),
  );
  return h("div", { class: "scroll" }, table("burn", ["Scope", "Name", "Spend + held of the budget this period"], rows));
}

export async function renderSpend(route, { api, navigate }) {
  const by = GROUPS[route.params.get("by")] ? route.params.get("by") : "model";
  const asked = Number(route.params.get("days"));
  const days = RANGES.includes(asked) ? asked : 14;
  const since = isoDay(Date.now() - (days - 1) * DAY_MS);
  let answers;
  try {
    answers = await Promise.all([
      admin(api, `spend?group_by=day,${by}&since=${since}`),
      admin(api, "teams"),
      admin(api, "keys"),
    ]);
  } catch (error) {
    const notice = adminNeeded(error, "Spend");
    if (notice) {
      return notice;
    }
    throw error;
  }
  const [report, teams, keys] = answers;
  return [
    h("h1", null, "Spend"),
    controls({ by, days }, navigate),
    ...spendSection(report, by),
    h("h2", null, "Budgets this period"),
    burnSection(teams.data || [], keys.data || []),
  ];
}
