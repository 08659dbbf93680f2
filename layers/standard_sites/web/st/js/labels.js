// What the server declares, loaded once before the tabs render: the case types' Chinese labels (GET /api/cases,
// from each case declaration) and the districts in the account's scope (GET /api/divisions/districts, from the
// districts layer).
// The objects below are filled in place, so the tab configs that hold them show the server's words.
import { api } from "/static/console/http.js";

export const DISTRICTS = [];
const cases = new Map();

// {title, states, actions} of one case type (e.g. "st_report"); the history's "create" is a record's first line.
export function caseLabels(kind) {
  if (!cases.has(kind)) cases.set(kind, { title: "", states: {}, actions: { create: "新建" } });
  return cases.get(kind);
}

let loading = null;

// The case labels once; the districts at every sign-in, as they follow the account's scope (a district account is
// offered its own district, a city-wide one all of them).
export function loadLabels() {
  loading ??= api("/api/cases").then((c) => {
    for (const t of c.types) {
      const l = caseLabels(t.kind);
      l.title = t.title;
      Object.assign(l.states, t.states);
      Object.assign(l.actions, t.actions);
    }
  }).catch((e) => { loading = null; throw e; });
  const districts = api("/api/divisions/districts").then((d) => {
    DISTRICTS.splice(0, DISTRICTS.length, ...d.districts.filter((x) => x.in_scope).map((x) => x.name));
  });
  return Promise.all([loading, districts]);
}
