// The viewer's JSON API, one function per endpoint (kubegym/viewer/app.py).

async function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") query.set(k, v);
  const text = query.toString();
  const response = await fetch(path + (text ? "?" + text : ""), { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

const enc = encodeURIComponent;

export const runs = () => get("/api/runs");
export const run = (id) => get(`/api/runs/${enc(id)}`);
export const status = (id) => get(`/api/runs/${enc(id)}/status`);
export const facets = (id) => get(`/api/runs/${enc(id)}/facets`);
export const trials = (id, params) => get(`/api/runs/${enc(id)}/trials`, params);
export const trial = (id, t) => get(`/api/runs/${enc(id)}/trials/${enc(t)}`);
export const steps = (id, t, start, limit = 50) => get(`/api/runs/${enc(id)}/trials/${enc(t)}/steps`, { start, limit });
export const stepField = (id, t, step, field) => get(`/api/runs/${enc(id)}/trials/${enc(t)}/steps/${step}`, { field });
