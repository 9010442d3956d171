// #/teams: the admin API's teams and keys (GET /admin/v1/teams, /admin/v1/keys) with their limits and each
// budget's burn this period; create a team or a key, edit limits, revoke a key. Admin keys only.
// Actions reload the lists in place (no navigation), so a new key's secret stays on screen until dismissed.
import { admin, adminNeeded, budgetText, burnBar, errorText, orDash, when } from "./admin.js";
import { clear, h, table } from "./dom.js";
import { editPanel, keyForm, periodList, teamForm } from "./teams_forms.js";

const TABLE_BAR = 130;

function burnCell(scope, view) {
  const bar = view.budget ? burnBar(scope, view.name, view.budget, TABLE_BAR) : h("span", { class: "muted" }, "-");
  return h("td", { class: "burn-cell" }, bar);
}

function limitCells(view) {
  return [
    h("td", { class: "num budget-col" }, budgetText(view)),
    h("td", { class: "num rpm" }, orDash(view.rpm)),
    h("td", { class: "num tpm" }, orDash(view.tpm)),
    h("td", { class: "num parallel" }, orDash(view.max_parallel)),
    h("td", { class: "alerts" }, view.alert_at && view.alert_at.length ? view.alert_at.join(", ") : "-"),
  ];
}

function editButton(onclick) {
  return h("button", { type: "button", class: "secondary edit", onclick }, "Edit");
}

function teamRow(team, members, onEdit) {
  return h(
    "tr",
    { "data-name": team.name },
    h("td", null, h("code", null, team.name)),
    ...limitCells(team),
    burnCell("team", team),
    h("td", { class: "num members" }, String(members)),
    h("td", { class: "actions" }, editButton(() => onEdit("team", team))),
  );
}

// Revoking takes two clicks on the same button, so one stray click never locks a client out.
function revokeButton(key, onRevoke) {
  const button = h("button", { type: "button", class: "secondary revoke" }, "Revoke");
  button.addEventListener("click", () => {
    if (button.dataset.armed) {
      onRevoke(key, button);
      return;
    }
    button.dataset.armed = "1";
    button.classList.add("danger");
    button.textContent = "Confirm revoke";
  });
  return button;
}

// The signed-in key gets no Revoke button: revoking it would sign this page out mid-action.
function keyRow(key, self, onEdit, onRevoke) {
  const tags = [
    key.admin ? h("span", { class: "tag" }, "admin") : null,
    key.name === self ? h("span", { class: "tag" }, "you") : null,
    key.revoked ? h("span", { class: "tag bad" }, "revoked") : null,
  ];
  return h(
    "tr",
    { "data-name": key.name, class: key.revoked ? "revoked" : null },
    h("td", null, h("code", null, key.name), ...tags, h("div", { class: "muted small" }, `${key.prefix}…`)),
    h("td", { class: "team" }, key.team || h("span", { class: "muted" }, "-")),
    ...limitCells(key),
    burnCell("key", key),
    h("td", { class: "small" }, key.models && key.models.length ? key.models.join(", ") : "all"),
    h("td", { class: "small" }, key.expires_at ? when(key.expires_at) : "never"),
    h(
      "td",
      { class: "actions" },
      key.revoked
        ? null
        : [
            editButton(() => onEdit("key", key)),
            key.name === self ? null : revokeButton(key, onRevoke),
          ],
    ),
  );
}

const LIMIT_HEADINGS = ["Budget", "rpm", "tpm", "Parallel", "Alert at", "Burn this period"];
const TEAM_HEADINGS = ["Team", ...LIMIT_HEADINGS, "Keys", ""];
const KEY_HEADINGS = ["Key", "Team", ...LIMIT_HEADINGS, "Models", "Expires", ""];

// The secret of a key just made: shown here once (the gateway keeps only its hash), with a copy button.
function secretPanel(made, onDone) {
  const secret = h("code", { id: "new-key-secret", class: "secret" }, made.key);
  const status = h("span", { id: "copy-status", class: "muted small", role: "status" });
  const copy = h("button", { type: "button", id: "copy-key" }, "Copy");
  copy.addEventListener("click", () => {
    const selectIt = () => {
      const range = document.createRange();
      range.selectNodeContents(secret);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    };
    if (!navigator.clipboard) {
      selectIt();
      return;
    }
    navigator.clipboard.writeText(made.key).then(() => {
      status.textContent = "Copied.";
    }, selectIt);
  });
  return h(
    "section",
    { class: "card secret-panel", id: "new-key", role: "alert", "data-name": made.name },
    h("h2", null, "Key ", h("code", null, made.name), " created"),
    h(
      "p",
      null,
      h("strong", null, "Copy it now: it is shown this once."),
      " The gateway keeps only its hash, so nobody can show it again; revoke it and make another if it is lost.",
    ),
    h("div", { class: "secret-row" }, secret, copy, status),
    h("button", { type: "button", class: "secondary", id: "new-key-done", onclick: onDone }, "I have copied it"),
  );
}

export async function renderTeams(_route, { api }) {
  let teams;
  let keys;
  let self;
  try {
    [teams, keys, self] = await Promise.all([
      admin(api, "teams"),
      admin(api, "keys"),
      api("v1/key").then((key) => key.name, () => null), // no key to protect with ROUTEWAY_AUTH=off
    ]);
  } catch (error) {
    const notice = adminNeeded(error, "Teams and keys");
    if (notice) {
      return notice;
    }
    throw error;
  }
  const secretSlot = h("div", { id: "secret-slot" });
  const editSlot = h("div", { id: "edit-slot" });
  const status = h("p", { id: "teams-status", class: "error", role: "alert", hidden: true });
  const teamsBox = h("div", { class: "scroll" });
  const keysBox = h("div", { class: "scroll" });
  const page = h("div", { id: "teams-page", "data-version": "0" });
  let keyFormNodes;

  const fail = (error) => {
    status.textContent = errorText(error);
    status.hidden = false;
  };
  const reload = async () => {
    [teams, keys] = await Promise.all([admin(api, "teams"), admin(api, "keys")]);
    draw();
  };
  const closeEdit = () => clear(editSlot);
  const onEdit = (kind, view) => {
    clear(editSlot);
    editSlot.append(
      editPanel(api, kind, view, teams.data || [], {
        onSaved: async () => {
          await reload(); // the lists show the change before the panel goes (what a reader, or a test, waits for)
          closeEdit();
        },
        onCancel: closeEdit,
      }),
    );
    editSlot.querySelector("input, select").focus();
  };
  const onRevoke = (key, button) => {
    button.disabled = true;
    status.hidden = true;
    admin(api, `keys/${encodeURIComponent(key.name)}`, { method: "DELETE" })
      .then(reload)
      .catch((error) => {
        button.disabled = false;
        fail(error);
      });
  };
  const onKeyMade = async (made) => {
    clear(secretSlot);
    secretSlot.append(secretPanel(made, () => clear(secretSlot)));
    await reload();
    secretSlot.scrollIntoView({ block: "nearest" });
  };
  const draw = () => {
    const teamList = teams.data || [];
    const keyList = keys.data || [];
    const members = (name) => keyList.filter((k) => k.team === name && !k.revoked).length;
    clear(teamsBox);
    teamsBox.append(
      teamList.length
        ? table("teams-table", TEAM_HEADINGS, teamList.map((t) => teamRow(t, members(t.name), onEdit)))
        : h("p", { class: "muted", id: "teams-table" }, "No teams yet."),
    );
    clear(keysBox);
    keysBox.append(
      table("keys-table", KEY_HEADINGS, keyList.map((k) => keyRow(k, self, onEdit, onRevoke))),
    );
    // the key form's team list follows the teams (a team made a moment ago is a choice at once)
    const select = keyFormNodes[0].querySelector("#k-team");
    const chosen = select.value;
    select.replaceChildren(
      h("option", { value: "" }, "(no team)"),
      ...teamList.map((t) => h("option", { value: t.name, selected: t.name === chosen }, t.name)),
    );
    page.dataset.version = String(Number(page.dataset.version) + 1); // how many times the lists were drawn (for scripts)
  };

  keyFormNodes = keyForm(api, teams.data || [], onKeyMade);
  draw();
  page.append(
    periodList(),
    secretSlot,
    status,
    editSlot,
    h("h2", null, "Teams"),
    teamsBox,
    h("h3", null, "New team"),
    ...teamForm(api, reload),
    h("h2", null, "Keys"),
    keysBox,
    h("h3", null, "New key"),
    ...keyFormNodes,
  );
  return [
    h("h1", null, "Teams and keys"),
    h(
      "p",
      { class: "muted" },
      "Limits take effect on the next request. Burn is each budget's spend in its current period, and what requests",
      " in flight hold.",
    ),
    page,
  ];
}
