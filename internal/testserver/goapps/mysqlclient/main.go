// Command mysqlclient is a MySQL/MariaDB client using server-side prepared
// statements through go-sql-driver/mysql, for the receiver's MySQL tests.
// It connects to -dsn on one connection, runs the steps of -run (after a
// line on stdin with -wait-stdin, so that the test can start the receiver
// in between) and prints one line per step: its name, then "ok" or the
// error number it failed with.
//
// Steps (the driver sends a call with arguments as COM_STMT_PREPARE,
// COM_STMT_EXECUTE and COM_STMT_CLOSE; one without as COM_QUERY):
//
//	prepare   prepare "SELECT name FROM items WHERE id = ?" and keep it
//	select    execute the kept statement
//	insert    INSERT INTO items VALUES (?, ?), the next id
//	dup       the same INSERT with the id of the last insert (1062)
//	sleep     SELECT SLEEP(?) with -sleep
//	nope      SELECT * FROM nope WHERE id = ? (1146 at the prepare)
//	text      UPDATE items SET name = 'secret-t' WHERE id = 1, as COM_QUERY
//	syntax    SELEC 1, as COM_QUERY (1064)
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

func main() {
	dsn := flag.String("dsn", "", "go-sql-driver/mysql data source name")
	steps := flag.String("run", "", "comma-separated steps")
	sleep := flag.Float64("sleep", 0.05, "seconds the sleep step asks the server to sleep")
	wait := flag.Bool("wait-stdin", false, "after the prepare steps, wait for a line on stdin")
	flag.Parse()
	ctx := context.Background()
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection: its statements stay known
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	defer conn.Close()
	var kept *sql.Stmt
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
		case "prepare":
			kept, err = conn.PrepareContext(ctx, "SELECT name FROM items WHERE id = ?")
		case "select":
			var name string
			err = kept.QueryRowContext(ctx, 1).Scan(&name)
		case "insert":
			id++
			_, err = conn.ExecContext(ctx, "INSERT INTO items VALUES (?, ?)", id, fmt.Sprintf("secret-%d", id))
		case "dup":
			_, err = conn.ExecContext(ctx, "INSERT INTO items VALUES (?, ?)", id, "secret-dup")
		case "sleep":
			var v int
			err = conn.QueryRowContext(ctx, "SELECT SLEEP(?)", *sleep).Scan(&v)
		case "nope":
			_, err = conn.ExecContext(ctx, "SELECT * FROM nope WHERE id = ?", 1)
		case "text":
			_, err = conn.ExecContext(ctx, "UPDATE items SET name = 'secret-t' WHERE id = 1")
		case "syntax":
			_, err = conn.ExecContext(ctx, "SELEC 1")
		default:
			fmt.Fprintln(os.Stderr, "unknown step", step)
			os.Exit(2)
		}
		var myErr *mysql.MySQLError
		switch {
		case err == nil:
			fmt.Println(step, "ok")
		case errors.As(err, &myErr):
			fmt.Println(step, myErr.Number)
		default:
			fmt.Fprintln(os.Stderr, step+":", err)
			os.Exit(1)
		}
	}
}
