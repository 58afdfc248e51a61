// Command kafkabroker is a Kafka broker for the receiver's Kafka client
// tests: franz-go's kfake, which speaks the real wire protocol, in a
// process of its own so that the collector selects the client (by its
// executable) and not the broker. It listens on a free port of 127.0.0.1
// with one broker, the topic "orders" (one partition) and topics created
// only on request (a Produce to another topic fails), prints its address
// and serves until its standard input closes.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, "orders"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkabroker:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])
	io.Copy(io.Discard, os.Stdin)
}
