// The style sheet of the HTML report. Colours: Okabe-Ito, readable by colour-blind readers.

/** The report's CSS, inlined into its <style> element. */
export const CSS = `
:root{color-scheme:light;--fg:#1d1d1f;--dim:#666;--line:#d8d8d8;--bg:#fff;--panel:#f7f7f8}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{margin:0 0 4px;font-size:24px}
h2{margin:28px 0 4px;font-size:20px;border-top:2px solid var(--line);padding-top:16px}
h3{margin:22px 0 6px;font-size:16px}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{margin:0;white-space:pre-wrap;word-break:break-word}
.meta,.dim,.note{color:var(--dim)}
nav ol{margin:6px 0;padding-left:22px}
a{color:#0060a8}
.badge{display:inline-block;padding:1px 7px;border-radius:4px;font-size:12px;font-weight:700;color:#fff;vertical-align:2px}
.badge.passed{background:#007a55}.badge.failed,.badge.error{background:#c0392b}.badge.interrupted{background:#b07800}
.ok{color:#007a55;font-weight:600}.fail{color:#c0392b;font-weight:600}.warn{color:#9a5b00}
.loud{font-size:16px}
.errors{border:1px solid #e3b3ad;background:#fdf1ef;border-radius:6px;padding:4px 14px;margin:10px 0}
.errors h3{margin:6px 0}
.table-wrap{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px}
caption{text-align:left;font-weight:600;padding:4px 0;color:var(--fg)}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#444;white-space:nowrap}
td.num,table.stats td{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.num .warn{white-space:normal;display:inline-block;max-width:14em;text-align:left;font-size:12px}
.stats-row{display:flex;flex-wrap:wrap;gap:4px 28px;margin:6px 0}
.stats-row caption{font-weight:500;color:var(--dim);font-size:12.5px}
table.stats th{text-align:right}
tr.failed td{background:#fdf1ef}
tr.more td{color:var(--dim);font-style:italic}
tr.sum th,tr.sum td{font-weight:700;border-top:2px solid var(--line)}
table.ledger-table th[scope=row]{font-weight:400;white-space:normal}
ul.holders{margin:0;padding-left:16px}
details.topology{margin:10px 0}
details.topology>summary{cursor:pointer;font-weight:600}
.tables{display:flex;flex-wrap:wrap;gap:0 28px}
.workload{margin-top:14px;padding:2px 16px 12px;background:var(--panel);border-radius:8px}
.pair{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:8px 18px}
figure{margin:8px 0}
figcaption{font-size:12.5px;color:var(--dim)}
ul.notes{margin:4px 0;padding-left:20px}
svg.plot{display:block;width:100%;height:auto;background:#fff;border:1px solid var(--line);border-radius:4px}
svg text{font-size:11px;fill:#333}
svg text.label{font-size:12px;fill:#222}
svg text.empty{font-size:14px;fill:#888}
svg .grid line{stroke:#ececec}
svg .axis line{stroke:#555}
svg .cdf-line{fill:none;stroke:#0072b2;stroke-width:2}
svg line.quantile{stroke:#999;stroke-dasharray:3 3}
svg text.quantile{font-size:10.5px;fill:#555}
svg rect.fault{fill:#7b61ff;fill-opacity:.13;stroke:#7b61ff;stroke-opacity:.6;stroke-dasharray:4 3}
svg text.fault-label{font-size:10px;fill:#4b2fbf;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg rect.unserved{fill:#e69f00;fill-opacity:.2}
svg .recovery line{stroke:#007a55;stroke-width:1.5;stroke-dasharray:5 3}
svg .recovery text{fill:#007a55;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg .dots{fill:#0072b2;fill-opacity:.55}
svg .fail-marks{stroke:#d55e00;stroke-width:1.2}
svg rect.track{fill:#f1f1f1}
svg text.in-bar{fill:#fff;font-size:11px;font-weight:600}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:2px 16px;margin:4px 0;padding:0;font-size:12.5px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.k-delivered{fill:#009e73;background:#009e73}
.k-late{fill:#e69f00;background:#e69f00}
.k-lost{fill:#d55e00;background:#d55e00}
.k-lostback{fill:#8c3a00;background:#8c3a00}
.k-fault{background:#7b61ff66;border:1px dashed #7b61ff}
.k-unserved{background:#e69f0055}
.k-fault0{fill:#7b3294;background:#7b3294}.k-fault1{fill:#c51b7d;background:#c51b7d}
.k-fault2{fill:#542788;background:#542788}.k-fault3{fill:#8073ac;background:#8073ac}
.k-fault4{fill:#9e0142;background:#9e0142}.k-fault5{fill:#40004b;background:#40004b}
.k-fault-other{fill:#a6a6a6;background:#a6a6a6}
.k-overflow{fill:#0072b2;background:#0072b2}
.k-nosocket{fill:#56b4e9;background:#56b4e9}
.k-closed{fill:#cc79a7;background:#cc79a7}
.k-queue{fill:#b8a3d9;background:#b8a3d9}
.k-unexplained{fill:#000;background:#000}
footer{margin-top:32px;color:var(--dim);font-size:12px}
@media print{.workload{break-inside:avoid}}
`;
