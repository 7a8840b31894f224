// The viewer page: a small router over /, /runs/<run>, /runs/<run>/trials/<trial> and /compare.

import * as api from "./api.js";
import { h, clear, put, fmt, runPath, trialPath } from "./dom.js";
import { runsView } from "./runs.js";
import { runView } from "./run.js";
import { trialView, compareView } from "./trial.js";

const main = document.getElementById("main");
let stopCurrent = () => {};

export function navigate(path) {
  history.pushState({}, "", path);
  route();
}

function crumbs(parts) {
  const node = clear(document.getElementById("crumbs"));
  for (const [label, path] of parts) {
    node.append(" / ");
    node.append(path ? h("a", { href: path, "data-nav": "" }, label) : h("span", {}, label));
  }
}

async function route() {
  stopCurrent();
  stopCurrent = () => {};
  clear(document.getElementById("live"));
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  clear(main);
  try {
    if (parts.length === 0) {
      crumbs([]);
      await runsView(main);
    } else if (parts[0] === "runs" && parts.length === 2) {
      crumbs([[parts[1], null]]);
      stopCurrent = await runView(main, parts[1]);
    } else if (parts[0] === "runs" && parts.length === 4 && parts[2] === "trials") {
      crumbs([[parts[1], runPath(parts[1])], [parts[3], null]]);
      stopCurrent = await trialView(main, parts[1], parts[3]);
    } else if (parts[0] === "compare") {
      const query = new URLSearchParams(location.search);
      crumbs([["compare", null]]);
      await compareView(main, query.get("a") || "", query.get("b") || "");
    } else {
      main.append(h("p", { class: "error" }, "Nothing here."));
    }
  } catch (err) {
    main.append(h("p", { class: "error", "data-role": "error" }, `Error: ${err.message}`));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);
route();

export { api, fmt, trialPath };
