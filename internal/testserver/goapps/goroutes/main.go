// Command goroutes is a Go net/http ServeMux server with Go 1.22 patterns,
// for the test of routes taken from inside the process. Flags and output:
// package appserver.
//
//	GET /items/{id}  → "item <id>"
//	/static/         → "static <path>"
package main

import (
	"io"
	"net/http"

	"github.com/ebpfred/ebpfred/internal/testserver/goapps/internal/appserver"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "item "+r.PathValue("id")+"\n")
	})
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "static "+r.URL.Path+"\n")
	})
	appserver.Run("goroutes", mux)
}
