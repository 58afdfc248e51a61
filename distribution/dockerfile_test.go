package distribution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur += cont + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// makeVar returns the value of `NAME := value` in the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*:?=\s*(\S+)\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("Makefile: no %s := …", name)
	}
	return string(m[1])
}

// TestDockerfile checks that the image is the one `make build` produces,
// started the way the manifests start it.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	name, _ := distName(t)
	dist := makeVar(t, "DIST")
	distConfig := makeVar(t, "DIST_CONFIG")
	if dist != "bin/"+name {
		t.Fatalf("Makefile DIST = %s, builder-config.yaml builds bin/%s", dist, name)
	}

	copies := map[string]string{} // source → destination
	var entrypoint, cmd []string
	froms := 0
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms++
		case "RUN", "ADD":
			t.Errorf("%s %s: the image builds and fetches nothing; it copies the output of `make build`", in.cmd, in.args)
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 2 || strings.HasPrefix(f[0], "--") {
				t.Errorf("COPY %s: want COPY SRC DST", in.args)
				continue
			}
			copies[f[0]] = f[1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT %s: not the exec (JSON) form: %v", in.args, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(in.args), &cmd); err != nil {
				t.Errorf("CMD %s: not the exec (JSON) form: %v", in.args, err)
			}
		case "USER":
			if u, _, _ := strings.Cut(in.args, ":"); u != "root" && u != "0" {
				t.Errorf("USER %s: the collector must run as root (uid 0) for its capabilities to apply", in.args)
			}
		}
	}
	if froms != 1 {
		t.Errorf("%d FROM lines, want one stage", froms)
	}
	bin, ok := copies[dist]
	if !ok {
		t.Fatalf("no COPY of %s (the Makefile's DIST); copies: %v", dist, copies)
	}
	if bin != "/"+name {
		t.Errorf("the binary is copied to %s; the manifests and the Helm values (command.name) run /%s", bin, name)
	}
	cfg, ok := copies[distConfig]
	if !ok {
		t.Fatalf("no COPY of %s (the Makefile's DIST_CONFIG); copies: %v", distConfig, copies)
	}
	if len(entrypoint) != 1 || entrypoint[0] != bin {
		t.Errorf("ENTRYPOINT %q, want [%q]", entrypoint, bin)
	}
	if len(cmd) != 1 || cmd[0] != "--config="+cfg {
		t.Errorf("CMD %q, want [\"--config=%s\"]", cmd, cfg)
	}
	if _, err := os.Stat(filepath.Join("..", distConfig)); err != nil {
		t.Errorf("COPY source: %v", err)
	}
}
