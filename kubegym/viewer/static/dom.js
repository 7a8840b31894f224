// Building the page from run data without ever parsing it as HTML.
// Every string from a run goes in as a text node (textContent); attributes are set
// one by one with setAttribute, and links are built from encoded ids only.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  return append(node, children);
}

export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  return append(node, children);
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return value.toLocaleString("en");
    return value.toFixed(digits);
  }
  return String(value);
}

export function runPath(run) {
  return "/runs/" + encodeURIComponent(run);
}

export function trialPath(run, trial) {
  return runPath(run) + "/trials/" + encodeURIComponent(trial);
}

export function table(headers, rows, attrs = {}) {
  return h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD") ? c : h("td", {}, c))))));
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

// Element.append with this module's rules: arrays flattened, null/false skipped, text as text.
export function put(node, ...children) {
  return append(node, children);
}
