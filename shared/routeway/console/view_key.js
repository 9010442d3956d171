// #/key: GET /v1/key, the caller's key: spend against budget, rate limit, allowed models.
import { ApiError } from "./api.js";
import { errorBox, h, usd } from "./dom.js";

export async function renderKey(_route, { api }) {
  let key;
  try {
    key = await api("v1/key");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return [h("h1", null, "Key"), errorBox(error.message)];
    }
    throw error;
  }
  const spend = Number(key.spend_usd) || 0;
  const budget = key.budget_usd === null || key.budget_usd === undefined ? null : Number(key.budget_usd);
  const share = budget ? Math.min(100, (spend / budget) * 100) : null;
  const models = Array.isArray(key.models) ? key.models : [];
  return [
    h("h1", null, "Key ", h("code", null, key.name)),
    h(
      "dl",
      { class: "facts", id: "key-facts" },
      h("dt", null, "prefix"),
      h("dd", null, h("code", null, `${key.prefix}…`)),
      h("dt", null, "spend"),
      h("dd", { id: "key-spend" }, usd(spend, 6)),
      h("dt", null, "budget"),
      h("dd", { id: "key-budget" }, budget === null ? "no budget" : usd(budget, 2)),
      h("dt", null, "rate limit"),
      h("dd", { id: "key-rpm" }, key.rpm ? `${key.rpm} requests per minute` : "no limit"),
      h("dt", null, "allowed models"),
      h(
        "dd",
        { id: "key-models" },
        models.length ? h("ul", null, models.map((glob) => h("li", null, h("code", null, glob)))) : "every model",
      ),
    ),
    budget === null
      ? h("p", { class: "muted" }, "This key has no budget: its spend is counted, never capped.")
      : h(
          "div",
          { class: "budget" },
          h("meter", { id: "key-meter", min: 0, max: budget, value: Math.min(spend, budget), low: budget * 0.7, high: budget * 0.9, optimum: 0 }),
          h("span", null, `${usd(spend, 6)} of ${usd(budget, 2)} (${share.toFixed(1)}%)`),
        ),
  ];
}
