// Command beyla2collector turns a Beyla configuration into a collector
// configuration for otelcol-ebpfred:
//
//	go run ./cmd/beyla2collector beyla.yaml > collector.yaml
//
// The input is a Beyla configuration file, or the values file of Beyla's
// Helm chart (its config.data is the configuration and its env the
// variables). Beyla's environment variables (BEYLA_*, OTEL_EBPF_*, Beyla
// 0.x's OPEN_PORT and the like, and the standard OTEL_EXPORTER_OTLP_*,
// OTEL_SERVICE_NAME and OTEL_TRACES_SAMPLER*) are read from the
// environment and override the file, as they do in Beyla.
//
// The collector configuration goes to standard output. Every Beyla key or
// variable that could not be converted is listed on standard error with
// the reason, as are the conversions worth knowing about; nothing is
// dropped silently. Check the result with
// `otelcol-ebpfred validate --config collector.yaml`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	noEnv := flag.Bool("no-env", false, "ignore the environment: convert the file alone")
	out := flag.String("o", "", "write the collector configuration to this file instead of standard output")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: beyla2collector [-no-env] [-o collector.yaml] [beyla.yaml | -]\n\n"+
			"Converts a Beyla configuration file (or Beyla Helm chart values) and Beyla's\n"+
			"environment variables into an otelcol-ebpfred collector configuration.\n"+
			"With no file or -, reads standard input.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *noEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "beyla2collector:", err)
		os.Exit(1)
	}
}

func run(in, out string, noEnv bool, stdout, stderr io.Writer) error {
	var input []byte
	var err error
	if in == "" || in == "-" {
		input, err = io.ReadAll(os.Stdin)
	} else {
		input, err = os.ReadFile(in)
	}
	if err != nil {
		return err
	}
	var env []string
	if !noEnv {
		env = os.Environ()
	}
	var config bytes.Buffer
	if err := convertTo(input, env, &config, stderr); err != nil {
		if in != "" && in != "-" {
			return fmt.Errorf("%s: %w", in, err)
		}
		return err
	}
	if out != "" {
		return os.WriteFile(out, config.Bytes(), 0o644)
	}
	_, err = stdout.Write(config.Bytes())
	return err
}

// convertTo converts input with env, writes the configuration to config
// and the report to report.
func convertTo(input []byte, env []string, config, report io.Writer) error {
	res, err := convert(input, env)
	if err != nil {
		return err
	}
	if _, err := config.Write(res.config); err != nil {
		return err
	}
	dropped := 0
	for _, n := range res.notes {
		fmt.Fprintln(report, "beyla2collector:", n)
		if n.dropped {
			dropped++
		}
	}
	if dropped > 0 {
		fmt.Fprintf(report, "beyla2collector: %d key(s) or variable(s) not converted (listed above)\n", dropped)
	}
	return nil
}
