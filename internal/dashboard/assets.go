package dashboard

// pageStyle is the page's only style sheet, inline (the Content-Security-
// Policy allows exactly its hash).
const pageStyle = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5rem 2rem;color:#1b1f24;background:#fff}
h1{font-size:1.4rem;margin:1rem 0 .2rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.meta,.small,small{color:#57606a;font-size:.85em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #d0d7de}
th{background:#f6f8fa;font-weight:600}table.small{width:auto}caption{text-align:left;color:#57606a;padding:.3rem 0}
#totals dl{display:flex;flex-wrap:wrap;gap:1.5rem;margin:.5rem 0}#totals dt{color:#57606a;font-size:.85em}#totals dd{margin:0;font-size:1.3rem;font-weight:600}
.state{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.85em;font-weight:600;border:1px solid}
.state.live{color:#1a7f37;border-color:#1a7f37}.state.sleeping{color:#6e40c9;border-color:#6e40c9}
.state.queued{color:#9a6700;border-color:#9a6700}.state.expired,.state.removed{color:#57606a;border-color:#8c959f}
.tag{font-size:.8em;border:1px solid #8c959f;border-radius:.3rem;padding:0 .3rem}
.alert{border:1px solid #cf222e;background:#ffebe9;padding:.5rem 1rem;margin:.75rem 0}
.warn{border:1px solid #9a6700;background:#fff8c5;padding:.25rem 1rem;margin:.75rem 0}
.notice{border:1px solid #1a7f37;background:#dafbe1;padding:.5rem 1rem}
.error{color:#cf222e}form.wake{margin:.3rem 0 0}td.links{white-space:nowrap}code{font-size:.9em}
`

// pageScript keeps the relative times current between reloads, on the
// server's clock (the offset of the page's generation time); the page
// reads the same without it.
const pageScript = `(function(){
var g=document.getElementById("generated");
var off=g?Date.parse(g.getAttribute("datetime"))-Date.now():0;if(isNaN(off))off=0;
function span(ms){var m=Math.floor(ms/60000);if(m<1)return "<1m";if(m<60)return m+"m";var h=Math.floor(m/60);
if(h<24){m=m%60;return h+"h"+(m?m+"m":"");}var d=Math.floor(h/24);h=h%24;return d+"d"+(h?h+"h":"");}
function tick(){var now=Date.now()+off;document.querySelectorAll("time[data-at]").forEach(function(e){
var t=Date.parse(e.getAttribute("data-at"));if(isNaN(t))return;var d=t-now;e.textContent=d<=0?span(-d)+" ago":"in "+span(d);});}
document.documentElement.dataset.ticking="1";setInterval(tick,15000);})();`
