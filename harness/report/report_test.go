package report_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmtestbed/vmtestbed/harness"
	"github.com/vmtestbed/vmtestbed/harness/report"
	"github.com/vmtestbed/vmtestbed/scenarios"
	"github.com/vmtestbed/vmtestbed/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runScenario(t *testing.T, name string, seed int64, plugin string) report.Run {
	t.Helper()
	b, ok := scenarios.Read(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	sc, err := harness.ParseScenarioFile(name+".yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if plugin != "" {
		if sc, err = sc.WithPlugin(plugin); err != nil {
			t.Fatal(err)
		}
	}
	res, err := harness.RunScenario(context.Background(), sc, harness.RunOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return report.Run{Result: res, Source: name, Replay: "vmtestbed run " + name}
}

func TestWriteDirWritesTraceSummaryTimeline(t *testing.T) {
	r := runScenario(t, "three-node-conflict", 3, "")
	dir := filepath.Join(t.TempDir(), "report")
	if err := report.WriteDir(dir, r); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, report.TraceFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := sim.ReadEventsJSON(f)
	if err != nil || len(evs) != len(r.Result.Events) {
		t.Fatalf("trace.json: %d events, %v; want %d", len(evs), err, len(r.Result.Events))
	}
	sum, err := os.ReadFile(filepath.Join(dir, report.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scenario   three-node-conflict", "seed       3", "result     PASSED", "replay     vmtestbed run three-node-conflict", "n3 ", "determinism"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

// The page needs nothing from the network: no external scripts, styles,
// images or fonts.
func TestTimelineIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := report.WriteTimeline(&b, runScenario(t, "three-nodes", 1, "")); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, re := range []string{`(?i)<script[^>]+src=`, `(?i)<link[^>]+href=`, `(?i)<img`, `(?i)@import`, `(?i)url\(\s*['"]?(https?:|//)`, `(?i)https?://(?:[^w]|w[^w]|ww[^w]|www\.[^w])`} {
		if loc := regexp.MustCompile(re).FindStringIndex(page); loc != nil {
			t.Errorf("the page fetches something (%s): %q", re, page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
		}
	}
	if urls := regexp.MustCompile(`(?i)\b(https?|ftp|wss?)://[^"'\s<]*`).FindAllString(page, -1); len(urls) != strings.Count(page, "http://www.w3.org/2000/svg") {
		t.Errorf("the page names URLs other than the SVG namespace: %q", urls)
	}
}

// chromium finds Debian's chromium, installing it with apt-get when it is
// missing and the test runs as root on a system with apt (as make deps does).
var chromiumOnce struct {
	sync.Once
	path, skip string
	err        error
}

func chromium(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		if p, err := exec.LookPath("chromium"); err == nil {
			chromiumOnce.path = p
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
			chromiumOnce.skip = "chromium is not installed and cannot be installed here (needs root and apt-get: apt-get install chromium, or make deps)"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", "apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium")
		if out, err := cmd.CombinedOutput(); err != nil {
			chromiumOnce.err = errors.New("apt-get install chromium: " + err.Error() + "\n" + string(out))
			return
		}
		chromiumOnce.path, chromiumOnce.err = exec.LookPath("chromium")
	})
	if chromiumOnce.skip != "" {
		t.Skip(chromiumOnce.skip)
	}
	if chromiumOnce.err != nil {
		t.Fatal(chromiumOnce.err)
	}
	return chromiumOnce.path
}

// headless runs chromium on page with args, in its own process group that is
// killed when it returns (a browser leaves helper processes otherwise), and
// returns its standard output.
func headless(t *testing.T, page string, args ...string) []byte {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile := t.TempDir()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile,
		"--no-first-run", "--disable-extensions", "--window-size=1400,900"}, args...)
	cmd := exec.Command(bin, append(all, "file://"+page)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
		t.Fatalf("chromium %v still running after 2m; killed\n%s", args, stderr.String())
	}
	// whatever helper is left in the group goes too, and none survives
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func writeReport(t *testing.T, r report.Run) string {
	t.Helper()
	dir := t.TempDir()
	if err := report.WriteDir(dir, r); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, report.TimelineFile)
}

// The timeline as a browser builds it: one lane (and one label) per node,
// arrows for messages.
func TestTimelineDOMInChromium(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		nodes    int
	}{{"three-node-conflict", 3}, {"gossip-storm-10-nodes", 10}} {
		t.Run(tc.scenario, func(t *testing.T) {
			page := writeReport(t, runScenario(t, tc.scenario, 1, ""))
			dom := string(headless(t, page, "--dump-dom"))
			if got := len(regexp.MustCompile(`<g class="lane" data-node="n\d+">`).FindAllString(dom, -1)); got != tc.nodes {
				t.Errorf("%d lanes in the DOM, want %d", got, tc.nodes)
			}
			if got := len(regexp.MustCompile(`<div class="lane-label" style="height:\d+px">`).FindAllString(dom, -1)); got != tc.nodes {
				t.Errorf("%d lane labels in the DOM, want %d", got, tc.nodes)
			}
			if got := strings.Count(dom, `class="msg"`); got < 20 {
				t.Errorf("%d message arrows in the DOM, want many", got)
			}
			if !strings.Contains(dom, `class="accept"`) {
				t.Error("no accept mark in the DOM")
			}
		})
	}
}

// TestTimelineHostLanesInChromium: a full-stack run's timeline has a lane
// per hypervisor host below the node lanes, with the cluster's marks (the
// host failure, the failed instance, the rescheduling) and the lines that
// tie a host to the validator it acts on.
func TestTimelineHostLanesInChromium(t *testing.T) {
	page := writeReport(t, runScenario(t, "validators-on-hypervisor", 1, ""))
	dom := string(headless(t, page, "--dump-dom"))
	if got := len(regexp.MustCompile(`<g class="lane" data-node="n\d+">`).FindAllString(dom, -1)); got != 3 {
		t.Errorf("%d node lanes, want 3", got)
	}
	if got := len(regexp.MustCompile(`<g class="lane" data-node="hv\d+">`).FindAllString(dom, -1)); got != 3 {
		t.Errorf("%d host lanes, want 3", got)
	}
	for _, want := range []string{`class="hvmark"`, `class="hv"`, ">host-failure<", ">instance-failed<", ">StartInstance<", "hypervisor host"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the timeline lacks %s", want)
		}
	}
}

// #zoom=N widens the chart N times; #x=time lays it out by virtual time.
func TestTimelineZoomInChromium(t *testing.T) {
	page := writeReport(t, runScenario(t, "partition-and-heal", 1, ""))
	width := func(dom string) int {
		m := regexp.MustCompile(`<svg id="chart"[^>]* width="(\d+)"`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no chart width in the DOM")
		}
		w := 0
		for _, c := range m[1] {
			w = w*10 + int(c-'0')
		}
		return w
	}
	plain := string(headless(t, page, "--dump-dom"))
	zoomed := string(headless(t, page+"#zoom=3&x=time", "--dump-dom"))
	if w1, w3 := width(plain), width(zoomed); w3 < 2*w1 {
		t.Errorf("chart %dpx wide at zoom 3, %dpx at 1", w3, w1)
	}
	if !strings.Contains(zoomed, ">x: virtual time<") || strings.Contains(plain, ">x: virtual time<") {
		t.Error("#x=time did not switch the layout to virtual time")
	}
}

// A screenshot shows the lanes as bands of the lane colour, one per node,
// and message arrows crossing between them.
func TestTimelineScreenshotInChromium(t *testing.T) {
	page := writeReport(t, runScenario(t, "three-node-conflict", 7, "refvm:accept-on-reject"))
	shot := filepath.Join(t.TempDir(), "shot.png")
	headless(t, page, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 1400 || b.Dy() != 900 {
		t.Fatalf("screenshot is %dx%d, want 1400x900", b.Dx(), b.Dy())
	}
	lane := hexColour(report.LaneColour)
	arrow := hexColour(report.ArrowColour)
	// rows where the lane colour covers a third of the width are inside a band
	var inBand []bool
	for y := b.Min.Y; y < b.Max.Y; y++ {
		n := 0
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), lane, 3) {
				n++
			}
		}
		inBand = append(inBand, n > b.Dx()/3)
	}
	type band struct{ top, bottom int }
	var bands []band
	for y, in := range inBand {
		if in && (y == 0 || !inBand[y-1]) {
			bands = append(bands, band{top: y})
		}
		if in && (y == len(inBand)-1 || !inBand[y+1]) {
			bands[len(bands)-1].bottom = y
		}
	}
	// a band split by a row of marks still counts once: merge bands 3px apart
	var merged []band
	for _, bd := range bands {
		if len(merged) > 0 && bd.top-merged[len(merged)-1].bottom <= 3 {
			merged[len(merged)-1].bottom = bd.bottom
			continue
		}
		if bd.bottom-bd.top >= 20 {
			merged = append(merged, bd)
		}
	}
	if len(merged) != 3 {
		t.Fatalf("%d lane bands in the screenshot (%v), want 3", len(merged), merged)
	}
	// arrow-coloured pixels in the gaps between bands: messages cross lanes
	for i := 0; i+1 < len(merged); i++ {
		n := 0
		for y := merged[i].bottom + 1; y < merged[i+1].top; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if near(img.At(x, y), arrow, 60) {
					n++
				}
			}
		}
		if n < 10 {
			t.Errorf("%d arrow pixels between lane %d and %d, want arrows crossing", n, i+1, i+2)
		}
	}
	// and the page is not blank: the violation's red line is drawn too
	red := 0
	for y := merged[0].top; y < merged[2].bottom; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), hexColour("#c92a2a"), 30) {
				red++
			}
		}
	}
	if red < 100 {
		t.Errorf("%d pixels of the invariant's red in the lanes, want its line (the page opens at the violation)", red)
	}
}

type rgb struct{ r, g, b int }

func hexColour(s string) rgb {
	var c rgb
	for i, p := range []*int{&c.r, &c.g, &c.b} {
		v := 0
		for _, ch := range s[1+2*i : 3+2*i] {
			v *= 16
			switch {
			case ch >= '0' && ch <= '9':
				v += int(ch - '0')
			default:
				v += int(ch-'a') + 10
			}
		}
		*p = v
	}
	return c
}

func near(c interface{ RGBA() (r, g, b, a uint32) }, want rgb, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(x uint32, y int) int {
		v := int(x>>8) - y
		if v < 0 {
			return -v
		}
		return v
	}
	return d(r, want.r) <= tol && d(g, want.g) <= tol && d(b, want.b) <= tol
}

// A run on real guests says, in the summary and on the page, that its
// trace is not replayable byte for byte, and why.
func TestNondeterministicRunSaysSo(t *testing.T) {
	r := runScenario(t, "three-nodes", 1, "")
	var sum, page bytes.Buffer
	report.WriteSummary(&sum, r)
	if !strings.Contains(sum.String(), "the same seed gives the same") || strings.Contains(sum.String(), "NOT deterministic") {
		t.Errorf("a simulated run's summary:\n%s", sum.String())
	}
	r.Result.Nondeterministic = "the instances were real QEMU guests"
	sum.Reset()
	report.WriteSummary(&sum, r)
	if err := report.WriteTimeline(&page, r); err != nil {
		t.Fatal(err)
	}
	const want = "NOT deterministic: the instances were real QEMU guests"
	if !strings.Contains(sum.String(), want) || strings.Contains(sum.String(), "the same seed gives the same") {
		t.Errorf("summary:\n%s", sum.String())
	}
	if !strings.Contains(page.String(), want) {
		t.Errorf("the timeline page does not say %q", want)
	}
}
