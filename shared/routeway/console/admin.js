// What the admin views (#/teams, #/spend) share: the admin API's errors as text, the "admin key needed"
// notice, a budget's burn bar, and limits as the tables print them.
import { ApiError } from "./api.js";
import { h, svg, usd } from "./dom.js";

// The API's own message, and which field it is about (the admin API names it as `param`).
export function errorText(error) {
  if (error instanceof ApiError) {
    const param = error.details && error.details.param ? ` (param: ${error.details.param})` : "";
    return `${error.message}${param}`;
  }
  return `The console hit an error: ${error && error.message ? error.message : String(error)}`;
}

// A gateway key gets 403 from /admin/v1: say so with the gateway's message instead of a bare error.
export function adminNeeded(error, title) {
  if (!(error instanceof ApiError && error.status === 403)) {
    return null;
  }
  return [
    h("h1", null, title),
    h(
      "div",
      { class: "error", role: "alert", id: "admin-needed" },
      h("strong", null, "An admin key is needed for this view. "),
      h("span", { class: "reason" }, error.message),
      h("div", { class: "muted" }, "Sign out and sign in with a key made by `routeway keys create NAME --admin`."),
    ),
  ];
}

export function admin(api, path, options) {
  return api(`admin/v1/${path}`, options);
}

export const PERIODS = ["total", "day", "week", "month", "30m", "1h", "12h", "7d"];

export function orDash(value) {
  return value === undefined || value === null || value === "" ? "-" : String(value);
}

export function budgetText(view) {
  if (view.budget_usd === undefined || view.budget_usd === null) {
    return "none";
  }
  return view.period && view.period !== "total" ? `${usd(view.budget_usd, 2)} / ${view.period}` : usd(view.budget_usd, 2);
}

// "2026-12-07 00:00 UTC" from the API's ISO time; "never" for a lifetime (`total`) budget.
export function when(iso) {
  if (!iso) {
    return "never";
  }
  const text = String(iso).replace("T", " ").replace(/:\d\d(\.\d+)?(Z|\+00:00)$/, "");
  return `${text} UTC`;
}

const BAR_HEIGHT = 14;

// One budget's burn in its current period: spend, then held, against the budget (the whole bar).
export function burnBar(scope, name, burn, width = 240) {
  const budget = Number(burn.budget_usd) || 0;
  const spend = Number(burn.spend_usd) || 0;
  const held = Number(burn.held_usd) || 0;
  const scale = (value) => (budget > 0 ? Math.min(width, (value / budget) * width) : 0);
  const spendWidth = spend > 0 ? Math.max(1, scale(spend)) : 0; // any spend at all shows
  const heldWidth = Math.min(width - spendWidth, scale(held));
  const share = budget > 0 ? ((spend + held) / budget) * 100 : 0;
  const level = share >= 90 ? "high" : share >= 70 ? "mid" : "low";
  const percent = share > 0 && share < 0.1 ? "<0.1" : share.toFixed(1);
  const summary = `${usd(spend)} spent${held ? ` + ${usd(held)} held` : ""} of ${usd(budget, 2)} (${percent}%)`;
  return h(
    "div",
    {
      class: `burn ${level}`,
      "data-scope": scope,
      "data-name": name,
      "data-spend": spend,
      "data-held": held,
      "data-budget": budget,
      "data-resets": burn.resets_at || "",
    },
    svg(
      "svg",
      { class: "burn-bar", width, height: BAR_HEIGHT, viewBox: `0 0 ${width} ${BAR_HEIGHT}`, role: "img" },
      svg("title", null, summary),
      svg("rect", { class: "track", x: 0, y: 0, width, height: BAR_HEIGHT, rx: 3 }),
      svg("rect", { class: "spent", x: 0, y: 0, width: spendWidth.toFixed(2), height: BAR_HEIGHT, rx: 3 }),
      svg("rect", { class: "held", x: spendWidth.toFixed(2), y: 0, width: heldWidth.toFixed(2), height: BAR_HEIGHT }),
    ),
    h("span", { class: "burn-text" }, summary),
    h("span", { class: "muted small resets" }, `period ${burn.period}; resets ${when(burn.resets_at)}`),
  );
}
