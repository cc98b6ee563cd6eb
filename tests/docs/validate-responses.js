// validate-responses.js OPENAPI.json LOG...
// Checks every response the integration tests logged (RESPONSE_LOG: one JSON
// line per response with method, url, status, content_type, body) against the
// document: the route and status must be documented, the content type must be
// one the document gives, and a JSON body must match the schema (JSON Schema
// 2020-12 with ajv; the document's schemas forbid undocumented fields).
// Responses outside the documented paths (unknown paths, nchan, the static
// docs) only have to be the API's error shape when they are JSON errors.
// Prints each distinct problem once with a count; exit status 1 on any.
"use strict";
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const [docFile, ...logs] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(docFile, "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema(doc, "openapi.json");

const esc = (s) => s.replace(/~/g, "~0").replace(/\//g, "~1");
const resolve = (obj) => {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, "").split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    obj = parts.reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return obj;
};

// documented paths, most specific first: a literal segment beats a parameter
const templates = Object.keys(doc.paths || {}).map((path) => {
  const segs = path.split("/").slice(1);
  return { path, segs, literal: segs.map((s) => !s.startsWith("{")) };
});
function matchPath(path) {
  const segs = path.split("/").slice(1);
  let best = null;
  for (const t of templates) {
    if (t.segs.length !== segs.length) continue;
    if (!t.segs.every((s, i) => !t.literal[i] || s === segs[i])) continue;
    if (!best) { best = t; continue; }
    for (let i = 0; i < segs.length; i++)
      if (t.literal[i] !== best.literal[i]) { if (t.literal[i]) best = t; break; }
  }
  return best;
}

const validators = new Map();
function validatorFor(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.getSchema(`openapi.json#${ref}`) || ajv.compile({ $ref: `openapi.json#${ref}` }));
  return validators.get(ref);
}
const ERROR_REF = "/components/schemas/Error";

const problems = new Map();
let checked = 0, outside = 0;
const problem = (msg) => problems.set(msg, (problems.get(msg) || 0) + 1);

function checkJson(where, schemaRef, body) {
  let value;
  try { value = JSON.parse(body); } catch (e) { return problem(`${where}: body is not JSON: ${body.slice(0, 80)}`); }
  const v = validatorFor(schemaRef);
  if (!v(value))
    for (const e of v.errors.slice(0, 3))
      problem(`${where}: ${e.instancePath || "(body)"} ${e.message}` +
        (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
}

for (const log of logs) {
  for (const line of fs.readFileSync(log, "utf8").split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line);
    const url = new URL(r.url);
    // the router ignores one trailing slash ("/api/notifications/" is the list)
    if (url.pathname.length > 1 && url.pathname.endsWith("/")) url.pathname = url.pathname.slice(0, -1);
    const ctype = (r.content_type || "").split(";")[0].trim();
    const t = matchPath(url.pathname);
    const method = r.method.toLowerCase();
    checked++;
    if (!t || !doc.paths[t.path][method === "head" ? "get" : method]) {
      // not a documented operation: 404/405/400... must still be the error shape
      if (ctype === "application/json" && r.status >= 400 && r.body)
        checkJson(`${r.method} ${t ? t.path : "(undocumented path)"} ${r.status}`, ERROR_REF, r.body);
      else outside++;
      continue;
    }
    const opMethod = method === "head" ? "get" : method;
    const where = `${r.method} ${t.path} ${r.status}`;
    const opRef = `/paths/${esc(t.path)}/${opMethod}`;
    const responses = doc.paths[t.path][opMethod].responses || {};
    const key = String(r.status) in responses ? String(r.status) : `${String(r.status)[0]}XX` in responses ? `${String(r.status)[0]}XX` : "default" in responses ? "default" : null;
    if (!key) { problem(`${where}: status not documented`); continue; }
    const resp = resolve(responses[key]);
    const content = resp.content || {};
    if (method === "head" || !r.body) {
      if (r.body && !Object.keys(content).length) problem(`${where}: documented without a body, got ${ctype}`);
      continue;
    }
    if (!Object.keys(content).length) { problem(`${where}: documented without a body, got ${ctype}`); continue; }
    const media = Object.keys(content).find((m) => m.split(";")[0].trim() === ctype);
    if (!media) { problem(`${where}: content type ${ctype} not documented (${Object.keys(content).join(", ")})`); continue; }
    if (ctype !== "application/json" || !content[media].schema) continue;
    // the schema's pointer: through the response's own $ref when it has one
    const respRef = responses[key].$ref ? responses[key].$ref.replace(/^#/, "") : `${opRef}/responses/${esc(key)}`;
    checkJson(where, `${respRef}/content/${esc(media)}/schema`, r.body);
  }
}

const sorted = [...problems.entries()].sort((a, b) => b[1] - a[1]);
for (const [msg, n] of sorted) console.log(`INVALID ${msg}${n > 1 ? ` (x${n})` : ""}`);
console.log(`${checked} responses checked (${outside} outside the documented API), ${sorted.length} distinct problem(s)`);
process.exit(sorted.length ? 1 : 0);
