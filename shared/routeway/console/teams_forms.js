// The forms of #/teams: create a team, create a key, edit a key's or a team's limits. Values go to the admin
// API as typed (a number when it reads as one): the API checks them and its message, naming the field, is
// what the form shows, so the console never keeps rules of its own that could drift from the gateway's.
import { PERIODS, admin, errorText } from "./admin.js";
import { field, h } from "./dom.js";

const NUMBERS = ["budget_usd", "rpm", "tpm", "max_parallel"];
const LABELS = {
  budget_usd: ["Budget (USD)", "none"],
  period: ["Period", "total"],
  rpm: ["Requests / min", "none"],
  tpm: ["Tokens / min", "none"],
  max_parallel: ["Max parallel", "none"],
  alert_at: ["Alert at", "e.g. 0.5,0.9"],
  models: ["Models", "e.g. openai/*,anthropic/*"],
  expires_at: ["Expires at", "e.g. 2027-01-31"],
};
const TEAM_FIELDS = ["budget_usd", "period", "rpm", "tpm", "max_parallel", "alert_at"];
const KEY_EDIT_FIELDS = ["team", ...TEAM_FIELDS];

export function periodList() {
  return h("datalist", { id: "period-choices" }, PERIODS.map((p) => h("option", { value: p })));
}

// A field's current value as the form shows it ("" for none).
function shown(name, view) {
  const value = view ? view[name] : undefined;
  if (value === undefined || value === null) {
    return "";
  }
  return Array.isArray(value) ? value.join(",") : String(value);
}

// What goes in the JSON for a typed value: null for empty (clears it), a number when it reads as one.
function typed(name, text) {
  const value = text.trim();
  if (value === "") {
    return null;
  }
  if (NUMBERS.includes(name) && value !== "" && Number.isFinite(Number(value))) {
    return Number(value);
  }
  if (name === "models") {
    return value.split(",").map((glob) => glob.trim()).filter(Boolean);
  }
  return value;
}

function teamSelect(id, teams, current) {
  return h(
    "select",
    { id },
    h("option", { value: "" }, "(no team)"),
    teams.map((team) => h("option", { value: team.name, selected: team.name === current }, team.name)),
  );
}

// Inputs for `names`, filled from `view`; `values()` reads them back as typed JSON values.
function inputs(prefix, names, view, teams) {
  const controls = {};
  const nodes = names.map((name) => {
    const id = `${prefix}-${name.replaceAll("_", "-")}`;
    if (name === "team") {
      controls[name] = teamSelect(id, teams, view ? view.team : "");
      return field("Team", controls[name]);
    }
    const [label, hint] = LABELS[name];
    const attrs = { id, name, value: shown(name, view), placeholder: hint, autocomplete: "off", spellcheck: "false" };
    if (NUMBERS.includes(name)) {
      attrs.inputmode = name === "budget_usd" ? "decimal" : "numeric";
      attrs.class = "short";
    }
    if (name === "period") {
      attrs.list = "period-choices";
      attrs.class = "short";
    }
    controls[name] = h("input", attrs);
    return field(label, controls[name]);
  });
  const values = () => Object.fromEntries(names.map((name) => [name, typed(name, controls[name].value)]));
  return { nodes, values, controls };
}

function errorLine(id) {
  return h("p", { id, class: "error", role: "alert", hidden: true });
}

function showError(line, error) {
  line.textContent = errorText(error);
  line.hidden = false;
}

// Submit handler that disables the button while the call is out and shows the API's refusal under the form.
function onSubmit(form, line, action) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    line.hidden = true;
    action()
      .catch((error) => showError(line, error))
      .finally(() => {
        button.disabled = false;
      });
  });
}

export function teamForm(api, onCreated) {
  const name = h("input", { id: "t-name", required: true, autocomplete: "off", spellcheck: "false", placeholder: "research" });
  const limits = inputs("t", TEAM_FIELDS, null, []);
  const line = errorLine("team-form-error");
  const form = h(
    "form",
    { class: "filters", id: "team-form" },
    field("Name", name),
    limits.nodes,
    h("button", { type: "submit" }, "Create team"),
  );
  onSubmit(form, line, async () => {
    const body = { name: name.value.trim(), ...withoutEmpty(limits.values()) };
    const team = await admin(api, "teams", { method: "POST", body });
    form.reset();
    await onCreated(team);
  });
  return [form, line];
}

export function keyForm(api, teams, onCreated) {
  const name = h("input", { id: "k-name", required: true, autocomplete: "off", spellcheck: "false", placeholder: "app-prod" });
  const limits = inputs("k", [...KEY_EDIT_FIELDS, "models", "expires_at"], null, teams);
  const isAdmin = h("input", { id: "k-admin", type: "checkbox" });
  const line = errorLine("key-form-error");
  const form = h(
    "form",
    { class: "filters", id: "key-form" },
    field("Name", name),
    limits.nodes,
    h("label", { class: "field check" }, isAdmin, h("span", null, "admin key")),
    h("button", { type: "submit" }, "Create key"),
  );
  onSubmit(form, line, async () => {
    const body = { name: name.value.trim(), ...withoutEmpty(limits.values()) };
    if (isAdmin.checked) {
      body.admin = true;
    }
    const made = await admin(api, "keys", { method: "POST", body });
    form.reset();
    await onCreated(made);
  });
  return [form, line];
}

function withoutEmpty(values) {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null));
}

function same(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

// The edit panel for one key or team: only the fields that changed are sent (PATCH), an emptied one as null.
export function editPanel(api, kind, view, teams, { onSaved, onCancel }) {
  const names = kind === "key" ? KEY_EDIT_FIELDS : TEAM_FIELDS;
  const limits = inputs("e", names, view, teams);
  const line = errorLine("edit-error");
  const form = h(
    "form",
    { class: "filters", id: "edit-form", "data-kind": kind, "data-name": view.name },
    limits.nodes,
    h("button", { type: "submit" }, "Save"),
    h("button", { type: "button", class: "secondary", id: "edit-cancel", onclick: onCancel }, "Cancel"),
  );
  onSubmit(form, line, async () => {
    const current = { ...view, alert_at: view.alert_at && view.alert_at.length ? view.alert_at.join(",") : null };
    const typedNow = limits.values();
    const changes = Object.fromEntries(
      Object.entries(typedNow).filter(([name, value]) => !same(value, name === "team" ? current.team || null : current[name])),
    );
    if (!Object.keys(changes).length) {
      onCancel();
      return;
    }
    const path = `${kind === "key" ? "keys" : "teams"}/${encodeURIComponent(view.name)}`;
    const saved = await admin(api, path, { method: "PATCH", body: changes });
    await onSaved(saved);
  });
  return h(
    "section",
    { class: "card edit", id: "edit-panel" },
    h("h2", null, `Edit ${kind} `, h("code", null, view.name)),
    form,
    line,
  );
}
