// Package dbconv holds the OpenTelemetry semantic conventions of database
// client calls (stable): how a record of a database or cache protocol
// (PostgreSQL, MySQL, Redis, Memcached, ...) becomes a CLIENT span and a
// point of db.client.operation.duration. Each such protocol's package
// makes its conventions with New and its db.system.name.
//
// Nothing of a request's content leaves by default: the operation name, the
// collection (table, key prefix) when its parser can tell it cheaply and
// safely, and a status code. db.query.text (with literals replaced by "?")
// only when the parser was told to report it and set Record.QueryText.
package dbconv

import (
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/semconv"
	"github.com/ebpfred/ebpfred/internal/sqltext"
	"github.com/ebpfred/ebpfred/internal/stream"
)

// ClientFamily: the operations a process asked of databases.
var ClientFamily = &record.Family{Name: "db.client", Metrics: []record.Metric{
	{Name: "db.client.operation.duration", Unit: "s", Description: "Duration of database client operations."},
}}

// New returns the conventions of a database protocol whose db.system.name
// is system ("postgresql", "mysql", "redis", "memcached", ...).
func New(system string) record.Conventions { return conventions{system: system} }

type conventions struct{ system string }

// SpanName: db.query.summary when there is one, else "{operation}
// {collection}", else the operation, else the system.
func (c conventions) SpanName(r *record.Record) string {
	switch {
	case r.Summary != "":
		return r.Summary
	case r.Operation != "" && r.Target != "":
		return r.Operation + " " + r.Target
	case r.Operation != "":
		return r.Operation
	}
	return c.system
}

func (c conventions) SpanAttributes(r *record.Record, a *record.Attrs) {
	a.Str(semconv.AttrDBSystemName, c.system)
	a.Str(semconv.AttrDBOperationName, r.Operation)
	a.Str(semconv.AttrDBCollectionName, r.Target)
	a.Str(semconv.AttrDBNamespace, r.Namespace)
	a.Str(semconv.AttrDBQuerySummary, r.Summary)
	a.Str(semconv.AttrDBQueryText, r.QueryText)
	a.Str(semconv.AttrDBResponseStatusCode, r.Status)
	semconv.AddServer(r, a)
	semconv.AddPeer(r, a)
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
}

// ErrorType: the database's status code when the operation failed (an
// SQLSTATE, an error prefix), else what failed without one
// ("connection_closed").
func (conventions) ErrorType(r *record.Record) string {
	if r.Status != "" {
		return r.Status
	}
	return r.ErrorType
}

// Family: client operations only (a database server's own requests have
// no metric in the conventions).
func (conventions) Family(r *record.Record) *record.Family {
	if r.Kind == record.KindClient {
		return ClientFamily
	}
	return nil
}

func (c conventions) MetricAttributes(r *record.Record, _ record.MetricOptions, a *record.Attrs) {
	a.Str(semconv.AttrDBSystemName, c.system)
	a.Str(semconv.AttrDBOperationName, r.Operation)
	a.Str(semconv.AttrDBCollectionName, r.Target)
	a.Str(semconv.AttrDBNamespace, r.Namespace)
	a.Str(semconv.AttrDBResponseStatusCode, r.Status)
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
	semconv.AddServer(r, a)
}

func (conventions) Routed(*record.Record) bool { return false }

// SQLRecord is the CLIENT record of one SQL operation (PostgreSQL, MySQL)
// of the connection meta, from start to end, in database namespace. st
// is its statement when known; an unknown one leaves operation, target,
// summary and text empty, never guessed. status is its error code ("" for
// success).
func SQLRecord(conv record.Conventions, meta stream.Meta, start, end uint64, namespace string,
	known bool, st sqltext.Statement, status string) *record.Record {
	r := record.New()
	r.Kind = record.KindClient
	r.Conv = conv
	r.PID = meta.PID
	r.Local, r.Peer = meta.Local, meta.Peer
	r.StartUnixNano = start
	r.EndUnixNano = max(end, start)
	r.Namespace = namespace
	if known {
		r.Operation = st.Operation
		r.Target = st.Target
		r.Summary = st.Summary
		r.QueryText = st.Text
	}
	r.Status = status
	return r
}
