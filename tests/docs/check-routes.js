// check-routes.js ROUTES.json OPENAPI.json
// Compares the router table (pixelcraft-api --routes) with the OpenAPI
// document: the same methods and paths, nothing missing and nothing extra,
// the same auth level (x-pixelcraft-auth) with matching `security`, and the
// statuses that level and the rate limit imply (401, 403, 429).
// Prints one line per problem; exit status 1 when there is any.
"use strict";
const fs = require("fs");

const [routesFile, docFile] = process.argv.slice(2);
const routes = JSON.parse(fs.readFileSync(routesFile, "utf8"));
const doc = JSON.parse(fs.readFileSync(docFile, "utf8"));
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const SECURITY = {
  public: [],
  internal: [],
  optional: [{}, { bearerAuth: [] }],
  required: [{ bearerAuth: [] }],
  admin: [{ bearerAuth: [] }],
};

const problems = [];
const documented = new Map();
for (const [path, item] of Object.entries(doc.paths || {}))
  for (const m of METHODS) if (item[m]) documented.set(`${m.toUpperCase()} ${path}`, item[m]);

for (const r of routes) {
  const key = `${r.method} ${r.path}`;
  const op = documented.get(key);
  if (!op) {
    problems.push(`${key}: in the router (auth ${r.auth}) but not in the document`);
    continue;
  }
  documented.delete(key);
  if (op["x-pixelcraft-auth"] !== r.auth)
    problems.push(`${key}: auth is ${r.auth} in the router, ${op["x-pixelcraft-auth"]} in the document`);
  const security = op.security ?? doc.security ?? [];
  if (JSON.stringify(security) !== JSON.stringify(SECURITY[r.auth]))
    problems.push(`${key}: security ${JSON.stringify(security)} does not match auth ${r.auth}` +
      ` (expected ${JSON.stringify(SECURITY[r.auth])})`);
  const statuses = Object.keys(op.responses || {});
  const need = [];
  if (["optional", "required", "admin"].includes(r.auth)) need.push("401");
  if (r.auth === "admin") need.push("403");
  if (r.limit !== "none") need.push("429");
  for (const s of need)
    if (!statuses.includes(s)) problems.push(`${key}: no ${s} response documented`);
  if (r.limit === "none" && statuses.includes("429"))
    problems.push(`${key}: documents 429 but the route is never rate-limited`);
}
for (const key of documented.keys()) problems.push(`${key}: documented but not in the router`);

for (const p of problems) console.log(`DRIFT ${p}`);
console.log(`${routes.length} routes in the router, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
