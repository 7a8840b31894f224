// A run's page: leaderboard with CIs, profiles, raw scores, spend, failures, validate counts,
// and the trials table (filters and keyset pages on the server). Live: it polls the run's
// status and refreshes when trials finish.

import * as api from "./api.js";
import { h, clear, put, fmt, trialPath, table, section } from "./dom.js";
import { profileChart } from "./charts.js";

const POLL_MS = 2000;
const FILTERS = ["task", "agent", "seed", "exit_reason", "failure_class"];

function ci(value) {
  return value ? `[${fmt(value[0])}, ${fmt(value[1])}]` : "–";
}

function overviewSections(data, hidden) {
  const out = [];
  const board = data.leaderboard;
  out.push(section("Leaderboard (AUP, 95% CI over seeds)",
    board.error ? h("p", { class: "error" }, board.error) : null,
    board.agents.length ? table(["agent", "best attempt", "CI", "best submission", "CI"],
      board.agents.map((a) => [a.agent, fmt(a.best_attempt), ci(a.best_attempt_ci), fmt(a.best_submission), ci(a.best_submission_ci)]),
      { id: "leaderboard" }) : h("p", { class: "muted" }, "No leaderboard yet (leaderboard.json is written when the run ends).")));
  const profiles = data.profiles;
  out.push(section("Performance profiles",
    profiles.left_out && profiles.left_out.length ? h("p", { class: "muted" }, `Left out (no finished trial gives their direction): ${profiles.left_out.join(", ")}`) : null,
    profiles.error ? h("p", { class: "muted" }, profiles.error) :
      h("div", { class: "charts", id: "profiles" },
        profileChart("best attempt", profiles.tau, profiles.curves.best_attempt, hidden),
        profileChart("best submission", profiles.tau, profiles.curves.best_submission, hidden))));
  const tasks = Object.keys(data.scores);
  if (tasks.length) {
    const methods = [...new Set(tasks.flatMap((t) => Object.keys(data.scores[t])))];
    out.push(section("Raw scores per task (best attempt / best submission, best over seeds)",
      table(["task", ...methods], tasks.map((t) => [t, ...methods.map((m) => {
        const sc = data.scores[t][m];
        return sc ? `${fmt(sc.best_attempt, 4)} / ${fmt(sc.best_submission, 4)}` : "–";
      })]), { id: "raw-scores" })));
  }
  out.push(section("Cost and tokens", table(["agent", "trials", "steps", "prompt tokens", "completion tokens", "cost (USD)"],
    data.spend.map((a) => [a.agent, fmt(a.trials), fmt(a.steps), fmt(a.prompt_tokens), fmt(a.completion_tokens), fmt(a.cost_usd, 4)]), { id: "spend" })));
  out.push(section("How trials ended", table(["exit reason", "failure class", "trials"],
    data.failures.map((f) => [f.exit_reason, f.failure_class || "–", fmt(f.trials)]), { id: "failures" })));
  out.push(section("Validate calls (the evaluator's count)", table(["agent", "validations", "trials counted"],
    data.validations.map((v) => [v.agent, fmt(v.validations), fmt(v.trials_counted)]), { id: "validations" })));
  return out;
}

export async function runView(main, runId) {
  const hidden = new Set();
  const state = { filters: {}, cursors: [null], page: 0, picked: [] };
  const head = h("div", { class: "run-head" });
  const overview = h("div", { id: "overview" });
  const filterBar = h("div", { class: "filters", id: "filters" });
  const trialsBox = h("div", { id: "trials-box" });
  const compare = h("button", { id: "compare", disabled: "" }, "Compare the two picked trials");
  main.append(head, overview, section("Trials", filterBar, compare, trialsBox));

  function renderHead(run) {
    put(clear(head), h("h1", {}, run.name),
      h("p", { id: "run-status" }, `${run.status} · ${fmt(run.finished_trials)} of ${fmt(run.trials)} trials finished · ${fmt(run.failed_trials)} failed · ${fmt(run.running_trials)} running · ${fmt(run.cost_usd, 4)} USD`));
  }

  async function loadOverview() {
    const data = await api.run(runId);
    renderHead(data.run);
    put(clear(overview), ...overviewSections(data, hidden));
    return data.run;
  }

  async function loadFacets() {
    const { facets } = await api.facets(runId);
    clear(filterBar);
    for (const name of FILTERS) {
      const select = h("select", { name, "data-filter": name },
        h("option", { value: "" }, `${name.replace("_", " ")}: any`),
        facets[name].filter(([v]) => v !== "").map(([v, n]) => h("option", { value: v }, `${v} (${n})`)));
      select.value = state.filters[name] || "";
      select.addEventListener("change", () => {
        state.filters[name] = select.value;
        state.cursors = [null]; state.page = 0;
        loadTrials();
      });
      filterBar.append(h("label", {}, select));
    }
  }

  async function loadTrials() {
    const page = await api.trials(runId, { ...state.filters, cursor: state.cursors[state.page], limit: 50 });
    state.cursors[state.page + 1] = page.next;
    const rows = page.trials.map((t) => {
      const box = h("input", { type: "checkbox", "data-trial": t.trial });
      box.checked = state.picked.includes(t.trial);
      box.addEventListener("change", () => {
        state.picked = state.picked.filter((x) => x !== t.trial);
        if (box.checked) state.picked.push(t.trial);
        while (state.picked.length > 2) state.picked.shift();
        trialsBox.querySelectorAll("input[data-trial]").forEach((b) => { b.checked = state.picked.includes(b.getAttribute("data-trial")); });
        if (state.picked.length === 2) compare.removeAttribute("disabled"); else compare.setAttribute("disabled", "");
      });
      return [box, h("a", { href: trialPath(runId, t.trial), "data-nav": "", class: "trial-link" }, t.trial),
        t.task || "–", t.agent || "–", fmt(t.seed), t.exit_reason || "–", t.failure_class || "–",
        fmt(t.score, 4), fmt(t.best_attempt, 4), fmt(t.steps), fmt(t.validations), fmt(t.cost_usd, 4)];
    });
    const prev = h("button", { "data-role": "prev" }, "← previous");
    const next = h("button", { "data-role": "next" }, "next →");
    if (state.page === 0) prev.setAttribute("disabled", "");
    if (!page.next) next.setAttribute("disabled", "");
    prev.addEventListener("click", () => { state.page -= 1; loadTrials(); });
    next.addEventListener("click", () => { state.page += 1; loadTrials(); });
    put(clear(trialsBox), 
      h("p", { class: "muted", id: "trials-count" }, `${fmt(page.total)} trials match · page ${state.page + 1}`),
      table(["", "trial", "task", "agent", "seed", "exit reason", "failure", "score", "best attempt", "steps", "validations", "cost"], rows, { id: "trials" }),
      h("div", { class: "pager" }, prev, next));
  }

  compare.addEventListener("click", () => {
    const [a, b] = state.picked;
    const query = new URLSearchParams({ a: `${runId}/${a}`, b: `${runId}/${b}` });
    history.pushState({}, "", "/compare?" + query.toString());
    window.dispatchEvent(new PopStateEvent("popstate"));
  });

  // The trials first: they are what a big run's reader waits for; the overview scores the run.
  await loadTrials();
  await loadFacets();
  let last = await loadOverview();

  // Live: poll the run's counts; when they move, read the overview, facets and the page again.
  const live = document.getElementById("live");
  const timer = setInterval(async () => {
    try {
      const now = await api.status(runId);
      if (now.trials !== last.trials || now.finished_trials !== last.finished_trials) {
        last = await loadOverview();
        await loadFacets();
        await loadTrials();
        live.textContent = `updated ${new Date().toLocaleTimeString()}`;
      }
      renderHead(now);
      last = now;
    } catch (err) {
      live.textContent = `live refresh failed: ${err.message}`;
    }
  }, POLL_MS);
  live.textContent = "live";
  return () => clearInterval(timer);
}
