package report

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"

	"github.com/vmtestbed/vmtestbed/sim"
)

// Colours of the timeline; tests look for them in a screenshot.
const (
	LaneColour  = "#dce7f7" // a lane's band
	ArrowColour = "#e8590c" // a message from one lane to another
)

type timelineLane struct {
	Name   string `json:"name"`
	Alias  string `json:"alias,omitempty"`
	Plugin string `json:"plugin"`
	State  string `json:"state"`
	Height uint64 `json:"height"`
	// Host marks a hypervisor host's lane (a full-stack run): it has no
	// plugin or height, only the cluster's events.
	Host bool `json:"host,omitempty"`
}

type timelineData struct {
	Lanes  []timelineLane `json:"lanes"`
	Events []sim.Event    `json:"events"`
}

// WriteTimeline writes a self-contained HTML page (inline CSS, JS and SVG;
// nothing fetched) showing the run: one lane per node, calls and decisions
// as marks on the lanes, messages as arrows from the sender's lane to the
// receiver's, drops crossed out, faults and partitions marked; zoomable
// (buttons, ctrl+wheel, or #zoom=N in the address) and laid out by event
// order or by virtual time (#x=time).
func WriteTimeline(w io.Writer, r Run) error {
	res := r.Result
	data := timelineData{Events: res.Events}
	if data.Events == nil {
		data.Events = []sim.Event{}
	}
	for _, n := range res.Nodes {
		data.Lanes = append(data.Lanes, timelineLane{Name: n.Name, Alias: n.Alias, Plugin: n.Plugin, State: n.State, Height: n.Height})
	}
	if data.Lanes == nil {
		for _, n := range res.Scenario.Topology.Nodes {
			data.Lanes = append(data.Lanes, timelineLane{Name: n.Name, Alias: n.Alias, Plugin: "?", State: "not started"})
		}
	}
	// A full-stack run's hypervisor hosts get lanes of their own, below
	// the nodes, in name order.
	known := map[string]bool{}
	for _, l := range data.Lanes {
		known[l.Name] = true
	}
	var hosts []string
	for _, e := range data.Events {
		if e.Node != "" && !known[e.Node] {
			known[e.Node] = true
			hosts = append(hosts, e.Node)
		}
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		data.Lanes = append(data.Lanes, timelineLane{Name: h, Host: true})
	}
	js, err := json.Marshal(data) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	sc := res.Scenario
	result := fmt.Sprintf(`<span class="pass">PASSED</span>: %d steps, %d expectations held`, res.StepsRun, res.Checked)
	if !res.Passed() {
		result = `<span class="fail">FAILED</span>: ` + html.EscapeString(res.Failure.Error())
	}
	stats := fmt.Sprintf("%d nodes, %d events, %s virtual", len(data.Lanes), len(res.Events), fmtTime(res.Virtual))
	if res.Nondeterministic != "" {
		stats += "; NOT deterministic: " + res.Nondeterministic
	}
	repl := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString(fmt.Sprintf("%s, seed %d", sc.Name, res.Seed)),
		"{{DESCRIPTION}}", html.EscapeString(sc.Description),
		"{{RESULT}}", result,
		"{{REPLAY}}", html.EscapeString(r.Replay),
		"{{STATS}}", html.EscapeString(stats),
		"{{LANE}}", LaneColour,
		"{{ARROW}}", ArrowColour,
		"{{DATA}}", string(js),
	)
	if _, err := io.WriteString(w, repl.Replace(timelineHTML)); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

const timelineHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vmtestbed: {{TITLE}}</title>
<style>
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#212529;background:#fff}
header{padding:10px 16px 8px;border-bottom:1px solid #dee2e6}
h1{font-size:16px;margin:0 0 2px}
.desc{color:#495057}
.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
code{font-family:ui-monospace,monospace;background:#f1f3f5;padding:1px 4px;border-radius:3px}
.bar{display:flex;gap:14px;align-items:center;flex-wrap:wrap;margin-top:6px}
.bar button{font:inherit;padding:2px 9px;border:1px solid #adb5bd;background:#f8f9fa;border-radius:4px;cursor:pointer}
.legend{display:flex;gap:12px;flex-wrap:wrap;color:#495057}
.legend svg{vertical-align:middle;margin-right:3px}
#tl{display:flex;align-items:flex-start}
#labels{flex:none;width:190px;border-right:1px solid #dee2e6;background:#fff}
.lane-label{box-sizing:border-box;display:flex;flex-direction:column;justify-content:center;padding-left:10px;overflow:hidden;white-space:nowrap}
.lane-label b{font-size:14px}.lane-label small{overflow:hidden;text-overflow:ellipsis}.lane-label small{color:#868e96}
#scroll{overflow:auto;flex:1 1 auto;max-height:calc(100vh - 150px)}
#chart{display:block}
#chart text{font:11px ui-monospace,monospace;fill:#495057}
#chart [data-i]{cursor:pointer}
#detail{font-family:ui-monospace,monospace;padding:6px 16px;border-top:1px solid #dee2e6;white-space:pre-wrap;min-height:2.8em}
</style>
</head>
<body>
<header>
<h1>{{TITLE}}</h1>
<div class="desc">{{DESCRIPTION}}</div>
<div>{{RESULT}}</div>
<div>replay: <code>{{REPLAY}}</code> &middot; {{STATS}}</div>
<div class="bar">
<span><button id="zin" title="zoom in (ctrl+wheel)">+</button> <button id="zout" title="zoom out">&minus;</button> <button id="zfit">fit</button> <button id="mode">x: event order</button></span>
<span class="legend">
<span><svg width="14" height="14"><rect x="5" y="0" width="4" height="14" fill="#1971c2"/></svg>node&rarr;plugin call</span>
<span><svg width="14" height="14"><rect x="5" y="0" width="4" height="14" fill="#7048e8"/></svg>plugin&rarr;node call</span>
<span><svg width="22" height="14"><line x1="1" y1="12" x2="20" y2="2" stroke="{{ARROW}}" stroke-width="2"/></svg>message</span>
<span><svg width="22" height="14"><line x1="1" y1="12" x2="20" y2="2" stroke="#868e96" stroke-dasharray="3 2"/><path d="M15 0l6 6M21 0l-6 6" stroke="#c92a2a" stroke-width="2"/></svg>dropped</span>
<span><svg width="14" height="14"><circle cx="7" cy="7" r="6" fill="#2b8a3e"/></svg>accept</span>
<span><svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="none" stroke="#c92a2a" stroke-width="2"/></svg>reject</span>
<span><svg width="14" height="14"><path d="M7 1L13 13H1z" fill="#c92a2a"/></svg>fault</span>
<span><svg width="14" height="14"><line x1="7" y1="0" x2="7" y2="14" stroke="#ae3ec9" stroke-width="2" stroke-dasharray="3 2"/></svg>partition / heal</span>
<span><svg width="14" height="14"><rect x="2" y="2" width="10" height="10" fill="#0c8599"/></svg>hypervisor (host, instance, agent)</span>
</span>
</div>
</header>
<div id="tl"><div id="labels"></div><div id="scroll"><svg id="chart" xmlns="http://www.w3.org/2000/svg"></svg></div></div>
<div id="detail">Click a mark or an arrow to see its event.</div>
<script type="application/json" id="trace-data">{{DATA}}</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("trace-data").textContent);
  var ev = D.events, lanes = D.lanes;
  var LH = Math.max(46, Math.min(110, Math.floor((window.innerHeight - 230) / Math.max(1, lanes.length)))), AX = 60, PAD = 24, LANE = "{{LANE}}", ARROW = "{{ARROW}}";
  var laneOf = {}, spans = {};
  lanes.forEach(function (l, i) { laneOf[l.name] = i; });
  ev.forEach(function (e, i) { if (e.span) spans[e.span] = i; });
  var scroll = document.getElementById("scroll"), svg = document.getElementById("chart");
  var byTime = false, dx = 6;
  var t0 = ev.length ? ev[0].at : 0, t1 = ev.length ? ev[ev.length - 1].at : 0;
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function fmt(ns) { return (ns / 1e9).toFixed(6) + "s"; }
  function describe(e) {
    var s = "#" + e.seq + "  " + fmt(e.at) + "  " + (e.node || "-") + "  " + e.kind + "  " + e.name;
    if (e.from || e.to) s += "  " + (e.from || "") + "->" + (e.to || "");
    if (e.background) s += "  (background)";
    if (e.detail) s += "  " + e.detail;
    if (e.end && e.end > e.at) s += "  [until " + fmt(e.end) + "]";
    if (e.err) s += "  !" + e.err;
    return s;
  }
  function y(l) { return AX + l * LH + LH / 2; }
  function fitDx() { return Math.max(0.5, (scroll.clientWidth - 2 * PAD) / Math.max(1, ev.length)); }
  // x of event i: by order (dx px per event) or by virtual time (same total width)
  function xOf(i) {
    if (!byTime) return PAD + i * dx;
    var span = Math.max(1, t1 - t0);
    return PAD + (ev[i].at - t0) / span * dx * Math.max(1, ev.length - 1);
  }
  function mark(i, body) { return '<g data-i="' + i + '">' + body + "<title>" + esc(describe(ev[i])) + "</title></g>"; }
  function render() {
    var W = Math.ceil(2 * PAD + Math.max(1, ev.length) * dx), H = AX + lanes.length * LH + 6;
    var o = [], i, e, x, l;
    o.push('<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="' + ARROW + '"/></marker></defs>');
    lanes.forEach(function (ln, li) {
      o.push('<g class="lane" data-node="' + esc(ln.name) + '"><rect class="band" x="0" y="' + (AX + li * LH + 5) + '" width="' + W + '" height="' + (LH - 10) + '" fill="' + LANE + '"/></g>');
    });
    // time axis: a tick every ~110px
    var every = Math.max(1, Math.ceil(110 / dx)), lastX = -1e9;
    for (i = 0; i < ev.length; i += every) {
      x = xOf(i);
      if (x - lastX < 90) continue;
      lastX = x;
      o.push('<line x1="' + x + '" y1="4" x2="' + x + '" y2="' + H + '" stroke="#e9ecef"/><text x="' + (x + 3) + '" y="14">' + fmt(ev[i].at) + "</text>");
    }
    // world-wide marks: steps, partitions, heals, invariant violations
    var stepEnd = [-1e9, -1e9], cluster = null;
    function flushCluster() {
      if (!cluster) return;
      var c = cluster, label = c.texts.length === 1 ? c.texts[0] : c.first + "-" + c.last, row = 0;
      cluster = null;
      if (c.x < stepEnd[0]) row = c.x < stepEnd[1] ? (stepEnd[0] <= stepEnd[1] ? 0 : 1) : 1;
      if (c.x < stepEnd[row] && c.texts.length === 1) label = c.first;
      stepEnd[row] = c.x + label.length * 6.7 + 8;
      o.push('<g data-i="' + c.i + '"><text x="' + (c.x + 3) + '" y="' + (29 + row * 12) + '" style="fill:#343a40">' + esc(label) + "</text><title>" + esc(c.texts.map(function (t) { return "step " + t; }).join("\n")) + "</title></g>");
    }
    for (i = 0; i < ev.length; i++) {
      e = ev[i]; x = xOf(i);
      if (e.kind === "topology" && (e.name === "partition" || e.name === "heal")) {
        o.push(mark(i, '<line x1="' + x + '" y1="' + (AX - 4) + '" x2="' + x + '" y2="' + H + '" stroke="#ae3ec9" stroke-width="2" stroke-dasharray="5 3"/><text x="' + (x + 4) + '" y="' + (AX - 6) + '" style="fill:#ae3ec9">' + esc(e.name + (e.detail ? " " + e.detail : "")) + "</text>"));
      } else if (e.kind === "note" && e.name === "step" && !e.node) {
        o.push(mark(i, '<line x1="' + x + '" y1="' + 20 + '" x2="' + x + '" y2="' + H + '" stroke="#868e96" stroke-width="1" stroke-dasharray="2 3"/>'));
        // steps closer than 40px share one label ("2-6"), shown when the cluster ends
        var num = e.detail.split(" ")[0];
        if (cluster && x - cluster.x < 40) {
          cluster.last = num; cluster.texts.push(e.detail);
        } else {
          flushCluster();
          cluster = {x: x, first: num, last: num, texts: [e.detail], i: i};
        }
      } else if (e.kind === "invariant") {
        o.push(mark(i, '<line x1="' + x + '" y1="' + (AX - 4) + '" x2="' + x + '" y2="' + H + '" stroke="#c92a2a" stroke-width="4"/><text x="' + (x + 5) + '" y="' + (AX - 6) + '" style="fill:#c92a2a;font-weight:bold">invariant ' + esc(e.name) + " violated on " + esc(e.node) + "</text>"));
      }
    }
    flushCluster();
    // messages: send -> deliver arrows, send -> drop crossed out
    for (i = 0; i < ev.length; i++) {
      e = ev[i];
      if ((e.kind !== "deliver" && e.kind !== "drop") || !(e.parent in spans)) continue;
      var s = spans[e.parent], a = laneOf[ev[s].node], b = laneOf[e.node];
      if (a === undefined || b === undefined) continue;
      var x1 = xOf(s), x2 = xOf(i), y1 = y(a), y2 = y(b);
      if (e.kind === "deliver") {
        o.push(mark(i, '<line class="msg" x1="' + x1 + '" y1="' + y1 + '" x2="' + x2 + '" y2="' + y2 + '" stroke="' + ARROW + '" stroke-width="2" marker-end="url(#ah)"/>'));
      } else {
        o.push(mark(i, '<line class="dropped" x1="' + x1 + '" y1="' + y1 + '" x2="' + x2 + '" y2="' + y2 + '" stroke="#868e96" stroke-width="1.5" stroke-dasharray="4 3"/><path d="M' + (x2 - 5) + " " + (y2 - 5) + "l10 10M" + (x2 + 5) + " " + (y2 - 5) + 'l-10 10" stroke="#c92a2a" stroke-width="2"/>'));
      }
    }
    // marks on the lanes
    for (i = 0; i < ev.length; i++) {
      e = ev[i]; l = laneOf[e.node];
      if (l === undefined) continue;
      x = xOf(i);
      var cy = y(l), body = "";
      switch (e.kind) {
        case "call":
          var fill = e.err ? "#c92a2a" : (e.from === "plugin" ? "#7048e8" : "#1971c2");
          body = '<rect class="call" x="' + (x - 2) + '" y="' + (cy - 9) + '" width="4" height="18" fill="' + (e.background ? "#fff" : fill) + '" stroke="' + fill + '"/>';
          break;
        case "send":
          body = '<circle cx="' + x + '" cy="' + cy + '" r="3" fill="' + ARROW + '"/>';
          break;
        case "decide":
          body = e.name === "accept" ? '<circle class="accept" cx="' + x + '" cy="' + cy + '" r="6" fill="#2b8a3e"/>' : '<circle class="reject" cx="' + x + '" cy="' + cy + '" r="5" fill="#fff" stroke="#c92a2a" stroke-width="2"/>';
          break;
        case "fault":
          body = '<path class="fault" d="M' + x + " " + (cy - 12) + "l8 14h-16z" + '" fill="#c92a2a"/><text x="' + (x + 9) + '" y="' + (cy - 8) + '" style="fill:#c92a2a;font-weight:bold">' + esc(e.name) + "</text>";
          break;
        case "note":
          body = '<circle cx="' + x + '" cy="' + cy + '" r="2.5" fill="#868e96"/>';
          break;
        case "hypervisor":
          // A host acting on a validator (StartInstance, RestartInstance) or
          // a validator's agent answering from its host: a line between lanes.
          var other = laneOf[e.to !== undefined && e.to !== e.node ? e.to : e.from];
          if (other !== undefined && other !== l) {
            body += '<line class="hv" x1="' + x + '" y1="' + cy + '" x2="' + x + '" y2="' + y(other) + '" stroke="#0c8599" stroke-width="1.5" stroke-dasharray="2 2"/>';
          }
          body += '<rect class="hvmark" x="' + (x - 5) + '" y="' + (cy - 5) + '" width="10" height="10" fill="#0c8599"/>';
          if (e.name !== "agent" && e.name !== "command") {
            body += '<text x="' + (x + 7) + '" y="' + (cy - 7) + '" style="fill:#0c8599">' + esc(e.name) + "</text>";
          }
          break;
        default:
          continue;
      }
      o.push(mark(i, body));
    }
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.innerHTML = o.join("");
  }
  function labels() {
    var out = ['<div style="height:' + AX + 'px"></div>'];
    lanes.forEach(function (ln) {
      var sub = ln.host ? "hypervisor host" : ln.plugin + ", " + ln.state + (ln.state === "down" ? "" : ", height " + ln.height);
      out.push('<div class="lane-label" style="height:' + LH + 'px"><b>' + esc(ln.name + (ln.alias ? " (" + ln.alias + ")" : "")) + "</b><small>" + esc(sub) + "</small></div>");
    });
    document.getElementById("labels").innerHTML = out.join("");
  }
  function zoom(f, px) {
    var cx = px === undefined ? scroll.clientWidth / 2 : px;
    var at = (scroll.scrollLeft + cx - PAD) / dx;
    dx = Math.min(400, Math.max(0.2, dx * f));
    render();
    scroll.scrollLeft = PAD + at * dx - cx;
  }
  document.getElementById("zin").onclick = function () { zoom(1.5); };
  document.getElementById("zout").onclick = function () { zoom(1 / 1.5); };
  document.getElementById("zfit").onclick = function () { dx = fitDx(); render(); scroll.scrollLeft = 0; };
  document.getElementById("mode").onclick = function () {
    byTime = !byTime;
    this.textContent = byTime ? "x: virtual time" : "x: event order";
    render();
  };
  scroll.addEventListener("wheel", function (we) {
    if (!we.ctrlKey) return;
    we.preventDefault();
    zoom(we.deltaY < 0 ? 1.25 : 0.8, we.clientX - scroll.getBoundingClientRect().left);
  }, {passive: false});
  svg.addEventListener("click", function (ce) {
    var g = ce.target.closest("[data-i]");
    if (!g) return;
    var e = ev[+g.getAttribute("data-i")], text = describe(e), p = e.parent, depth = 0;
    while (p && p in spans && depth < 20) {
      var pe = ev[spans[p]];
      text += "\n  " + (pe.kind === "send" ? "sent by " : "inside ") + describe(pe);
      p = pe.kind === "send" ? 0 : pe.parent;
      depth++;
    }
    document.getElementById("detail").textContent = text;
  });
  labels();
  dx = Math.max(6, fitDx());
  // the address may ask for a zoom and a layout: timeline.html#zoom=3&x=time
  var hash = {};
  location.hash.replace(/^#/, "").split("&").forEach(function (kv) { var p = kv.split("="); if (p[0]) hash[p[0]] = p[1] || ""; });
  if (+hash.zoom > 0) dx = Math.min(400, Math.max(0.2, dx * +hash.zoom));
  if (hash.x === "time") { byTime = true; document.getElementById("mode").textContent = "x: virtual time"; }
  render();
  // a failed run opens at its end, where the violation is
  for (var k = ev.length - 1; k >= 0; k--) {
    if (ev[k].kind === "invariant") { scroll.scrollLeft = Math.max(0, xOf(k) - scroll.clientWidth * 0.7); break; }
  }
})();
</script>
</body>
</html>
`
