package redis

import (
	"strings"
	"testing"

	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/record"
)

// BenchmarkPipeline16 is redis-benchmark -P 16's traffic as the parser
// gets it: 16 SETs in one write, their 16 replies in one read. The figure
// is per command.
func BenchmarkPipeline16(b *testing.B) {
	w := copied(out, 1, strings.Repeat(cmd("SET", "key:__rand_int__", "xxx"), 16))
	r := copied(in, 2, strings.Repeat("+OK\r\n", 16))
	var st protocol.Stats
	c := NewConn(testMeta, &st, nil)
	emit := func(r *record.Record) { record.Release(r) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 16 {
		ew, er := w, r
		ew.UnixNano, er.UnixNano = uint64(i), uint64(i+1)
		c.Feed(&ew, emit)
		c.Feed(&er, emit)
	}
	if st.Records == 0 || st.Desync != 0 {
		b.Fatalf("stats %+v", st)
	}
}
