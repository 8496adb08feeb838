// Charts on the vendored Chart.js (window.Chart, loaded by index.html). Every chart comes with
// its numbers as a table in a disclosure, for screen readers and for anyone who wants them.

import { h, num } from "./dom.js";

const PRIMARY = "#2f6fb2";
const MARKED = "#d9822b";

/**
 * A bar chart figure. `bars` are {label, value, marked?}; marked bars get the second colour
 * and `legend` explains both colours. `horizontal` suits long labels.
 */
export function barChart(id, title, bars, { horizontal = false, valueLabel = "value", legend, height } = {}) {
  const canvas = h("canvas", { id, role: "img", "aria-label": `${title}: ${bars.length} bars` });
  const rows = Math.max(bars.length, 1);
  const box = h("div", { class: "chart-box", style: `height:${height || (horizontal ? Math.min(40 + rows * 18, 900) : 260)}px` }, canvas);
  const figure = h(
    "figure",
    { class: "chart", dataset: { chart: id } },
    h("figcaption", {}, title),
    legend ? h("p", { class: "legend" }, legend.map(([colour, text]) => h("span", { class: `key key-${colour}` }, text))) : null,
    bars.length ? box : h("p", { class: "empty" }, "No data."),
    h(
      "details",
      {},
      h("summary", {}, "Numbers"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "label"), h("th", { scope: "col" }, valueLabel))),
        h("tbody", {}, bars.map((bar) => h("tr", {}, h("td", {}, bar.label), h("td", {}, num(bar.value, 2))))),
      ),
    ),
  );
  if (bars.length) draw(canvas, horizontal, bars, valueLabel);
  return figure;
}

function draw(canvas, horizontal, bars, valueLabel) {
  const build = () => {
    if (!canvas.isConnected) {
      setTimeout(build, 10);
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: bars.map((bar) => bar.label),
        datasets: [
          {
            label: valueLabel,
            data: bars.map((bar) => bar.value),
            backgroundColor: bars.map((bar) => (bar.marked ? MARKED : PRIMARY)),
          },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: false } },
        scales: { [horizontal ? "x" : "y"]: { beginAtZero: true } },
      },
    });
  };
  setTimeout(build, 0);
}
