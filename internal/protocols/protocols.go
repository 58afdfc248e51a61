// Package protocols lists the application protocols ebpfred understands,
// in the order they are asked to recognise a connection. Adding a protocol
// is its package and one line here (and one include line in
// bpf/protocols/all.h for its kernel half).
package protocols

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ebpfred/ebpfred/internal/http1"
	"github.com/ebpfred/ebpfred/internal/http2"
	"github.com/ebpfred/ebpfred/internal/kafka"
	"github.com/ebpfred/ebpfred/internal/memcached"
	"github.com/ebpfred/ebpfred/internal/mysql"
	"github.com/ebpfred/ebpfred/internal/postgres"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/redis"
)

// All are the protocols, in detection order: HTTP/2's preface would pass
// for an HTTP/1 request line, so HTTP/2 is asked first. The binary
// protocols' detections check every field they see and cannot take HTTP
// text for theirs, so they come after.
var All = []*protocol.Protocol{
	http2.Protocol,
	http1.Protocol,
	redis.Protocol,
	memcached.Protocol,
	postgres.Protocol,
	mysql.Protocol,
	kafka.Protocol,
}

// Conventions are the conventions of every protocol's records, each once.
func Conventions() []record.Conventions {
	var out []record.Conventions
	for _, p := range All {
		for _, c := range p.Conventions {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// Names are the protocols' configuration names, in order.
func Names() []string {
	names := make([]string, len(All))
	for i, p := range All {
		names[i] = p.Name
	}
	return names
}

// Select returns the protocols that enabled does not turn off, in order.
// enabled maps names to on/off; a protocol it does not name is on. An
// unknown name is an error that lists the known ones.
func Select(enabled map[string]bool) ([]*protocol.Protocol, error) {
	var unknown []string
	for name := range enabled {
		if !slices.Contains(Names(), name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("%s: not a protocol; the protocols are %s", strings.Join(quote(unknown), ", "), strings.Join(Names(), ", "))
	}
	var out []*protocol.Protocol
	for _, p := range All {
		if on, set := enabled[p.Name]; !set || on {
			out = append(out, p)
		}
	}
	return out, nil
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
