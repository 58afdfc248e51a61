package distribution

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const (
	dashboardFile = "dashboards/ebpfred-red.json"
	// capturedFile lists the metric names and labels a real run of the
	// collector produced (scripts/capture-metrics.sh).
	capturedFile = "dashboards/testdata/metrics.txt"
)

// captured reads capturedFile: metric name → label names.
func captured(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(capturedFile)
	if err != nil {
		t.Fatalf("%v: run `sudo scripts/capture-metrics.sh` to produce it", err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, _ := strings.Cut(line, " ")
		out[name] = strings.Split(labels, ",")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no metric", capturedFile)
	}
	return out
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"` // a string or {"query": …}
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Datasource   *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVars replaces Grafana's variables with values PromQL accepts.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "1m",
	"$__range", "1h",
	"${job}", "x",
	"$job", "x",
)

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// TestDashboard checks every query of the dashboard: it parses as PromQL,
// and every metric and label it names is one the collector really exports
// through its prometheus exporter: predicted by the Prometheus translator
// from what the receiver emits (promnames_test.go) and seen in the captured
// run.
func TestDashboard(t *testing.T) {
	metrics := allowedSeries(t)
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}

	// A data source variable, so that the dashboard imports anywhere.
	hasDS := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"`
	})
	if !hasDS {
		t.Error("no Prometheus data source variable named datasource")
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: %v", v.Name, err)
			continue
		}
		m := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q: want label_values(metric, label)", v.Name, q.Query)
			continue
		}
		if labels, ok := metrics[m[1]]; !ok || !slices.Contains(labels, m[2]) {
			t.Errorf("variable %s: %s{%s} is not both predicted by the translator and in %s", v.Name, m[1], m[2], capturedFile)
		}
	}

	used := map[string]map[string]bool{} // metric → labels the dashboard uses
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want uid ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				checkQuery(t, p.Title, tg.Expr, tg.LegendFormat, metrics, used)
			}
		}
	}
	walk(d.Panels)

	// What the dashboard is for: RED of servers and clients, routes, gRPC
	// methods.
	for metric, labels := range map[string][]string{
		"http_server_request_duration_seconds_bucket": {"job", "le", "http_route"},
		"http_server_request_duration_seconds_count":  {"job", "error_type"},
		"http_client_request_duration_seconds_bucket": {"job", "le"},
		"http_client_request_duration_seconds_count":  {"job", "error_type"},
		"rpc_server_call_duration_seconds_bucket":     {"job", "le", "rpc_method"},
		"rpc_server_call_duration_seconds_count":      {"job", "error_type"},
	} {
		for _, l := range labels {
			if !used[metric][l] {
				t.Errorf("no panel uses %s with label %s", metric, l)
			}
		}
	}
}

// checkQuery parses one PromQL expression and checks its metrics and
// labels against the capture, recording them in used.
func checkQuery(t *testing.T, title, expr, legend string, metrics map[string][]string, used map[string]map[string]bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		t.Errorf("panel %q: %q: %v", title, expr, err)
		return
	}
	var all [][]string // label sets of every selector in the expression
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := n.Name
			labels, ok := metrics[name]
			if !ok {
				t.Errorf("panel %q: metric %s is not both predicted by the translator and in %s", title, name, capturedFile)
				return nil
			}
			all = append(all, labels)
			if used[name] == nil {
				used[name] = map[string]bool{}
			}
			for _, m := range n.LabelMatchers {
				if m.Name == "__name__" {
					continue
				}
				used[name][m.Name] = true
				if !slices.Contains(labels, m.Name) {
					t.Errorf("panel %q: %s has no label %s (it has %v)", title, name, m.Name, labels)
				}
			}
			// Labels grouped by in any enclosing aggregation.
			for _, p := range path {
				if a, ok := p.(*parser.AggregateExpr); ok {
					for _, g := range a.Grouping {
						used[name][g] = true
						if !slices.Contains(labels, g) {
							t.Errorf("panel %q: groups %s by %s, which it does not have", title, name, g)
						}
					}
				}
			}
		}
		return nil
	})
	if len(all) == 0 {
		t.Errorf("panel %q: %q selects no metric", title, expr)
	}
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		for _, labels := range all {
			if !slices.Contains(labels, m[1]) {
				t.Errorf("panel %q: legend %q names %s, which a metric of the query does not have", title, legend, m[1])
			}
		}
	}
}
