// Command redisclient is a Go application calling Redis through go-redis
// (RESP3), for the receiver's client-side Redis tests. It waits for a line
// on stdin (so that the test can see it instrumented first), then, on one
// connection:
//
//	PING                 (after go-redis's own HELLO 3)
//	(pause 300 ms)       the collector recognises the connection from its
//	                     first command and then has every write copied
//	                     whole up to 4 KiB; before, 1 KiB
//	100 × INCR n         one pipeline: one write, one read of 100 replies
//	SET k v, LPUSH k x   the second fails: WRONGTYPE
//	GET k
//	BLPOP empty 0.1      nothing comes: nil after 100 ms
//	DEBUG SLEEP 0.05     the server sleeps 50 ms
//
// and prints "ok" when every reply was the one expected.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: redisclient HOST:PORT")
		os.Exit(2)
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "redisclient:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

func run(addr string) error {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{
		Addr:     addr,
		Protocol: 3,
		PoolSize: 1,
		// Only the commands listed above: no CLIENT SETINFO, no CLIENT
		// MAINT_NOTIFICATIONS on connect.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 100; i++ {
			p.Incr(ctx, "n")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, c := range cmds {
		if v := c.(*redis.IntCmd).Val(); v != int64(i+1) {
			return fmt.Errorf("INCR %d: %d", i, v)
		}
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		return err
	}
	if err := rdb.LPush(ctx, "k", "x").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return fmt.Errorf("LPUSH on a string: %v, want WRONGTYPE", err)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		return fmt.Errorf("GET: %q, %v", v, err)
	}
	// (BLPop would round the timeout up to whole seconds.)
	if err := rdb.Do(ctx, "BLPOP", "empty", "0.1").Err(); !errors.Is(err, redis.Nil) {
		return fmt.Errorf("BLPOP: %v, want nil", err)
	}
	return rdb.Do(ctx, "DEBUG", "SLEEP", "0.05").Err()
}
