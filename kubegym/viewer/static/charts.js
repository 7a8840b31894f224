// Charts drawn as SVG from the API's numbers: performance profiles and a trial's validate scores.

import { h, s, clear, fmt } from "./dom.js";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const W = 520, H = 300, L = 48, R = 12, T = 12, B = 40;

export function colour(i) { return COLOURS[i % COLOURS.length]; }

function axes(svg, xMax, yMin, yMax, xLabel, yLabel) {
  const x = (v) => L + (v / (xMax || 1)) * (W - L - R);
  const y = (v) => H - B - ((v - yMin) / ((yMax - yMin) || 1)) * (H - T - B);
  svg.append(s("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  svg.append(s("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (let i = 0; i <= 4; i++) {
    const xv = (xMax * i) / 4, yv = yMin + ((yMax - yMin) * i) / 4;
    svg.append(s("text", { x: x(xv), y: H - B + 16, class: "tick", "text-anchor": "middle" }, fmt(xv, 2)));
    svg.append(s("text", { x: L - 6, y: y(yv) + 4, class: "tick", "text-anchor": "end" }, fmt(yv, 2)));
    svg.append(s("line", { x1: L, y1: y(yv), x2: W - R, y2: y(yv), class: "grid" }));
  }
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 6, class: "label", "text-anchor": "middle" }, xLabel));
  svg.append(s("text", { x: 12, y: (T + H - B) / 2, class: "label", "text-anchor": "middle", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, yLabel));
  return { x, y };
}

// One profile (rho over tau) per agent, with a legend whose boxes toggle agents
// and a hover line that names the nearest agent and its value.
export function profileChart(title, tau, curves, hidden) {
  const agents = Object.keys(curves);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  const { x, y } = axes(svg, tau[tau.length - 1], 0, 1, "τ (log10 of the performance ratio)", "ρ(τ): share of tasks");
  const paths = {};
  agents.forEach((agent, i) => {
    let d = "";
    curves[agent].forEach((v, k) => {
      d += (k === 0 ? `M${x(tau[k])},${y(v)}` : `H${x(tau[k])}V${y(v)}`);
    });
    const path = s("path", { d, class: "curve", stroke: colour(i), "data-agent": agent }, s("title", {}, agent));
    if (hidden.has(agent)) path.classList.add("hidden");
    paths[agent] = path;
    svg.append(path);
  });
  const marker = s("line", { x1: 0, x2: 0, y1: T, y2: H - B, class: "hover-line hidden" });
  svg.append(marker);
  const readout = h("div", { class: "hover", "data-role": "hover" }, "Hover over the chart for values.");
  svg.addEventListener("mousemove", (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * W;
    const py = ((event.clientY - box.top) / box.height) * H;
    const t = Math.max(0, Math.min(tau[tau.length - 1], ((px - L) / (W - L - R)) * tau[tau.length - 1]));
    let k = 0;
    while (k + 1 < tau.length && tau[k + 1] <= t) k++;
    let best = null;
    for (const agent of agents) {
      if (hidden.has(agent)) continue;
      const dist = Math.abs(y(curves[agent][k]) - py);
      if (best === null || dist < best.dist) best = { agent, dist, value: curves[agent][k] };
    }
    marker.setAttribute("x1", x(tau[k])); marker.setAttribute("x2", x(tau[k]));
    marker.classList.remove("hidden");
    readout.textContent = best ? `${best.agent}: ρ = ${fmt(best.value, 3)} at τ = ${fmt(tau[k], 3)}` : "";
  });
  const legend = h("div", { class: "legend" }, agents.map((agent, i) => {
    const box = h("input", { type: "checkbox", "data-agent": agent });
    box.checked = !hidden.has(agent);
    box.addEventListener("change", () => {
      if (box.checked) hidden.delete(agent); else hidden.add(agent);
      document.querySelectorAll("path.curve").forEach((p) => {
        if (p.getAttribute("data-agent") === agent) p.classList.toggle("hidden", !box.checked);
      });
      document.querySelectorAll(".legend input").forEach((other) => {
        if (other.getAttribute("data-agent") === agent) other.checked = box.checked;
      });
    });
    return h("label", { class: "swatch" }, box, h("span", { class: `dot c${i % COLOURS.length}` }), agent);
  }));
  return h("figure", { class: "profile" }, h("figcaption", {}, title), svg, readout, legend);
}

// A trial's validate and submit scores over its steps (the primary metric).
export function scoreChart(scores, metric) {
  const points = scores
    .map((sc) => ({ step: sc.step, value: sc.metrics ? sc.metrics[metric] : undefined, action: sc.action }))
    .filter((p) => typeof p.step === "number" && typeof p.value === "number");
  if (!points.length) return h("p", { class: "muted" }, "No scored validate or submit.");
  const values = points.map((p) => p.value);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 1; hi += 1; }
  const xMax = Math.max(...points.map((p) => p.step), 1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart small", role: "img", "aria-label": "validate scores" });
  const { x, y } = axes(svg, xMax, lo, hi, "step", metric);
  svg.append(s("path", { d: points.map((p, i) => `${i ? "L" : "M"}${x(p.step)},${y(p.value)}`).join(""), class: "curve", stroke: colour(0) }));
  for (const p of points) {
    svg.append(s("circle", { cx: x(p.step), cy: y(p.value), r: 4, class: p.action === "submit" ? "pt submit" : "pt" },
      s("title", {}, `step ${p.step} ${p.action || ""}: ${fmt(p.value, 4)}`)));
  }
  return h("figure", { class: "scores" }, h("figcaption", {}, `${metric} at each validate/submit`), svg);
}

export { clear };
