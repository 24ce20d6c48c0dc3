/** The report page's stylesheet, inlined into the HTML by renderReport. */
export const REPORT_CSS = `
:root {
  --bg: #f4f5f7;
  --card: #ffffff;
  --ink: #1c2430;
  --muted: #5b6573;
  --line: #e2e5ea;
  --accent: #2563eb;
  --good: #15803d;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px;
  color: var(--ink);
  background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 15px; margin: 0 0 2px; font-weight: 620; }
h3 { font-size: 13px; margin: 0 0 4px; font-weight: 600; color: var(--muted); }
.page-header { max-width: 1480px; margin: 0 auto 18px; }
.title-row { display: flex; align-items: center; justify-content: space-between; gap: 16px;
  margin-bottom: 14px; flex-wrap: wrap; }
.button { display: inline-block; padding: 7px 14px; border-radius: 6px; background: var(--accent);
  color: #fff; text-decoration: none; font-weight: 560; font-size: 13px; }
.button:hover { filter: brightness(1.1); }
.button[aria-disabled="true"] { background: #9aa3ae; pointer-events: none; }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px; }
.stat-card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; min-width: 0; }
.stat-card .label { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em;
  color: var(--muted); margin-bottom: 4px; }
.stat-card .value { font-size: 16px; font-weight: 620; overflow-wrap: anywhere; }
.stat-card .detail { font-size: 12px; color: var(--muted); margin-top: 3px; overflow-wrap: anywhere; }
.stat-card.highlight { border-color: #86efac; background: #f0fdf4; }
.stat-card.highlight .value { color: var(--good); font-size: 22px; }
.settings-line { grid-column: 1 / -1; font-size: 12px; color: var(--muted); }
.grid { max-width: 1480px; margin: 0 auto; display: grid;
  grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
@media (max-width: 980px) { .grid { grid-template-columns: minmax(0, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px 12px; min-width: 0; }
.card.wide { grid-column: 1 / -1; }
.caption { margin: 0 0 8px; color: var(--muted); font-size: 12px; line-height: 1.4; }
section:not(.chart-section) > .caption:empty { display: none; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 14px 22px; }
.panel { min-width: 0; }
.no-data { color: var(--muted); font-style: italic; margin: 18px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 6px; margin: 2px 0 4px; }
.legend button { display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--line);
  background: #fff; border-radius: 999px; padding: 2px 9px 2px 7px; font: inherit; font-size: 12px;
  color: var(--ink); cursor: pointer; }
.legend button[aria-pressed="false"] { opacity: 0.45; text-decoration: line-through; }
.legend .swatch { width: 14px; height: 3px; border-radius: 2px; flex: none; }
.legend .swatch.dot { width: 9px; height: 9px; border-radius: 50%; }
.legend .swatch.box { width: 10px; height: 10px; border-radius: 2px; }
.legend .hint { font-size: 11px; color: var(--muted); align-self: center; margin-left: 4px; }
svg.chart { width: 100%; height: auto; display: block; overflow: visible; }
svg.chart text { font-family: inherit; }
.axis text { font-size: 11px; fill: #4b5563; }
.axis path, .axis line { stroke: #9ca3af; }
.grid-lines line { stroke: #eef0f3; }
.grid-lines path { display: none; }
.axis-label { font-size: 12px; fill: #374151; font-weight: 540; }
.ref-label { font-size: 10.5px; fill: #6b7280; }
.mark { cursor: default; }
.mark:focus { outline: none; stroke: #111 !important; stroke-width: 2px !important; }
.off { display: none; }
#tooltip { position: absolute; pointer-events: none; background: rgba(17, 24, 39, 0.94); color: #f9fafb;
  padding: 7px 9px; border-radius: 6px; font-size: 12px; line-height: 1.45; max-width: 340px;
  box-shadow: 0 4px 14px rgba(0, 0, 0, 0.2); z-index: 10; overflow-wrap: anywhere; }
#tooltip div:first-child { font-weight: 600; }
.table-wrap { overflow: auto; max-height: 560px; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 5px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th:first-child, td:first-child { padding-left: 9px; }
td.num, th.num { text-align: right; }
thead th { position: sticky; top: 0; background: #f8fafc; z-index: 1; }
thead th button { all: unset; cursor: pointer; font-weight: 600; }
thead th button:focus-visible { outline: 2px solid var(--accent); }
thead th[aria-sort="ascending"] button::after { content: " \\25B2"; font-size: 9px; }
thead th[aria-sort="descending"] button::after { content: " \\25BC"; font-size: 9px; }
tbody tr:hover { background: #f5f8ff; }
tr.best td { background: #f0fdf4; }
.mini-table { margin-top: 8px; width: auto; }
.why { margin: 10px 0 0; padding-left: 18px; font-size: 13px; line-height: 1.45; }
.why li { margin: 2px 0; }
.mini-table td, .mini-table th { padding: 3px 14px 3px 0; border: none; background: none; position: static; }
.prompt { border-top: 1px solid var(--line); padding: 8px 0; }
.prompt:first-child { border-top: none; }
.prompt .meta { font-size: 12px; color: var(--muted); margin-bottom: 3px; }
.prompt pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px;
  background: #f8fafc; border-radius: 6px; padding: 6px 8px; max-height: 140px; overflow: auto; }
.measure-controls { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 8px 14px; margin: 8px 0; }
.measure-field { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
.measure-field select, .measure-field input { font: inherit; color: var(--ink); padding: 3px 5px; }
button.button { border: none; cursor: pointer; font-family: inherit; }
button.button:disabled { background: #9aa3ae; cursor: default; }
.measure-adapter, .measure-progress { font-size: 12px; margin: 4px 0; overflow-wrap: anywhere; }
.measure-results .table-wrap { margin: 10px 0; }
.page-footer { max-width: 1480px; margin: 18px auto 0; color: var(--muted); font-size: 12px; }
`;
