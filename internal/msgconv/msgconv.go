// Package msgconv holds the OpenTelemetry semantic conventions of messaging
// client operations (development status, v1.27 and later): how a record of
// a messaging protocol (Kafka, ...) becomes a CLIENT span and a point of
// messaging.client.operation.duration. Each such protocol's package makes
// its conventions with New, its messaging.system and the
// messaging.operation.type of each of its operation names.
//
// Nothing of a message's content leaves: the operation, the destination
// (a topic) when its parser could read it and it is the only one of the
// operation, and the error.
//
// Spans are CLIENT: what is seen is the client's request to the broker
// (a batch sent, a fetch), not the creation of each message, which the
// conventions give PRODUCER spans, nor its processing (CONSUMER).
package msgconv

import (
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/semconv"
)

// ClientFamily: the operations a process asked of message brokers.
var ClientFamily = &record.Family{Name: "messaging.client", Metrics: []record.Metric{
	{Name: "messaging.client.operation.duration", Unit: "s", Description: "Duration of messaging operation initiated by a producer or consumer client."},
}}

// Operation types (messaging.operation.type).
const (
	TypeSend    = "send"
	TypeReceive = "receive"
)

// New returns the conventions of a messaging protocol whose messaging.system
// is system ("kafka", ...); opType gives the messaging.operation.type of an
// operation name ("" when none applies).
// The conventions are a pointer: conventions are compared (a record's
// against a protocol's), and a func field makes a struct uncomparable.
func New(system string, opType func(op string) string) record.Conventions {
	return &conventions{system: system, opType: opType}
}

type conventions struct {
	system string
	opType func(string) string
}

// SpanName: "{operation} {destination}", else the operation, else the
// system.
func (c *conventions) SpanName(r *record.Record) string {
	switch {
	case r.Operation != "" && r.Target != "":
		return r.Operation + " " + r.Target
	case r.Operation != "":
		return r.Operation
	}
	return c.system
}

func (c *conventions) SpanAttributes(r *record.Record, a *record.Attrs) {
	c.common(r, a)
	semconv.AddServer(r, a)
	semconv.AddPeer(r, a)
}

// common: the attributes spans and metric points share.
func (c *conventions) common(r *record.Record, a *record.Attrs) {
	a.Str(semconv.AttrMessagingSystem, c.system)
	a.Str(semconv.AttrMessagingOperationName, r.Operation)
	if c.opType != nil {
		a.Str(semconv.AttrMessagingOperationType, c.opType(r.Operation))
	}
	a.Str(semconv.AttrMessagingDestinationName, r.Target)
	a.Str(semconv.AttrErrorType, c.ErrorType(r))
}

// ErrorType: the broker's error (its name, e.g. "UNKNOWN_TOPIC_OR_PARTITION")
// when the operation failed, else what failed without one
// ("connection_closed").
func (*conventions) ErrorType(r *record.Record) string {
	if r.Status != "" {
		return r.Status
	}
	return r.ErrorType
}

// Family: client operations only.
func (*conventions) Family(r *record.Record) *record.Family {
	if r.Kind == record.KindClient {
		return ClientFamily
	}
	return nil
}

func (c *conventions) MetricAttributes(r *record.Record, _ record.MetricOptions, a *record.Attrs) {
	c.common(r, a)
	semconv.AddServer(r, a)
}

func (*conventions) Routed(*record.Record) bool { return false }
