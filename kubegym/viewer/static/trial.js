// One trial step by step (thought, action, observation, edits as diffs, tokens and cost),
// its validate scores as a chart, and two trials side by side.

import * as api from "./api.js";
import { h, clear, put, fmt, runPath, trialPath, section } from "./dom.js";
import { scoreChart } from "./charts.js";

const PAGE = 50;
const POLL_MS = 2000;

function diffView(edit) {
  const lines = edit.diff.split("\n").map((line) => {
    let cls = "ctx";
    if (line.startsWith("+++") || line.startsWith("---")) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    return h("span", { class: `diff-${cls}` }, line + "\n");
  });
  return h("div", { class: "edit" }, h("div", { class: "edit-path" }, edit.path),
    h("pre", { class: "diff" }, lines),
    edit.length > edit.diff.length ? h("p", { class: "muted" }, `diff cut at ${fmt(edit.diff.length)} of ${fmt(edit.length)} characters`) : null);
}

function textBlock(runId, trialId, step, name) {
  const pre = h("pre", { class: `field field-${name}` }, step[name]);
  const length = step.lengths[name];
  if (!step.truncated.includes(name)) return pre;
  const more = h("button", { class: "show-all" }, `show all (${fmt(length)} characters)`);
  more.addEventListener("click", async () => {
    const full = await api.stepField(runId, trialId, step.index, name);
    pre.textContent = full.text;
    more.replaceWith(full.truncated ? h("p", { class: "muted" }, `shown: first ${fmt(full.text.length)} of ${fmt(full.length)} characters`) : "");
  });
  return h("div", {}, pre, more);
}

function stepView(runId, trialId, step) {
  if (step.error) {
    return h("article", { class: "step error", "data-step": step.step }, h("h3", {}, `step ${step.step}`), h("p", {}, step.error));
  }
  const score = step.score ? h("p", { class: "step-score" }, `score: ${JSON.stringify(step.score)}`) : null;
  return h("article", { class: "step", "data-step": step.step },
    h("h3", {}, `step ${step.step}`,
      h("span", { class: "step-meta" }, ` · ${fmt(step.prompt_tokens)} prompt + ${fmt(step.completion_tokens)} completion tokens · ${fmt(step.cost_usd, 5)} USD · ${fmt(step.seconds, 2)} s · exit ${fmt(step.exit_code)}`)),
    step.thought ? h("div", { class: "label" }, "thought") : null,
    step.thought ? textBlock(runId, trialId, step, "thought") : null,
    h("div", { class: "label" }, "action"), textBlock(runId, trialId, step, "action"),
    h("div", { class: "label" }, "observation"), textBlock(runId, trialId, step, "observation"),
    step.edits.length ? h("div", { class: "label" }, `files edited (${step.edits.length})`) : null,
    step.edits.map(diffView),
    score);
}

// Draws the trial into `box` (emptied first); returns its info, with refreshSteps() when
// it has steps: read the shown page's count again and redraw the last page if it grew.
async function trialPanel(box, runId, trialId) {
  const info = await api.trial(runId, trialId);
  const r = info.row;
  put(clear(box),
    h("h1", {}, h("a", { href: trialPath(runId, trialId), "data-nav": "" }, r.trial)),
    h("p", { class: "trial-meta" }, `run `, h("a", { href: runPath(runId), "data-nav": "" }, runId),
      ` · task ${r.task || "–"} · agent ${r.agent || "–"} · seed ${fmt(r.seed)} · attempt ${fmt(r.attempt)}`),
    h("p", { class: "trial-outcome" }, `${r.exit_reason || "–"}${r.failure_class ? ` (${r.failure_class} failure)` : ""} · score ${fmt(r.score, 4)} · best attempt ${fmt(r.best_attempt, 4)} · ${fmt(r.steps)} steps · ${fmt(r.prompt_tokens)} + ${fmt(r.completion_tokens)} tokens · ${fmt(r.cost_usd, 4)} USD`),
    info.message ? h("p", { class: "message" }, info.message) : null,
    scoreChart(info.scores, r.primary_metric || ""));
  const stepsBox = h("div", { class: "steps" });
  box.append(section("Steps", stepsBox));
  if (!info.has_trajectory) {
    stepsBox.append(h("p", { class: "muted" }, info.trajectory_error || (r.state === "running" ? "No steps yet." : "No trajectory recorded.")));
    return info;
  }
  let shownPage = null;
  async function load(start) {
    const page = await api.steps(runId, trialId, start, PAGE);
    shownPage = page;
    const prev = h("button", { "data-role": "prev-steps" }, "← earlier steps");
    const next = h("button", { "data-role": "next-steps" }, "later steps →");
    if (start === 0) prev.setAttribute("disabled", "");
    if (page.next === null) next.setAttribute("disabled", "");
    prev.addEventListener("click", () => load(Math.max(0, start - PAGE)));
    next.addEventListener("click", () => load(page.next));
    const shown = page.steps.length ? `${page.start + 1}–${page.start + page.steps.length}` : "none";
    put(clear(stepsBox), h("p", { class: "muted steps-count" }, `steps ${shown} of ${fmt(page.total)}`),
      h("div", { class: "pager" }, prev, next),
      page.steps.map((step) => stepView(runId, trialId, step)),
      h("div", { class: "pager" }, next.cloneNode(true)));
    stepsBox.lastChild.firstChild.addEventListener("click", () => load(page.next));
    if (page.next === null) stepsBox.lastChild.firstChild.setAttribute("disabled", "");
  }
  await load(0);
  info.refreshSteps = async () => {
    const now = await api.steps(runId, trialId, shownPage.start, PAGE);
    if (now.total === shownPage.total) return false;
    // Only the last page gains steps; an earlier page keeps what its reader is reading.
    if (shownPage.next === null) await load(shownPage.start);
    else stepsBox.querySelector(".steps-count").textContent = `steps ${shownPage.start + 1}–${shownPage.start + shownPage.steps.length} of ${fmt(now.total)}`;
    return true;
  };
  return info;
}

// A running trial's page follows it: new steps appear, and its outcome once it finishes.
export async function trialView(main, runId, trialId) {
  const box = h("div", { class: "trial" });
  main.append(box);
  let info = await trialPanel(box, runId, trialId);
  if (info.row.state !== "running") return () => {};
  const live = document.getElementById("live");
  live.textContent = "live";
  const timer = setInterval(async () => {
    try {
      const now = await api.trial(runId, trialId);
      if (now.row.state !== "running" || now.has_trajectory !== info.has_trajectory) {
        info = await trialPanel(box, runId, trialId);
        if (info.row.state !== "running") {
          clearInterval(timer);
          live.textContent = "finished";
          return;
        }
      } else if (info.refreshSteps && await info.refreshSteps()) {
        live.textContent = `updated ${new Date().toLocaleTimeString()}`;
      }
    } catch (err) {
      live.textContent = `live refresh failed: ${err.message}`;
    }
  }, POLL_MS);
  return () => clearInterval(timer);
}

export async function compareView(main, a, b) {
  const split = (v) => { const at = v.indexOf("/"); return at < 0 ? null : [v.slice(0, at), v.slice(at + 1)]; };
  const left = split(a), right = split(b);
  if (!left || !right) { main.append(h("p", { class: "error" }, "Give two trials: /compare?a=RUN/TRIAL&b=RUN/TRIAL")); return; }
  const boxes = [h("div", { class: "trial side", id: "compare-a" }), h("div", { class: "trial side", id: "compare-b" })];
  main.append(h("div", { class: "compare" }, ...boxes));
  await Promise.all([trialPanel(boxes[0], ...left), trialPanel(boxes[1], ...right)]);
}
