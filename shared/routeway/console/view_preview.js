// #/preview?model=…&objective=…&max_cost_per_1k_tokens=…&allowed_models=…&prompt=…&top_n=…:
// POST /v1/route/preview (calls no model), the candidates table, and the exclusion funnel as a chart.
import { ApiError } from "./api.js";
import { count, errorBox, field, h, hashFor, svg, table, usd } from "./dom.js";

const OBJECTIVES = ["", "cheapest", "fastest", "reliable", "balanced"];
const CHART_WIDTH = 760;
const LABEL_WIDTH = 230;
const ROW_HEIGHT = 26;

function candidateRow(candidate) {
  return h(
    "tr",
    { "data-model": candidate.model, "data-provider": candidate.provider || "" },
    h("td", { class: "num" }, candidate.rank),
    h("td", null, h("code", null, candidate.model)),
    h("td", null, candidate.provider || "-"),
    h("td", null, candidate.backend || "-"),
    h("td", { class: "num price" }, usd(candidate.est_cost_per_1k_tokens)),
    h("td", { class: "num" }, candidate.score === undefined ? "-" : Number(candidate.score).toFixed(3)),
    h("td", { class: "num" }, count(candidate.context_length)),
    h("td", { class: "num" }, candidate.latency_p50_ms ? `${Math.round(candidate.latency_p50_ms)} ms` : "-"),
    h("td", { class: "small" }, (candidate.reasons || []).join("; ")),
  );
}

// Bars of how many candidates each filter removed, widest first. `steps` is [{filter, removed}].
export function funnelChart(steps) {
  const rows = steps.filter((step) => Number(step.removed) > 0).sort((a, b) => b.removed - a.removed);
  if (!rows.length) {
    return h("p", { id: "funnel", class: "muted" }, "No candidate was excluded.");
  }
  const most = Math.max(...rows.map((row) => Number(row.removed)));
  const barSpace = CHART_WIDTH - LABEL_WIDTH - 70;
  const height = rows.length * ROW_HEIGHT + 8;
  const chart = svg("svg", {
    id: "funnel",
    class: "chart",
    viewBox: `0 0 ${CHART_WIDTH} ${height}`,
    width: CHART_WIDTH,
    height,
    role: "img",
    "aria-label": "Candidates excluded, by reason",
  });
  rows.forEach((row, index) => {
    const y = 4 + index * ROW_HEIGHT;
    const width = Math.max(2, Math.round((Number(row.removed) / most) * barSpace));
    chart.append(
      svg(
        "g",
        { class: "funnel-row", "data-reason": row.filter },
        svg("title", null, `${row.filter}: ${row.removed} removed`),
        svg("text", { x: LABEL_WIDTH - 8, y: y + 17, class: "label", "text-anchor": "end" }, row.filter),
        svg("rect", { x: LABEL_WIDTH, y: y + 3, width, height: ROW_HEIGHT - 8, rx: 3, class: "bar" }),
        svg("text", { x: LABEL_WIDTH + width + 6, y: y + 17, class: "count" }, String(row.removed)),
      ),
    );
  });
  return chart;
}

function requestBody(values) {
  const body = {
    model: values.model || "auto",
    messages: [{ role: "user", content: values.prompt || "Hello" }],
    top_n: Number(values.top_n) || 10,
  };
  if (values.objective) body.objective = values.objective;
  if (values.max_cost_per_1k_tokens !== "") {
    const cap = Number(values.max_cost_per_1k_tokens);
    if (Number.isNaN(cap)) {
      throw new Error(`max_cost_per_1k_tokens must be a number, not "${values.max_cost_per_1k_tokens}"`);
    }
    body.max_cost_per_1k_tokens = cap;
  }
  const allowed = values.allowed_models.split(",").map((glob) => glob.trim()).filter(Boolean);
  if (allowed.length) body.allowed_models = allowed;
  return body;
}

function summaryOf(answer) {
  const facts = [
    ["mode", answer.mode],
    ["task", answer.task],
    ["alias", answer.alias],
    ["objective", answer.objective],
    ["attempts planned", answer.attempts],
    ["estimated prompt tokens", answer.estimated_prompt_tokens],
    ["catalog", answer.catalog_version],
  ].filter(([, value]) => value !== undefined && value !== null && value !== "");
  return h("dl", { class: "facts" }, facts.map(([name, value]) => [h("dt", null, name), h("dd", null, String(value))]));
}

export async function renderPreview(route, { api, navigate }) {
  const p = route.params;
  const values = {
    model: p.get("model") || "",
    objective: OBJECTIVES.includes(p.get("objective")) ? p.get("objective") : "",
    max_cost_per_1k_tokens: p.get("max_cost_per_1k_tokens") || "",
    allowed_models: p.get("allowed_models") || "",
    prompt: p.get("prompt") || "",
    top_n: p.get("top_n") || "",
  };
  const inputs = {
    model: h("input", { id: "p-model", value: values.model || "auto", required: true }),
    objective: h(
      "select",
      { id: "p-objective" },
      OBJECTIVES.map((name) => h("option", { value: name, selected: name === values.objective }, name || "(default)")),
    ),
    max_cost_per_1k_tokens: h("input", {
      id: "p-max-cost",
      value: values.max_cost_per_1k_tokens,
      inputmode: "decimal",
      placeholder: "0.002",
    }),
    allowed_models: h("input", { id: "p-allowed", value: values.allowed_models, placeholder: "anthropic/*,openai/*" }),
    prompt: h("input", { id: "p-prompt", value: values.prompt, placeholder: "Hello" }),
    top_n: h("input", { id: "p-top-n", value: values.top_n, inputmode: "numeric", placeholder: "10" }),
  };
  const form = h(
    "form",
    { class: "filters", id: "preview-form" },
    field("Model", inputs.model, "id, alias, auto, free"),
    field("Objective", inputs.objective),
    field("Max $ per 1k tokens", inputs.max_cost_per_1k_tokens),
    field("Allowed models", inputs.allowed_models, "globs, comma-separated"),
    field("Prompt", inputs.prompt),
    field("Top", inputs.top_n),
    h("button", { type: "submit" }, "Preview"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value]));
    navigate(hashFor("preview", typed));
  });
  const page = [h("h1", null, "Route preview"), form];
  if (!values.model) {
    page.push(h("p", { class: "muted" }, "Fill in a request and press Preview: it ranks candidates and calls no model."));
    return page;
  }
  let body;
  try {
    body = requestBody(values);
  } catch (error) {
    page.push(errorBox(error.message));
    return page;
  }
  let answer;
  try {
    answer = await api("v1/route/preview", { method: "POST", body });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) {
      throw error;
    }
    page.push(errorBox(`${error.message} (${error.code}, HTTP ${error.status})`));
    if (Array.isArray(error.details.funnel)) {
      page.push(h("h2", null, "What removed the candidates"), funnelChart(error.details.funnel));
    }
    return page;
  }
  const candidates = Array.isArray(answer.candidates) ? answer.candidates : [];
  const excluded = Object.entries(answer.excluded || {}).map(([filter, removed]) => ({ filter, removed }));
  const notes = [...(answer.notes || []), ...(answer.warnings || [])].map((note) =>
    h("li", null, typeof note === "string" ? note : JSON.stringify(note)),
  );
  page.push(
    summaryOf(answer),
    notes.length ? h("ul", { class: "notes" }, notes) : null,
    h("h2", null, `Candidates (${candidates.length})`),
    h(
      "div",
      { class: "scroll" },
      table(
        "candidates",
        ["#", "Model", "Provider", "Backend", "Est. $/1k tokens", "Score", "Context", "Latency p50", "Why"],
        candidates.map(candidateRow),
      ),
    ),
    h("h2", null, "Exclusion funnel"),
    funnelChart(excluded),
  );
  return page.filter(Boolean);
}
