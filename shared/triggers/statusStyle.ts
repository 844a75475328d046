import { createHash } from 'node:crypto';
import { Html } from './statusHtml';

// The status page's stylesheet, and the CSP that lets nothing but it load (no script, no external resource).

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .2rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{background:#f0f0f0;font-weight:600}code{font-size:12px}
.critical{color:#fff;background:#b00020;padding:0 .4rem;border-radius:3px}
.warning{background:#ffd54f;padding:0 .4rem;border-radius:3px}
.ok{background:#c8e6c9;padding:0 .4rem;border-radius:3px}
progress{width:16rem;height:1rem}.muted{color:#666}.empty{color:#666;font-style:italic}
.error{color:#fff;background:#d84315;padding:0 .4rem;border-radius:3px}
td,th,p,div{overflow-wrap:break-word}td code{word-break:break-all}.nowrap{white-space:nowrap}
.next{font-size:12px;color:#333;margin-top:.2rem}.cause{font-weight:600}.why,.cause,.next{overflow-wrap:anywhere}
time{text-decoration:underline dotted}
@media (max-width:760px){body{margin:.6rem}table,tbody,tr,td{display:block;width:auto}
tr:has(>th){display:none}tr{border:1px solid #e3e3e3;margin:0 0 .6rem}td{border:0;padding:.15rem .5rem}
td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#555}progress{width:100%}
td,p,div{overflow-wrap:anywhere}td[data-blank]{display:none}}
`.trim();

/** The stylesheet element, built outside the page template so formatting never changes its bytes (its hash). */
export const STYLE = new Html(`<style>${CSS}</style>`);

/** The CSP the page is served with: nothing but its own inline stylesheet (by hash) may load. */
export const STATUS_PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
