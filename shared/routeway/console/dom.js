// Small DOM helpers. Data only ever goes in as text nodes or attributes, never as HTML.
const SVG_NS = "http://www.w3.org/2000/svg";

function fill(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(element) {
  element.replaceChildren();
}

export function errorBox(message, extra) {
  return h("div", { class: "error", role: "alert" }, message, extra ? h("div", { class: "muted" }, extra) : null);
}

export function table(id, headings, rows) {
  return h(
    "table",
    { id },
    h("thead", null, h("tr", null, headings.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", null, rows),
  );
}

// "$0.25" per million tokens from a per-token price; "free" for 0; "-" when unknown.
export function perMillion(perToken) {
  if (perToken === undefined || perToken === null || Number.isNaN(Number(perToken))) {
    return "-";
  }
  const value = Number(perToken) * 1e6;
  return value === 0 ? "free" : usd(value);
}

// "$3.00", "$0.000138" (never an exponent); a negative catalog price means "decided per request".
export function usd(value, digits) {
  if (value === undefined || value === null || Number.isNaN(Number(value))) {
    return "-";
  }
  const number = Number(value);
  if (digits !== undefined) {
    return `$${number.toFixed(digits)}`;
  }
  if (number < 0) {
    return "variable";
  }
  if (number === 0 || number >= 1) {
    return `$${number.toFixed(2)}`;
  }
  const text = number.toLocaleString("en-US", { maximumSignificantDigits: 3, useGrouping: false });
  return `$${text.split(".")[1]?.length >= 2 ? text : number.toFixed(2)}`;
}

export function count(value) {
  return value === undefined || value === null ? "-" : Number(value).toLocaleString("en-US");
}

// A form field with its label; `input` is the control element.
export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", null, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

// "#/models?output=image%2Ctext" from a view name and its form values (empty values left out).
export function hashFor(name, values, arg) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values || {})) {
    if (value !== undefined && value !== null && String(value).trim() !== "") {
      params.set(key, String(value).trim());
    }
  }
  const query = params.toString();
  const readable = query.replace(/%2C/gi, ",").replace(/%2F/gi, "/");
  return `#/${name}${arg !== undefined ? `/${encodeURIComponent(arg)}` : ""}${readable ? `?${readable}` : ""}`;
}

