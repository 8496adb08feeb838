// Access data: what is loaded, and an import upload with progress and its outcome.

import { call, upload } from "../api.js";
import { field, fill, guard, h, metrics, num, poll, showError, writable } from "../dom.js";

const FINISHED = new Set(["SUCCESS", "ERROR"]);

function countRows(counts) {
  return [
    ["Identities", num(counts.identities), "identities"],
    ["Entitlements", num(counts.entitlements), "entitlements"],
    ["Sources", num(counts.sources), "sources"],
    ["Assignments", num(counts.assignments), "assignments"],
    ["Usage rows", num(counts.usage), "usage"],
    ["Roles", num(counts.roles), "roles"],
  ];
}

/** Renders the access-data page. */
export async function render(page) {
  const totals = h("section", { id: "totals", "aria-labelledby": "totals-title" }, h("h2", { id: "totals-title" }, "Loaded access data"), h("p", {}, "Loading…"));
  fill(page, h("h1", {}, "Access data"), totals, writable(() => uploader(totals)));
  await refresh(totals);
}

async function refresh(totals) {
  const counts = await guard("Reading the totals", () => call("GET", "/rolemine/v1/access-data"));
  if (counts) fill(totals, h("h2", { id: "totals-title" }, "Loaded access data"), metrics(countRows(counts)));
}

function uploader(totals) {
  const file = h("input", { type: "file", id: "import-file", accept: ".zip,application/zip", required: true });
  const progress = h("progress", { id: "upload-progress", max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const outcome = h("div", { id: "import-result", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "upload" }, "Upload and import");
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const chosen = file.files[0];
        if (!chosen) return;
        submit.disabled = true;
        progress.hidden = false;
        progress.value = 0;
        fill(outcome, h("p", {}, `Uploading ${chosen.name} (${num(chosen.size)} bytes)…`));
        try {
          const created = await upload("/rolemine/v1/imports", chosen, (sent, size) => {
            progress.value = Math.round((100 * sent) / size);
          });
          progress.value = 100;
          show(outcome, created);
          poll(outcome, 500, async () => {
            const state = await call("GET", `/rolemine/v1/imports/${created.id}`);
            show(outcome, state);
            if (FINISHED.has(state.state)) {
              if (state.state === "SUCCESS") await refresh(totals);
              submit.disabled = false;
              return false;
            }
            return true;
          });
        } catch (err) {
          submit.disabled = false;
          fill(outcome);
          showError(err, "Uploading the import");
        }
      },
    },
    field("Import zip", file, "identities.csv, entitlements.csv, assignments.csv and optional usage/roles files, as in the access-data format"),
    progress,
    h("div", {}, submit),
  );
  return h("section", { "aria-labelledby": "import-title" }, h("h2", { id: "import-title" }, "Import"), form, outcome);
}

function show(outcome, record) {
  fill(
    outcome,
    h("p", {}, "Import ", h("code", {}, record.id), ": ", h("span", { class: `state state-${record.state}`, id: "import-state" }, record.state)),
    record.counts ? metrics(countRows(record.counts)) : null,
    record.errors && record.errors.length
      ? [
          h("p", {}, `${num(record.errorTotal)} ${record.errorTotal === 1 ? "problem" : "problems"}; nothing was imported.`,
            record.errorTotal > record.errors.length ? ` The first ${record.errors.length}:` : ""),
          h("ul", { id: "import-errors" }, record.errors.map((text) => h("li", {}, text))),
        ]
      : null,
    record.warnings && record.warnings.length ? h("ul", { class: "muted" }, record.warnings.map((text) => h("li", {}, text))) : null,
  );
}
