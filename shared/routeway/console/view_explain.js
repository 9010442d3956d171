// #/explain/<generation id>: GET /v1/route/explain/{id}; each attempt on a timeline (model, provider,
// status, latency), the winner and why, usage and cost.
import { ApiError } from "./api.js";
import { count, errorBox, field, h, hashFor, svg, table, usd } from "./dom.js";

const CHART_WIDTH = 760;
const LABEL_WIDTH = 300;
const ROW_HEIGHT = 30;

function succeeded(attempt) {
  return Number(attempt.status) >= 200 && Number(attempt.status) < 300;
}

// Attempts run one after another (a fallback starts when the previous attempt failed), so each bar
// starts where the one before ended; a bodybuilder fan-out runs its attempts side by side from 0.
export function timeline(attempts, parallel) {
  const latencies = attempts.map((attempt) => Math.max(0, Number(attempt.latency_ms) || 0));
  const starts = [];
  let clock = 0;
  latencies.forEach((latency) => {
    starts.push(parallel ? 0 : clock);
    clock += latency;
  });
  const total = Math.max(1, ...latencies.map((latency, index) => starts[index] + latency));
  const barSpace = CHART_WIDTH - LABEL_WIDTH - 90;
  const height = attempts.length * ROW_HEIGHT + 24;
  const chart = svg("svg", {
    id: "timeline",
    class: "chart",
    viewBox: `0 0 ${CHART_WIDTH} ${height}`,
    width: CHART_WIDTH,
    height,
    role: "img",
    "aria-label": "Attempts on a timeline",
  });
  attempts.forEach((attempt, index) => {
    const y = 4 + index * ROW_HEIGHT;
    const x = LABEL_WIDTH + Math.round((starts[index] / total) * barSpace);
    const width = Math.max(3, Math.round((latencies[index] / total) * barSpace));
    const label = `#${index + 1} ${attempt.model} · ${attempt.provider || attempt.backend || "-"}`;
    chart.append(
      svg(
        "g",
        { class: `attempt ${succeeded(attempt) ? "ok" : "failed"}`, "data-status": attempt.status },
        svg("title", null, `${label}: ${attempt.status} in ${latencies[index]} ms`),
        svg("text", { x: LABEL_WIDTH - 8, y: y + 19, class: "label", "text-anchor": "end" }, label),
        svg("rect", { x, y: y + 5, width, height: ROW_HEIGHT - 10, rx: 3, class: "bar" }),
        svg(
          "text",
          { x: x + width + 6, y: y + 19, class: "count" },
          `${attempt.status} · ${latencies[index]} ms`,
        ),
      ),
    );
  });
  chart.append(
    svg("text", { x: LABEL_WIDTH, y: height - 4, class: "axis" }, "0 ms"),
    svg("text", { x: CHART_WIDTH - 10, y: height - 4, class: "axis", "text-anchor": "end" }, `${Math.round(total)} ms`),
  );
  return chart;
}

function attemptRow(attempt, index) {
  return h(
    "tr",
    { class: succeeded(attempt) ? "ok" : "failed" },
    h("td", { class: "num" }, index + 1),
    h("td", null, h("code", null, attempt.model)),
    h("td", null, attempt.provider || "-"),
    h("td", null, attempt.backend || "-"),
    h("td", { class: "num status" }, String(attempt.status)),
    h("td", null, attempt.error_code || "-"),
    h("td", { class: "num" }, attempt.latency_ms === undefined ? "-" : `${attempt.latency_ms} ms`),
    h("td", { class: "small" }, (attempt.applied || []).join(", ") || "-"),
  );
}

function facts(pairs, id) {
  const shown = pairs.filter(([, value]) => value !== undefined && value !== null && value !== "");
  return h("dl", { class: "facts", id }, shown.map(([name, value]) => [h("dt", null, name), h("dd", null, String(value))]));
}

export async function renderExplain(route, { api, navigate }) {
  const id = route.arg.trim();
  const input = h("input", { id: "e-id", value: id, placeholder: "gen-rw-…", required: true, spellcheck: "false" });
  const form = h(
    "form",
    { class: "filters", id: "explain-form" },
    field("Generation id", input, "from the x-routeway-generation-id header"),
    h("button", { type: "submit" }, "Explain"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(hashFor("explain", {}, input.value.trim()));
  });
  const page = [h("h1", null, "Explain a request"), form];
  if (!id) {
    page.push(h("p", { class: "muted" }, "Type a generation id to see how that request was routed."));
    return page;
  }
  let record;
  try {
    record = await api(`v1/route/explain/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      page.push(errorBox(`Generation "${id}" was not found.`, error.message));
      page[page.length - 1].id = "explain-not-found";
      return page;
    }
    throw error;
  }
  const proof = record.route || {};
  const attempts = Array.isArray(proof.attempts) ? proof.attempts : [];
  const usage = record.usage || {};
  page.push(
    h("h2", null, h("code", null, record.id)),
    facts(
      [
        ["status", `${record.status} (HTTP ${record.http_status})`],
        ["error", record.error_code],
        ["requested model", record.requested_model],
        ["mode", proof.mode],
        ["objective", proof.objective],
        ["key", record.key_name],
        ["created", record.created_at],
        ["catalog", record.catalog_version],
      ],
      "explain-facts",
    ),
    h("h2", null, `Attempts (${attempts.length})`),
    attempts.length ? timeline(attempts, proof.mode === "bodybuilder") : h("p", { class: "muted" }, "No attempt."),
    h(
      "div",
      { class: "scroll" },
      table(
        "attempts",
        ["#", "Model", "Provider", "Backend", "Status", "Error", "Latency", "Rewrites"],
        attempts.map(attemptRow),
      ),
    ),
    h("h2", null, "Winner"),
    proof.model
      ? h(
          "div",
          { id: "winner", class: "card" },
          h("p", null, h("code", null, proof.model), ` via ${proof.provider || "-"} (${proof.backend || "-"})`),
          h("ul", null, (proof.reason || []).map((reason) => h("li", null, reason))),
          (proof.applied || []).length ? h("p", { class: "muted" }, `rewrites: ${proof.applied.join(", ")}`) : null,
        )
      : h("p", { id: "winner", class: "muted" }, "No attempt succeeded."),
    h("h2", null, "Usage and cost"),
    facts(
      [
        ["prompt tokens", count(usage.prompt_tokens)],
        ["completion tokens", count(usage.completion_tokens)],
        ["total tokens", count(usage.total_tokens)],
        ["cost", usd(record.cost_usd ?? usage.cost)],
        ["latency", proof.latency_ms === undefined ? undefined : `${proof.latency_ms} ms`],
      ],
      "usage",
    ),
  );
  return page;
}
