// #/models?output=image,text&input=…&match=all|any&free=1&q=…: the catalog, filtered by the gateway
// (GET /v1/models), searched by id in the page.
import { count, field, h, hashFor, perMillion, table, usd } from "./dom.js";

const MAIN_PRICES = new Set(["prompt", "completion"]);

function otherPrices(pricing) {
  return Object.entries(pricing || {})
    .filter(([name, value]) => !MAIN_PRICES.has(name) && Number(value))
    .map(([name, value]) => `${name} ${usd(value)}`)
    .join(", ");
}

function modelRow(model) {
  const arch = model.architecture || {};
  const pricing = model.pricing || {};
  const alias = model.routeway_alias;
  return h(
    "tr",
    { "data-id": model.id },
    h(
      "td",
      null,
      h("code", { class: "model-id" }, model.id),
      alias ? h("span", { class: "tag" }, "alias") : null,
      model.name ? h("div", { class: "muted small" }, model.name) : null,
    ),
    h("td", { class: "input" }, (arch.input_modalities || []).join(", ")),
    h("td", { class: "output" }, (arch.output_modalities || []).join(", ")),
    h("td", { class: "providers" }, (model.providers || []).join(", ") || "-"),
    h("td", { class: "num" }, perMillion(pricing.prompt)),
    h("td", { class: "num" }, perMillion(pricing.completion)),
    h("td", { class: "small" }, otherPrices(pricing) || "-"),
    h("td", { class: "num" }, count(model.context_length)),
  );
}

export async function renderModels(route, { api, navigate }) {
  const p = route.params;
  const values = {
    output: p.get("output") || "",
    input: p.get("input") || "",
    match: p.get("match") === "all" ? "all" : "any",
    free: p.get("free") === "1" || p.get("free") === "true" ? "1" : "",
    q: p.get("q") || "",
  };
  const query = new URLSearchParams();
  if (values.output) query.set("output_modalities", values.output);
  if (values.input) query.set("input_modalities", values.input);
  query.set("match", values.match);
  if (values.free) query.set("free", "true");
  const answer = await api(`v1/models?${query}`);
  const models = Array.isArray(answer.data) ? answer.data : [];

  const output = h("input", { id: "f-output", value: values.output, placeholder: "image,text" });
  const input = h("input", { id: "f-input", value: values.input, placeholder: "image" });
  const match = h(
    "select",
    { id: "f-match" },
    h("option", { value: "any", selected: values.match === "any" }, "any of them"),
    h("option", { value: "all", selected: values.match === "all" }, "all of them"),
  );
  const free = h("input", { id: "f-free", type: "checkbox", checked: Boolean(values.free) });
  const search = h("input", { id: "f-search", type: "search", value: values.q, placeholder: "e.g. flux" });
  const form = h(
    "form",
    { class: "filters", id: "models-form" },
    field("Output modalities", output),
    field("Input modalities", input),
    field("Match", match),
    h("label", { class: "field check" }, free, h("span", null, "free only")),
    field("Search by id", search),
    h("button", { type: "submit" }, "Apply"),
  );
  const current = () => ({
    output: output.value,
    input: input.value,
    match: match.value,
    free: free.checked ? "1" : "",
    q: search.value,
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(hashFor("models", current()));
  });

  const rows = models.map(modelRow);
  const summary = h("p", { id: "models-count", class: "summary" });
  const body = table(
    "models-table",
    ["Model", "Input", "Output", "Providers", "Prompt $/1M", "Completion $/1M", "Other prices (per unit)", "Context"],
    rows,
  );
  const describe = () => {
    const needle = search.value.trim().toLowerCase();
    let shown = 0;
    models.forEach((model, index) => {
      const visible = !needle || String(model.id).toLowerCase().includes(needle);
      rows[index].hidden = !visible;
      shown += visible ? 1 : 0;
    });
    const which = values.output ? ` output ${values.match === "all" ? "all of" : "any of"} ${values.output}` : "";
    summary.textContent = `${shown} of ${models.length} models${which}${needle ? `, id contains "${needle}"` : ""}`;
  };
  search.addEventListener("input", () => {
    describe();
    // keep the address shareable without reloading the list
    window.history.replaceState(null, "", hashFor("models", { ...values, q: search.value }));
  });
  describe();
  return [h("h1", null, "Models"), form, summary, h("div", { class: "scroll" }, body)];
}
