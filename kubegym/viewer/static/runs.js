// The runs list.

import * as api from "./api.js";
import { h, put, fmt, runPath, table, section } from "./dom.js";

export async function runsView(main) {
  const { runs } = await api.runs();
  main.append(section("Runs", runs.length ? table(
    ["run", "status", "trials", "finished", "failed", "running", "agents", "tasks", "cost (USD)"],
    runs.map((r) => [
      h("a", { href: runPath(r.run_id), "data-nav": "", class: "run-link" }, r.name),
      r.status, fmt(r.trials), fmt(r.finished_trials), fmt(r.failed_trials), fmt(r.running_trials),
      r.agents.join(", "), r.tasks.length ? `${r.tasks.length}` : "–", fmt(r.cost_usd, 4),
    ]), { id: "runs" }) : h("p", { class: "muted" }, "No runs in this source yet.")));
}
