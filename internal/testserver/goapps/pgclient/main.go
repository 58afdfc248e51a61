// Command pgclient is a PostgreSQL client speaking the extended query
// protocol through pgx, for the receiver's PostgreSQL tests. It connects
// to -dsn, runs the steps of -run (after a line on stdin with -wait-stdin,
// so that the test can start the receiver in between) and prints one line
// per step: its name, then "ok" or the SQLSTATE it failed with.
//
// Steps (pgx's default mode caches statements: a statement's first run
// sends Parse and Describe of a named statement, every later run only Bind
// and Execute):
//
//	prepare   run "SELECT name FROM items WHERE id = $1" once (Parse seen)
//	cached    run it again (Bind and Execute of the named statement only)
//	insert    INSERT INTO items VALUES ($1, $2), the next id
//	dup       the same INSERT with the id of the last insert (23505)
//	select    SELECT name FROM items WHERE id = $1
//	sleep     SELECT pg_sleep($1) with -sleep
//	nope      SELECT * FROM nope WHERE id = $1 (42P01 at Parse)
//	unnamed   UPDATE items SET name = $1 WHERE id = $2 in one round trip
//	          with an unnamed statement (QueryExecModeExec)
//	batch     INSERT, UPDATE, DELETE pipelined in one batch, one Sync
//	batcherr  INSERT, the same INSERT (23505), SELECT 1 in one batch: the
//	          server skips the SELECT
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func main() {
	dsn := flag.String("dsn", "", "libpq connection string")
	steps := flag.String("run", "", "comma-separated steps")
	sleep := flag.Float64("sleep", 0.3, "seconds the sleep step asks the server to sleep")
	wait := flag.Bool("wait-stdin", false, "after the prepare steps, wait for a line on stdin")
	flag.Parse()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	id := 100
	waited := !*wait
	for _, step := range strings.Split(*steps, ",") {
		if !waited && step != "prepare" {
			fmt.Println("waiting")
			_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
			waited = true
		}
		var err error
		switch step {
		case "prepare", "cached", "select":
			var name string
			err = conn.QueryRow(ctx, "SELECT name FROM items WHERE id = $1", 1).Scan(&name)
		case "insert":
			id++
			_, err = conn.Exec(ctx, "INSERT INTO items VALUES ($1, $2)", id, fmt.Sprintf("secret-%d", id))
		case "dup":
			_, err = conn.Exec(ctx, "INSERT INTO items VALUES ($1, $2)", id, "secret-dup")
		case "sleep":
			_, err = conn.Exec(ctx, "SELECT pg_sleep($1)", *sleep)
		case "nope":
			_, err = conn.Exec(ctx, "SELECT * FROM nope WHERE id = $1", 1)
		case "unnamed":
			_, err = conn.Exec(ctx, "UPDATE items SET name = $1 WHERE id = $2", pgx.QueryExecModeExec, "secret-u", 1)
		case "batch":
			id++
			b := &pgx.Batch{}
			b.Queue("INSERT INTO items VALUES ($1, $2)", id, "secret-b")
			b.Queue("UPDATE items SET name = $1 WHERE id = $2", "secret-c", id)
			b.Queue("DELETE FROM items WHERE id = $1", id)
			err = conn.SendBatch(ctx, b).Close()
		case "batcherr":
			id++
			b := &pgx.Batch{}
			b.Queue("INSERT INTO items VALUES ($1, $2)", id, "secret-e")
			b.Queue("INSERT INTO items VALUES ($1, $2)", id, "secret-f")
			b.Queue("SELECT 1")
			err = conn.SendBatch(ctx, b).Close()
		default:
			fmt.Fprintln(os.Stderr, "unknown step", step)
			os.Exit(2)
		}
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			fmt.Println(step, "ok")
		case errors.As(err, &pgErr):
			fmt.Println(step, pgErr.Code)
		default:
			fmt.Fprintln(os.Stderr, step+":", err)
			os.Exit(1)
		}
	}
}
