// Command kafkaclient is a Go application producing to and fetching from
// Kafka through franz-go, for the receiver's Kafka client tests. It waits
// for a line on stdin (so that the test can see it instrumented first),
// then, for each of three protocol generations (franz-go limited to the
// versions of Kafka 2.3: Produce v7 and Fetch v11, not flexible; of Kafka
// 2.8: Produce v9 and Fetch v12, flexible, topics by name; and the newest
// both ends speak: topics by id), with a client of its own:
//
//	3 × produce one record to "orders", flushed alone   3 Produce requests
//	5 records to "orders", flushed together             1 Produce request
//	(2.8 only) a Produce to "missing"                   UNKNOWN_TOPIC_OR_PARTITION
//	Fetch "orders" from offset 0                        the records
//	Fetch "orders" from offset 1000                     OFFSET_OUT_OF_RANGE
//
// and prints "ok" when every answer was the one expected. The records'
// keys and values hold "secret", which must appear in no telemetry.
// Besides those, franz-go sends its own ApiVersions, Metadata and
// InitProducerID requests.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kafkaclient HOST:PORT")
		os.Exit(2)
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, g := range []struct {
		name    string
		v       *kversion.Versions
		missing bool
	}{
		{"2.3", kversion.V2_3_0(), false},
		{"2.8", kversion.V2_8_0(), true},
		{"newest", nil, false},
	} {
		if err := run(ctx, os.Args[1], g.v, g.missing); err != nil {
			fmt.Fprintf(os.Stderr, "kafkaclient (%s): %v\n", g.name, err)
			os.Exit(1)
		}
	}
	fmt.Println("ok")
}

func run(ctx context.Context, addr string, v *kversion.Versions, missing bool) error {
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("orders"), kgo.ManualFlushing(), kgo.ClientID("kafkaclient")}
	if v != nil {
		opts = append(opts, kgo.MaxVersions(v))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	produce := func(n int) error {
		errs := make(chan error, n)
		for i := range n {
			r := &kgo.Record{Key: []byte(fmt.Sprintf("secret-key-%d", i)), Value: []byte("secret-value")}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) { errs <- err })
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		for range n {
			if err := <-errs; err != nil {
				return err
			}
		}
		return nil
	}
	for range 3 {
		if err := produce(1); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	if err := produce(5); err != nil {
		return fmt.Errorf("produce a batch: %w", err)
	}

	// The topic's id, for the Fetch versions that name topics by id.
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("orders")
	meta.Topics = append(meta.Topics, mt)
	mr, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mr.Topics) != 1 {
		return fmt.Errorf("metadata: %v", err)
	}
	id, broker := mr.Topics[0].TopicID, cl.Broker(int(mr.Topics[0].Partitions[0].Leader))

	if missing {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		t := kmsg.NewProduceRequestTopic()
		t.Topic = "missing"
		p := kmsg.NewProduceRequestTopicPartition()
		p.Records = []byte("secret")
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		resp, err := broker.Request(ctx, req)
		if err != nil {
			return fmt.Errorf("produce to missing: %w", err)
		}
		code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
		if !errors.Is(kerr.ErrorForCode(code), kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("produce to missing: error %d", code)
		}
	}

	for _, c := range []struct {
		offset int64
		want   error
	}{{0, nil}, {1000, kerr.OffsetOutOfRange}} {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 1<<20
		req.SessionEpoch = -1
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = "orders", id
		p := kmsg.NewFetchRequestTopicPartition()
		p.FetchOffset, p.PartitionMaxBytes = c.offset, 1<<20
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		resp, err := broker.Request(ctx, req)
		if err != nil {
			return fmt.Errorf("fetch from %d: %w", c.offset, err)
		}
		fr := resp.(*kmsg.FetchResponse)
		if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			return fmt.Errorf("fetch from %d: %d topics", c.offset, len(fr.Topics))
		}
		fp := fr.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(fp.ErrorCode); !errors.Is(err, c.want) {
			return fmt.Errorf("fetch from %d: %v, want %v", c.offset, err, c.want)
		}
		if c.want == nil && len(fp.RecordBatches) == 0 {
			return fmt.Errorf("fetch from 0: no records")
		}
	}
	return nil
}
